#!/usr/bin/env bash
# `make run`: a whole Pola with both sites on this machine, brought up by the same Ansible
# playbook the SREs use (ansible/playbooks/site.yml, `local` inventory):
#   DC: MariaDB 127.0.0.1:3307 (primary), `pola serve` :8088     state in var/sites/dc
#   DR: MariaDB 127.0.0.1:3308 (semi-sync GTID replica), `pola serve` :8089   var/sites/dr
#   the edge in front: customers http://127.0.0.1:8080, staff :8081, operators :9180
#   RabbitMQ per site (DC :5673, DR :5676), a notification worker per site, mail sink :2525 (var/mail), SMS sink :2580
#   OpenSearch (APM) http://127.0.0.1:9201
# a release build, the demo shop and a demo staff admin. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."

# The single-site instance earlier versions ran on 3307 makes way for the DC site.
bash scripts/mariadb.sh stop mariadb >/dev/null
bash scripts/sinks.sh start
bash scripts/opensearch.sh start opensearch 9201 # APM: traces, logs and metrics
cargo build --release --locked -p pola -p pola-edge
bash scripts/fonts.sh >/dev/null # the storefront's Sinhala and Tamil fonts, as WOFF2
ansible_playbook=$(bash scripts/ansible.sh)
trap 'bash scripts/sites.sh stop' EXIT
"$ansible_playbook" -i ansible/inventories/local ansible/playbooks/site.yml

primary=$(cat var/sites/primary-site 2>/dev/null || echo dc)
if [ ! -s var/demo-admin.txt ]; then
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  POLA_STAFF_PASSWORD="$password" target/release/pola --config "var/sites/$primary/pola.toml" \
    staff create --email admin@pola.lk --name "Demo Admin" --role admin >/dev/null
  umask 077
  printf 'email: admin@pola.lk\npassword: %s\n' "$password" >var/demo-admin.txt
fi
cat <<INFO
demo staff admin (also in var/demo-admin.txt):
$(sed 's/^/  /' var/demo-admin.txt)
API: http://127.0.0.1:8080/api/v1/catalog/products   docs: http://127.0.0.1:8080/api/v1/docs/
staff back-office: http://127.0.0.1:8081/backoffice/ (the first sign-in sets up an authenticator app)
primary site: $primary   both sites: target/release/pola status --site dc=mysql://pola:pola-local-only@127.0.0.1:3307 --site dr=mysql://pola:pola-local-only@127.0.0.1:3308 --edge 127.0.0.1:9180
switch sites: $ansible_playbook -i ansible/inventories/local ansible/playbooks/switchover.yml   (runbooks/)
logs: var/sites/*/*.log — following both pola serve at each site and the edge; Ctrl-C stops everything
INFO
tail -n 0 -F var/sites/dc/pola-serve.log var/sites/dc/pola-serve-2.log var/sites/dr/pola-serve.log \
  var/sites/dr/pola-serve-2.log var/sites/edge/pola-edge.log
