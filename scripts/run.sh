#!/usr/bin/env bash
# `make run`: a whole Pola on this machine. Private MariaDB on 127.0.0.1:3307 (data in
# var/mariadb), a release build, the demo shop, a demo staff admin, and the API on
# http://127.0.0.1:8080 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/mariadb.sh start mariadb 3307
cargo build --release --locked -p pola
pola=target/release/pola

export POLA_DATABASE__URL=${POLA_DATABASE__URL:-mysql://root@127.0.0.1:3307}
export POLA_HTTP__ADDR=${POLA_HTTP__ADDR:-127.0.0.1:8080}
export POLA_AUTH__SIGNING_KEY_FILE=${POLA_AUTH__SIGNING_KEY_FILE:-var/jwt-signing-key.pem}
export POLA_LOG__FORMAT=${POLA_LOG__FORMAT:-pretty}

"$pola" migrate
"$pola" seed --demo

if [ ! -s var/demo-admin.txt ]; then
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  POLA_STAFF_PASSWORD="$password" "$pola" staff create --email admin@pola.lk --name "Demo Admin" --role admin >/dev/null
  umask 077
  printf 'email: admin@pola.lk\npassword: %s\n' "$password" >var/demo-admin.txt
fi
echo "demo staff admin (also in var/demo-admin.txt):"
sed 's/^/  /' var/demo-admin.txt
echo "API: http://${POLA_HTTP__ADDR}/api/v1/catalog/products   docs: http://${POLA_HTTP__ADDR}/api/v1/docs/"
exec "$pola" serve
