#!/usr/bin/env bash
# `make run`: a whole Pola on this machine. Private MariaDB on 127.0.0.1:3307 (data in
# var/mariadb), a private RabbitMQ on 127.0.0.1:5673 (var/rabbitmq) that the services' outboxes
# are relayed to, a mail sink on :2525 (var/mail) and an SMS sink on :2580 (var/sms) for the
# notification worker, a release build, the demo shop, a demo staff admin, `pola serve` on
# 127.0.0.1:8088 and in front of it the edge (edge/edge.toml): customers on
# http://127.0.0.1:8080, staff on :8081, operators on :9180, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/mariadb.sh start mariadb 3307
bash scripts/rabbitmq.sh start rabbitmq 5673
bash scripts/sinks.sh start
cargo build --release --locked -p pola -p pola-edge
pola=target/release/pola

export POLA_DATABASE__URL=${POLA_DATABASE__URL:-mysql://root@127.0.0.1:3307}
export POLA_HTTP__ADDR=${POLA_HTTP__ADDR:-127.0.0.1:8088}
export POLA_AUTH__SIGNING_KEY_FILE=${POLA_AUTH__SIGNING_KEY_FILE:-var/jwt-signing-key.pem}
export POLA_LOG__FORMAT=${POLA_LOG__FORMAT:-pretty}
export POLA_EVENTS__AMQP_URL=${POLA_EVENTS__AMQP_URL:-amqp://guest:guest@127.0.0.1:5673/%2f}
export POLA_NOTIFICATIONS__SMS__URL=${POLA_NOTIFICATIONS__SMS__URL:-http://127.0.0.1:2580/send}
export POLA_NOTIFICATIONS__STAFF_EMAILS=${POLA_NOTIFICATIONS__STAFF_EMAILS:-[stock@pola.lk]}

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
"$pola" serve &
server=$!
"$pola" worker notifications &
worker=$!
trap 'kill -INT $server $worker 2>/dev/null; wait $server $worker 2>/dev/null' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://${POLA_HTTP__ADDR}/readyz" >/dev/null && break
  kill -0 $server 2>/dev/null || { echo "pola serve stopped; see its log above" >&2; exit 1; }
  sleep 0.1
done
echo "API: http://127.0.0.1:8080/api/v1/catalog/products   docs: http://127.0.0.1:8080/api/v1/docs/"
echo "staff: http://127.0.0.1:8081   edge status: target/release/pola-edge status --config edge/edge.toml"
target/release/pola-edge serve --config edge/edge.toml
