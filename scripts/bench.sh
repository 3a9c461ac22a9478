#!/usr/bin/env bash
# `make bench`: catalogue reads and checkouts against a release build, with wrk.
#
# A private MariaDB on 127.0.0.1:3327 (durable: binary log, fsync per commit) holds fresh
# `bench_*` databases each run; `pola serve` listens on 127.0.0.1:8090. wrk runs on the same
# two cores as the server and the database, so read the figures as this machine's, and compare
# ratios taken in one run rather than numbers from different days.
set -euo pipefail
cd "$(dirname "$0")/.."

# BENCH_ONLY=build, shop, promotions, payments, edge, storefront, events, pii, flood, apm or
# reports (comma-separated) runs only those parts. `build` times a cold release build of what
# ships, the `pola` and `pola-edge` binaries (every crate of the workspace but the end-to-end
# harness, whose `testing` feature of pola-core would build every service crate a second
# time): it removes target/release first, and the other parts then use that build.
# BENCH_REPORT_ORDERS (default 1000000) sizes the history the reports part reads on a replica.
# BENCH_BASELINE=<git revision> also measures checkouts with that revision's `pola`, side by
# side in this run (on the same databases, served with --no-migrate), and prints the ratios.
DURATION=${BENCH_DURATION:-10s}
want() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
RUNS=${BENCH_RUNS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
out=var/bench
mkdir -p "$out"
db=(mariadb -h127.0.0.1 -P3327 -uroot -N)

if want build; then
  rm -rf target/release
  start=$(date +%s.%N)
  cargo build --release --locked -p pola -p pola-edge --timings # a chart in target/cargo-timings
  awk -v s="$start" -v e="$(date +%s.%N)" -v c="$(nproc)" \
    'BEGIN { t = e - s; printf "cold release build of pola and pola-edge: %d min %02d s on %d cores (aim <= 8 min): %s\n", t / 60, t % 60, c, (t <= 480 ? "met" : "NOT met") }' \
    >"$out/build.txt"
fi
bash scripts/mariadb.sh start bench-mariadb 3327
baseline=
if [ -n "${BENCH_BASELINE:-}" ]; then
  # Built in this checkout's target folder (its dependencies are already compiled there), then
  # set aside before this revision's build.
  src=$out/baseline-src
  [ -d "$src" ] || git worktree add --detach "$src" "$BENCH_BASELINE" >&2
  git -C "$src" checkout -q --detach "$BENCH_BASELINE"
  cargo build --release --locked -p pola --manifest-path "$src/Cargo.toml" --target-dir target
  cp target/release/pola "$out/pola-baseline"
  baseline=$out/pola-baseline
fi
cargo build --release --locked -p pola -p pola-edge
pola=target/release/pola

export POLA_DATABASE__URL=mysql://root@127.0.0.1:3327
export POLA_DATABASE__PREFIX=bench
export POLA_DATABASE__MAX_CONNECTIONS=${BENCH_POOL:-32}
export POLA_HTTP__ADDR=127.0.0.1:8090
export POLA_AUTH__SIGNING_KEY_FILE=$out/jwt-signing-key.pem
export POLA_PII__KEYRING_DIR=$out/pii
export POLA_AUTH__ACCESS_TOKEN_TTL_SECS=3600
export POLA_LOG__FILTER=warn
API=http://$POLA_HTTP__ADDR
# A PayHere sandbox merchant: the payments part signs notifications as PayHere would.
export POLA_PAYMENTS__PAYHERE__MERCHANT_ID=1221149
export POLA_PAYMENTS__PAYHERE__MERCHANT_SECRET=bench-sandbox-secret
export POLA_PAYMENTS__PAYHERE__CHECKOUT_URL=https://sandbox.payhere.lk/pay/checkout
export POLA_PAYMENTS__PAYHERE__NOTIFY_URL=$API/api/v1/payments/payhere/notify
export POLA_PAYMENTS__PAYHERE__RETURN_URL=$API/account/orders/{order_id}
export POLA_PAYMENTS__PAYHERE__CANCEL_URL=$API/account/orders/{order_id}

for name in $("${db[@]}" -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'bench\\_%'"); do
  "${db[@]}" -e "DROP DATABASE \`$name\`"
done
# The bench instance has no replica: its binary logs are only the last run's writes.
"${db[@]}" -e "RESET MASTER"
"$pola" migrate
"$pola" seed --demo

server=
serve() { # ENV=VALUE…: (re)start pola serve with these settings (SERVE_BIN: another binary, --no-migrate)
  if [ -n "$server" ]; then
    kill -INT "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "${SERVE_BIN:-}" ]; then
    env "$@" "$SERVE_BIN" serve --no-migrate >>"$out/serve.log" 2>&1 &
  else
    env "$@" "$pola" serve >>"$out/serve.log" 2>&1 &
  fi
  server=$!
  for _ in $(seq 1 100); do
    curl -sf "$API/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "pola serve did not become ready; see $out/serve.log" >&2
  exit 1
}
front=
stop_front() {
  if [ -n "$front" ]; then
    kill -INT "$front" 2>/dev/null || true
    wait "$front" 2>/dev/null || true
    front=
  fi
}
trap '[ -n "${sinks[*]:-}" ] && kill "${sinks[@]}" 2>/dev/null; stop_front; [ -n "$server" ] && kill -INT $server 2>/dev/null; [ -f "$out/nginx/nginx.pid" ] && kill -QUIT "$(cat "$out/nginx/nginx.pid")" 2>/dev/null; wait 2>/dev/null || true' EXIT
: >"$out/serve.log"
serve

json='content-type: application/json'
list="/api/v1/catalog/products?limit=20"
curl -sf "$API/api/v1/identity/register" -H "$json" \
  -d '{"email":"bench@example.lk","password":"benchmark passphrase","name":"Bench"}' >/dev/null
token=$(curl -sf "$API/api/v1/identity/token" -H "$json" \
  -d '{"grant_type":"password","username":"bench@example.lk","password":"benchmark passphrase"}' | jq -r .access_token)

uuid_of="LOWER(CONCAT_WS('-', SUBSTR(HEX(v.id),1,8), SUBSTR(HEX(v.id),9,4), SUBSTR(HEX(v.id),13,4), SUBSTR(HEX(v.id),17,4), SUBSTR(HEX(v.id),21)))"
plain="FROM bench_catalog.variants v JOIN bench_catalog.products p ON p.id = v.product_id WHERE p.kind = 'product'"
hot=$("${db[@]}" -e "SELECT $uuid_of $plain ORDER BY v.id LIMIT 1")
mapfile -t spread < <("${db[@]}" -e "SELECT $uuid_of $plain ORDER BY v.id LIMIT 1000 OFFSET 1")
# Plenty of stock, so that every checkout can succeed and the figures are of selling, not refusing.
"${db[@]}" -e "UPDATE bench_inventory.stock SET on_hand = 1000000 WHERE location = 'colombo'"

lua() { # NAME VARIANT…: a wrk script posting "buy now" orders, each with a new Idempotency-Key
  # (and $LUA_CODES, a JSON list, as the order's promotion codes)
  local file="$out/$1.lua" codes=""
  [ -n "${LUA_CODES:-}" ] && codes=",\"codes\":$LUA_CODES"
  shift
  {
    echo "local variants = {"
    printf '  "%s",\n' "$@"
    echo "}"
    cat <<LUA
local counter, prefix = 0, ""
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)); prefix = tostring(math.random(1, 1e9)) end
function request()
  counter = counter + 1
  local v = variants[math.random(#variants)]
  return wrk.format("POST", "/api/v1/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer $token",
    ["Idempotency-Key"] = "bench-" .. prefix .. "-" .. counter,
  }, '{"lines":[{"variant_id":"' .. v .. '","quantity":1}]$codes}')
end
LUA
  } >"$file"
  echo "$file"
}

ms() { # a wrk latency (850.00us, 18.83ms, 1.02s) in milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

run() { # NAME ARGS…: $RUNS wrk runs, each kept; one line of medians printed. @RUN@ in ARGS is the run's number.
  local name=$1 i rps=() p50=() p99=() errors=0
  shift
  for i in $(seq 1 "$RUNS"); do
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "${@//@RUN@/$i}" >"$out/$name.$i.txt"
    rps+=("$(awk '/^Requests\/sec/ {print $2}' "$out/$name.$i.txt")")
    p50+=("$(ms "$(awk '$1 == "50%" {print $2}' "$out/$name.$i.txt")")")
    p99+=("$(ms "$(awk '$1 == "99%" {print $2}' "$out/$name.$i.txt")")")
    errors=$((errors + $(awk '/Non-2xx/ {print $5}' "$out/$name.$i.txt" | grep . || echo 0)))
  done
  local r
  r=$(printf '%s\n' "${rps[@]}" | median)
  printf '%-34s %9s req/s   p50 %7s ms   p99 %7s ms   non-2xx %s   (median of %s; req/s %s)\n' "$name" "$r" \
    "$(printf '%s\n' "${p50[@]}" | median)" "$(printf '%s\n' "${p99[@]}" | median)" "$errors" "$RUNS" "${rps[*]}" \
    | tee -a "$out/summary.txt"
  echo "$r" >"$out/$name.median"
  printf '%s\n' "${p99[@]}" | median >"$out/$name.p99"
}

aim() { # NAME MIN_REQ_PER_SEC [MAX_P99_MS]: whether NAME's medians meet the issue's aim
  local rps p99
  rps=$(cat "$out/$1.median")
  p99=$(cat "$out/$1.p99")
  awk -v n="$1" -v r="$rps" -v p="$p99" -v a="$2" -v q="${3:-}" 'BEGIN {
    met = r >= a && (q == "" || p < q)
    printf "aim %-32s %9.0f req/s (aim >= %s)%s: %s\n", n, r, a, (q == "" ? "" : sprintf(", p99 %.2f ms (aim < %s)", p, q)), (met ? "met" : "NOT met") }' \
    | tee -a "$out/summary.txt"
}

edge() { # MODE CACHE [tls]: pola-edge on 127.0.0.1:8095 in front of the bench server, WAF MODE (off|on),
  # micro-cache CACHE (true|false); with tls, HTTPS (h2 and http/1.1) with a self-signed certificate
  local scheme=http tls=''
  stop_front
  if [ "${3:-}" = tls ]; then
    mkdir -p "$out/tls"
    [ -f "$out/tls/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost \
      -addext subjectAltName=DNS:localhost -keyout "$out/tls/key.pem" -out "$out/tls/cert.pem" 2>/dev/null
    scheme=https
    tls=$(printf '[tls]\ncert = "%s"\nkey = "%s"' "$out/tls/cert.pem" "$out/tls/key.pem")
  fi
  cat >"$out/edge-$1.toml" <<TOML
[listen]
public = "127.0.0.1:8095"
staff = "127.0.0.1:8096"
admin = "127.0.0.1:9196"
[site]
state_file = "$out/edge-site.json"
[limits]
per_ip_per_sec = 1000000000
per_token_per_sec = 1000000000
[waf]
mode = "$1"
work_dir = "$out/edge-waf"
[cache]
enabled = $2
$tls
[log]
filter = "warn"
[[pools]]
name = "pola"
prefixes = ["/"]
dc = ["127.0.0.1:8090"]
TOML
  target/release/pola-edge serve --config "$out/edge-$1.toml" >>"$out/edge.log" 2>&1 &
  front=$!
  for _ in $(seq 1 100); do
    curl -ksf -H "Host: localhost" "$scheme://127.0.0.1:8095$list" >/dev/null && return 0
    sleep 0.1
  done
  echo "pola-edge did not start; see $out/edge.log" >&2
  exit 1
}
: >"$out/edge.log"
: >"$out/summary.txt"
echo "pola bench $(date -u +%FT%TZ), $(nproc) cores, wrk -t2 -c$CONNECTIONS -d$DURATION, $RUNS runs each" | tee -a "$out/summary.txt"
want build && tee -a "$out/summary.txt" <"$out/build.txt"
if want shop; then
  # The catalogue read from MariaDB on every request (the read model off), then from memory.
  filtered="$API/api/v1/catalog/products?limit=20&category=clothing&attr=size:M&in_stock=true"
  serve POLA_CATALOG__READ_MODEL_TTL_MS=0
  run catalog-list-uncached "$API$list"
  run catalog-list-filtered-uncached "$filtered"
  serve
  run catalog-list "$API$list"
  run catalog-list-filtered "$filtered"
  aim catalog-list 10000 10
  aim catalog-list-filtered 5000
  awk -v c="$(cat "$out/catalog-list.median")" -v u="$(cat "$out/catalog-list-uncached.median")" \
    -v fc="$(cat "$out/catalog-list-filtered.median")" -v fu="$(cat "$out/catalog-list-filtered-uncached.median")" \
    'BEGIN { printf "catalogue from memory / from MariaDB: first page %.2f×, filtered %.2f×\n", c / u, fc / fu }' | tee -a "$out/summary.txt"
  if [ -n "$baseline" ]; then
    # The baseline first: the tables grow with every run, which weighs on what runs later.
    SERVE_BIN=$baseline serve POLA_INVENTORY__SALE_BATCH_MAX=64
    run checkout-hot-variant-baseline -s "$(lua hot "$hot")" "$API/api/v1/orders"
    run checkout-spread-variants-baseline -s "$(lua spread "${spread[@]}")" "$API/api/v1/orders"
    serve
  fi
  run checkout-hot-variant -s "$(lua hot "$hot")" "$API/api/v1/orders"
  run checkout-spread-variants -s "$(lua spread "${spread[@]}")" "$API/api/v1/orders"
  if [ -n "$baseline" ]; then
    for kind in hot-variant spread-variants; do
      awk -v n="$(cat "$out/checkout-$kind.median")" -v b="$(cat "$out/checkout-$kind-baseline.median")" -v k="$kind" -v r="$BENCH_BASELINE" \
        'BEGIN { printf "checkout %s, this revision / %s: %.2f×\n", k, r, n / b }' | tee -a "$out/summary.txt"
    done
  fi
  serve POLA_INVENTORY__SALE_BATCH_MAX=1
  run checkout-hot-variant-unbatched -s "$out/hot.lua" "$API/api/v1/orders"
  awk -v b="$(cat "$out/checkout-hot-variant.median")" -v u="$(cat "$out/checkout-hot-variant-unbatched.median")" \
    'BEGIN { printf "hot-variant checkout, batched / unbatched: %.2f×\n", b / u }' | tee -a "$out/summary.txt"
  aim checkout-hot-variant 2000
fi

# Checkouts priced with promotions against the same checkouts without, in one run: none, then
# two automatic promotions (10% off every item; Rs 50 off orders from Rs 1,000) and a code
# with a usage limit (10% off the order; the limit makes every checkout lock its row), then
# none again, the ratio taken against the mean of the two runs without.
if want promotions; then
  serve POLA_INVENTORY__SALE_BATCH_MAX=64
  run checkout-without-promotions -s "$(lua spread "${spread[@]}")" "$API/api/v1/orders"
  promo="INSERT INTO bench_promotions.promotions (id, name, kind, value_minor, applies_to, eligibility, get_product_ids,
           automatic, usage_limit, created_at, updated_at) VALUES"
  none='{"product_ids":[],"category_ids":[],"min_spend_minor":null,"min_quantity":null,"customer_groups":[],"zones":[]}'
  spend=${none/\"min_spend_minor\":null/\"min_spend_minor\":100000}
  "${db[@]}" -e "$promo (UNHEX(REPLACE(UUID(), '-', '')), 'Bench 10% off', 'percent_off', 1000, 'item', '$none', '[]', TRUE, NULL, NOW(6), NOW(6)),
                       (UNHEX(REPLACE(UUID(), '-', '')), 'Bench Rs 50 off', 'amount_off', 5000, 'order', '$spend', '[]', TRUE, NULL, NOW(6), NOW(6));
                 $promo (UNHEX(REPLACE(UUID(), '-', '')), 'Bench code', 'percent_off', 1000, 'order', '$none', '[]', FALSE, 100000000, NOW(6), NOW(6));
                 INSERT INTO bench_promotions.promotion_codes (code, promotion_id, created_at)
                   SELECT 'BENCH10', id, NOW(6) FROM bench_promotions.promotions WHERE name = 'Bench code'"
  run checkout-with-promotions -s "$(LUA_CODES='["bench10"]' lua promoted "${spread[@]}")" "$API/api/v1/orders"
  "${db[@]}" -e "UPDATE bench_promotions.promotions SET active = FALSE"
  run checkout-without-promotions-again -s "$out/spread.lua" "$API/api/v1/orders"
  discounted=$("${db[@]}" -e "SELECT COUNT(*) FROM bench_orders.orders WHERE JSON_LENGTH(pricing, '$.adjustments') = 3")
  awk -v w="$(cat "$out/checkout-with-promotions.median")" -v a="$(cat "$out/checkout-without-promotions.median")" \
    -v b="$(cat "$out/checkout-without-promotions-again.median")" -v d="$discounted" \
    'BEGIN { printf "checkout with two promotions and a code / without: %.2f× the orders/s (%d orders carried all three)\n", w / ((a + b) / 2), d }' \
    | tee -a "$out/summary.txt"
fi

# PayHere's notifications, signed as PayHere signs them (md5sig by MariaDB's MD5 over the
# formula), posted to the notify endpoint: first a success for each unpaid order, each once
# (every request pays an order: the payment row, the order's status and its event); then one
# notification over and over (PayHere's retries: the idempotent path).
if want payments; then
  serve POLA_INVENTORY__SALE_BATCH_MAX=64
  if ! want shop; then # orders to pay, when the shop part did not make them
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$(lua hot "$hot")" "$API/api/v1/orders" >/dev/null
  fi
  secret_md5=$(printf %s "$POLA_PAYMENTS__PAYHERE__MERCHANT_SECRET" | md5sum | cut -c1-32 | tr a-f A-F)
  order_uuid="LOWER(CONCAT_WS('-', SUBSTR(HEX(id),1,8), SUBSTR(HEX(id),9,4), SUBSTR(HEX(id),13,4), SUBSTR(HEX(id),17,4), SUBSTR(HEX(id),21)))"
  amount="CONCAT(total_minor DIV 100, '.', LPAD(total_minor MOD 100, 2, '0'))"
  unpaid=$("${db[@]}" -e "SELECT COUNT(*) FROM bench_orders.orders WHERE status = 'pending_payment'")
  per_run=$((unpaid / RUNS))
  for i in $(seq 1 "$RUNS"); do
    "${db[@]}" -e "SELECT CONCAT('merchant_id=1221149&order_id=', o, '&payment_id=', 320000000000 + n, '&payhere_amount=', a,
                          '&payhere_currency=LKR&status_code=2&md5sig=', UPPER(MD5(CONCAT('1221149', o, a, 'LKR', '2', '$secret_md5'))),
                          '&method=VISA&status_message=Successfully+completed')
                   FROM (SELECT $order_uuid AS o, $amount AS a, ROW_NUMBER() OVER (ORDER BY id) AS n
                         FROM bench_orders.orders WHERE status = 'pending_payment') unpaid
                   WHERE n > $(((i - 1) * per_run)) AND n <= $((i * per_run))" >"$out/notify.$i.txt"
  done
  cat >"$out/notify.lua" <<'LUA'
-- Each thread takes every other line of its run's file, each once; past the end it starts again
-- (repeats then count as PayHere's retries).
local threads = 0
function setup(thread) thread:set("id", threads); threads = threads + 1 end
local bodies, counter = {}, 0
function init(args) for line in io.lines(args[1]) do bodies[#bodies + 1] = line end end
function request()
  local body = bodies[((counter * 2 + id) % #bodies) + 1]
  counter = counter + 1
  return wrk.format("POST", "/api/v1/payments/payhere/notify", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
LUA
  before=$("${db[@]}" -e "SELECT COUNT(*) FROM bench_payments.payments")
  run payhere-notify-first "$API/api/v1/payments/payhere/notify" -s "$out/notify.lua" -- "$out/notify.@RUN@.txt"
  paid=$(($("${db[@]}" -e "SELECT COUNT(*) FROM bench_payments.payments") - before))
  echo "orders paid by notifications: $paid of $unpaid unpaid ($per_run offered per run)" | tee -a "$out/summary.txt"
  head -n 1 "$out/notify.1.txt" >"$out/notify.repeat.txt"
  run payhere-notify-repeat "$API/api/v1/payments/payhere/notify" -s "$out/notify.lua" -- "$out/notify.repeat.txt"
  twice=$("${db[@]}" -e "SELECT COUNT(*) FROM (SELECT order_id FROM bench_orders.order_status_history WHERE to_status = 'paid' GROUP BY order_id HAVING COUNT(*) > 1) t")
  echo "orders paid twice: $twice" | tee -a "$out/summary.txt"
fi

# The catalogue list through the edge, without and with its WAF, and through nginx with
# ModSecurity and the same CRS (Debian's packages), against the server straight. Every client
# sends `Host: localhost`, as the public would send a name (CRS 920350 scores numeric hosts).
if want edge; then
serve POLA_INVENTORY__SALE_BATCH_MAX=64
run catalog-list-direct -H "Host: localhost" "$API$list"
edge off false
run catalog-list-edge -H "Host: localhost" "http://127.0.0.1:8095$list"
edge on false
run catalog-list-edge-waf -H "Host: localhost" "http://127.0.0.1:8095$list"
# As deployed: the micro-cache answers anonymous catalogue reads (2 s), the WAF still judges each.
edge on true
run catalog-list-edge-waf-cache -H "Host: localhost" "http://127.0.0.1:8095$list"
stop_front

bash scripts/deps.sh --nginx
nginx_dir=$(pwd)/$out/nginx
rm -rf "$nginx_dir" && mkdir -p "$nginx_dir"/{conf,logs,tmp,data}
cp /etc/nginx/unicode.mapping "$nginx_dir/conf/"
sed -e 's/^SecRuleEngine .*/SecRuleEngine On/' -e "s#^SecTmpDir .*#SecTmpDir $nginx_dir/tmp#" \
  -e "s#^SecDataDir .*#SecDataDir $nginx_dir/data#" -e 's/^SecAuditEngine .*/SecAuditEngine Off/' \
  -e "s#^SecAuditLog .*#SecAuditLog $nginx_dir/logs/audit.log#" /etc/nginx/modsecurity.conf >"$nginx_dir/conf/modsecurity.conf"
cat >"$nginx_dir/conf/main.conf" <<CONF
Include $nginx_dir/conf/modsecurity.conf
Include /etc/modsecurity/crs/crs-setup.conf
SecAction "id:900200,phase:1,nolog,pass,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf
Include /usr/share/modsecurity-crs/rules/*.conf
Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf
CONF
cat >"$nginx_dir/conf/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_modsecurity_module.so;
worker_processes 2;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $nginx_dir/tmp/body;
  proxy_temp_path $nginx_dir/tmp/proxy;
  fastcgi_temp_path $nginx_dir/tmp/fastcgi;
  uwsgi_temp_path $nginx_dir/tmp/uwsgi;
  scgi_temp_path $nginx_dir/tmp/scgi;
  upstream pola { server 127.0.0.1:8090; keepalive 64; }
  proxy_cache_path $nginx_dir/cache keys_zone=micro:10m max_size=64m;
  server {
    listen 127.0.0.1:8097;
    modsecurity on;
    modsecurity_rules_file $nginx_dir/conf/main.conf;
    location / { proxy_pass http://pola; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  # The same with a micro-cache like the edge's: 2 s, one request upstream per miss.
  server {
    listen 127.0.0.1:8098;
    modsecurity on;
    modsecurity_rules_file $nginx_dir/conf/main.conf;
    location / {
      proxy_pass http://pola; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache micro; proxy_cache_valid 200 2s; proxy_cache_lock on;
    }
  }
}
CONF
nginx -e "$nginx_dir/logs/error.log" -p "$nginx_dir" -c conf/nginx.conf
for _ in $(seq 1 100); do
  curl -sf -H "Host: localhost" "http://127.0.0.1:8097$list" >/dev/null && break
  sleep 0.1
done
run catalog-list-nginx-modsecurity -H "Host: localhost" "http://127.0.0.1:8097$list"
run catalog-list-nginx-modsecurity-cache -H "Host: localhost" "http://127.0.0.1:8098$list"
kill -QUIT "$(cat "$nginx_dir/nginx.pid")"
m() { cat "$out/catalog-list-$1.median"; }
awk -v d="$(m direct)" -v e="$(m edge)" -v w="$(m edge-waf)" -v n="$(m nginx-modsecurity)" \
  -v wc="$(m edge-waf-cache)" -v nc="$(m nginx-modsecurity-cache)" \
  'BEGIN { printf "catalogue list req/s as a share of direct: edge %.2f, edge+WAF %.2f, nginx+ModSecurity %.2f; edge+WAF / nginx+ModSecurity %.2f×\n", e / d, w / d, n / d, w / n;
           printf "with micro-caches: edge+WAF+cache / nginx+ModSecurity %.2f×, / nginx+ModSecurity+proxy_cache %.2f×\n", wc / n, wc / nc }' \
  | tee -a "$out/summary.txt"
fi

# What sealing personal data costs a registration and a sign-in (in-process, same database).
# Checkout while the notification worker runs, with its mail server and SMS gateway up, then
# down: checkout only writes to the outbox, so its latency should not move.
# The web shop's pages as HTML, straight from the service and through the edge with its WAF
# (pages are private to their visitor, so the micro-cache never holds them), and what a first
# visit to the home page downloads: the page, its style sheet and script, the pictures it does
# not load lazily, and the font of its script (Sinhala, WOFF2) for a phone without one.
if want storefront; then
  serve POLA_STOREFRONT__FONTS_DIR="$(bash scripts/fonts.sh)"
  category=$("${db[@]}" -e "SELECT slug FROM bench_catalog.categories WHERE slug = 'batik'")
  product=$("${db[@]}" -e "SELECT LOWER(CONCAT_WS('-', SUBSTR(HEX(id),1,8), SUBSTR(HEX(id),9,4), SUBSTR(HEX(id),13,4), SUBSTR(HEX(id),17,4), SUBSTR(HEX(id),21))) FROM bench_catalog.products WHERE kind = 'product' ORDER BY id LIMIT 1")
  run page-listing-direct "$API/categories/$category"
  run page-product-direct "$API/products/$product"
  edge on false
  run page-listing-edge-waf -H "Host: localhost" "http://127.0.0.1:8095/categories/$category"
  run page-product-edge-waf -H "Host: localhost" "http://127.0.0.1:8095/products/$product"
  # A phone's first visit to the home page through the edge over HTTPS: HTTP/2 (one connection)
  # against HTTP/1.1 (up to six), in Chromium over an emulated slow link (scripts/slowlink.py).
  edge on false tls
  bash scripts/pageload.sh 8095 "/?lang=si" "$RUNS" >"$out/pageload.txt"
  awk '{ ms[$1] = $2; used[$1] = $3; n[$1] = $4 }
    END { printf "first home page load over a slow link (load event, median of %s): h1 %d ms (%s, %d resources by then), h2 %d ms (%s, %d); h2 / h1 %.2f×\n",
          "'"$RUNS"'", ms["h1"], used["h1"], n["h1"], ms["h2"], used["h2"], n["h2"], ms["h2"] / ms["h1"] }' "$out/pageload.txt" \
    | tee -a "$out/summary.txt"
  stop_front
  bytes() { curl -s -o /dev/null -w '%{size_download}' "$API$1"; }
  home=$(curl -s "$API/?lang=si")
  html=$(bytes "/?lang=si")
  css_url=$(grep -o 'href="[^"]*\.css"' <<<"$home" | head -1 | cut -d'"' -f2 | sed 's/&#x2f;/\//g')
  js_url=$(grep -o 'src="[^"]*\.js"' <<<"$home" | head -1 | cut -d'"' -f2 | sed 's/&#x2f;/\//g')
  css=$(bytes "$css_url")
  js=$(bytes "$js_url")
  font_url=$(curl -s "$API$css_url" | grep -o 'url("/assets/sinhala[^"]*")' | cut -d'"' -f2)
  font=$(bytes "$font_url")
  pictures=0
  while read -r img; do
    [ -n "$img" ] && pictures=$((pictures + $(bytes "$img")))
  done < <(grep -o '<img src="[^"]*"[^>]*>' <<<"$home" | grep -v 'loading="lazy"' | cut -d'"' -f2 | sed 's/&#x2f;/\//g')
  total=$((html + css + js + font + pictures))
  printf 'first visit to the home page (si): %s bytes = HTML %s + CSS %s + JS %s + Sinhala font %s + eager pictures %s (aim: under 153600)\n' \
    "$total" "$html" "$css" "$js" "$font" "$pictures" | tee -a "$out/summary.txt"
fi

if want events; then
  bash scripts/rabbitmq.sh start bench-rabbitmq 5675
  python=$(bash scripts/python.sh)
  sinks=()
  sinks_up() {
    mkdir -p "$out/sms"
    "$python" -m aiosmtpd -n -l 127.0.0.1:2526 -c aiosmtpd.handlers.Sink >"$out/smtp.log" 2>&1 &
    sinks+=($!)
    "$python" scripts/sms_gateway.py 127.0.0.1 2581 "$out/sms" >"$out/sms.log" 2>&1 &
    sinks+=($!)
    sleep 1
  }
  sinks_down() {
    kill "${sinks[@]}" 2>/dev/null || true
    wait "${sinks[@]}" 2>/dev/null || true
    sinks=()
  }
  notify=(POLA_EVENTS__AMQP_URL=amqp://guest:guest@127.0.0.1:5675/%2f POLA_EVENTS__EXCHANGE=pola.bench
    POLA_NOTIFICATIONS__QUEUE=bench-notifications POLA_NOTIFICATIONS__SMTP__PORT=2526
    POLA_NOTIFICATIONS__SMS__URL=http://127.0.0.1:2581/send POLA_NOTIFICATIONS__QUIET_FROM=00:00
    POLA_NOTIFICATIONS__QUIET_UNTIL=00:00)
  lua spread "${spread[@]}" >/dev/null
  sinks_up
  serve "${notify[@]}"
  env "${notify[@]}" "$pola" worker notifications >>"$out/worker.log" 2>&1 &
  worker=$!
  # Up, down, up again: the two "up" runs show how far the machine drifts meanwhile.
  run checkout-notifications-up -s "$out/spread.lua" "$API/api/v1/orders"
  sinks_down
  run checkout-notifications-down -s "$out/spread.lua" "$API/api/v1/orders"
  sinks_up
  run checkout-notifications-up-again -s "$out/spread.lua" "$API/api/v1/orders"
  kill -INT "$worker" 2>/dev/null || true
  wait "$worker" 2>/dev/null || true
  awk -v u="$(cat "$out/checkout-notifications-up.median")" -v d="$(cat "$out/checkout-notifications-down.median")" \
    -v a="$(cat "$out/checkout-notifications-up-again.median")" \
    'BEGIN { printf "checkout with the mail server and SMS gateway down / up: %.2f× the requests/s (up again / up: %.2f×)\n", d / ((u + a) / 2), a / u }' \
    | tee -a "$out/summary.txt"
  sinks_down
  serve
  sinks_up
  POLA_BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5675/%2f POLA_BENCH_SMTP_PORT=2526 \
    cargo bench --locked -q -p pola --bench events 2>/dev/null | tee -a "$out/summary.txt"
  sinks_down
  bash scripts/rabbitmq.sh stop bench-rabbitmq
fi

want pii && cargo bench --locked -q -p pola --bench pii 2>/dev/null | tee -a "$out/summary.txt"

# A flood of wrong-password sign-ins, 500 then 1,000 at once from as many addresses, at the real
# password cost: what is answered, what is shed (503), and the server's resident memory idle, at
# its peak and after (a fresh server, so that its peak is the flood's).
# APM's cost: hot-variant checkout without APM and shipping every span and log line to a private
# OpenSearch node (127.0.0.1:9260), in turns (one run of each, $RUNS times, so that the machine's
# drift falls on both alike). The node indexes on the same two cores as everything else, so the
# same turns are taken again with the node stopped: that is pola's own cost (spans built, then
# dropped and counted), as with OpenSearch on a host of its own. Then a minute of steady
# checkouts with the node stopped (dropped, never waited for), and it back (shipping resumes).
if want apm; then
  lua hot "$hot" >/dev/null
  bash scripts/opensearch.sh start bench-opensearch 9260 >/dev/null
  apm=(POLA_APM__URL=http://127.0.0.1:9260 POLA_APM__SITE=bench)
  counter() { curl -sf "$API/metrics" | awk -v n="$1" '$1 ~ "^"n { s += $2 } END { printf "%d", s }'; }
  turns() { # LABEL: checkouts without APM and with it, in turns
    for i in $(seq 1 "$RUNS"); do
      serve
      RUNS=1 run "checkout-$1-off-$i" -s "$out/hot.lua" "$API/api/v1/orders" >/dev/null
      serve "${apm[@]}"
      RUNS=1 run "checkout-$1-on-$i" -s "$out/hot.lua" "$API/api/v1/orders" >/dev/null
    done
    local off on
    off=$(cat "$out"/checkout-"$1"-off-*.median | median)
    on=$(cat "$out"/checkout-"$1"-on-*.median | median)
    echo "$on" >"$out/checkout-$1-on.median"
    awk -v off="$off" -v on="$on" -v l="$1" -v s="$(counter apm_documents_shipped_total)" -v d="$(counter apm_documents_dropped_total)" \
      'BEGIN { printf "checkout %s: without APM %.0f orders/s, with %.0f: %.3f× (aim: above 0.95; the last run shipped %d documents, dropped %d)\n", l, off, on, on / off, s, d }' \
      | tee -a "$out/summary.txt"
  }
  turns apm-opensearch-here
  bash scripts/opensearch.sh stop bench-opensearch >/dev/null
  turns apm-opensearch-away
  serve "${apm[@]}"
  bash scripts/opensearch.sh start bench-opensearch 9260 >/dev/null
  sleep 5
  run checkout-apm-up -s "$out/hot.lua" "$API/api/v1/orders"
  bash scripts/opensearch.sh stop bench-opensearch >/dev/null
  dropped_before=$(counter apm_documents_dropped_total)
  DURATION=60s RUNS=1 run checkout-apm-opensearch-down -s "$out/hot.lua" "$API/api/v1/orders"
  dropped=$(( $(counter apm_documents_dropped_total) - dropped_before ))
  bash scripts/opensearch.sh start bench-opensearch 9260 >/dev/null
  shipped_before=$(counter apm_documents_shipped_total)
  run checkout-apm-opensearch-back -s "$out/hot.lua" "$API/api/v1/orders"
  sleep 3
  shipped=$(( $(counter apm_documents_shipped_total) - shipped_before ))
  awk -v up="$(cat "$out/checkout-apm-up.median")" -v down="$(cat "$out/checkout-apm-opensearch-down.median")" \
    -v back="$(cat "$out/checkout-apm-opensearch-back.median")" -v d="$dropped" -v s="$shipped" \
    'BEGIN { printf "checkout with OpenSearch down a minute / up: %.2f× the orders/s (back: %.2f×); %d documents dropped and counted while down, %d shipped once it was back\n", down / up, back / up, d, s }' \
    | tee -a "$out/summary.txt"
  serve
  bash scripts/opensearch.sh stop bench-opensearch >/dev/null
fi
# Each report's time on a large history, read (as in production) on a replica: a second MariaDB
# (127.0.0.1:3328) replicating the bench instance by GTID, read-only, and `pola report` against it.
if want reports; then
  orders=${BENCH_REPORT_ORDERS:-1000000}
  bash scripts/mariadb.sh start bench-replica 3328 fast >/dev/null
  replica=(mariadb -h127.0.0.1 -P3328 -uroot -N)
  # A fresh history on both, then the replica follows the primary from its position now, and
  # only the history's databases (the other bench databases do not exist there).
  "${replica[@]}" -e "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0"
  for port in 3327 3328; do
    client=(mariadb -h127.0.0.1 -P"$port" -uroot -N)
    for name in $("${client[@]}" -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'benchr\\_%'"); do
      "${client[@]}" -e "DROP DATABASE \`$name\`"
    done
  done
  "${replica[@]}" -e "SET GLOBAL server_id = 2; SET GLOBAL replicate_wild_do_table = 'benchr\\_%.%';
    SET GLOBAL gtid_slave_pos = '$("${db[@]}" -e 'SELECT @@gtid_binlog_pos')';
    CHANGE MASTER TO master_host = '127.0.0.1', master_port = 3327, master_user = 'root', master_use_gtid = slave_pos;
    SET GLOBAL read_only = 1; START SLAVE"
  started=$(date +%s)
  POLA_DATABASE__PREFIX=benchr "$pola" seed --demo --orders "$orders" >"$out/reports-seed.log" 2>&1
  echo "seeded $orders orders with their payments, parcels, refunds, tickets and carts in $(( $(date +%s) - started )) s" | tee -a "$out/summary.txt"
  "${replica[@]}" -e "SELECT MASTER_GTID_WAIT('$("${db[@]}" -e 'SELECT @@gtid_binlog_pos')', 3600)" >/dev/null
  from=$(date -u -d '400 days ago' +%F)
  for args in "sales --by day" "sales --by month" "sales --by district" "sales --by category" "sales --by method" \
    top-products low-stock stock-value payments cod-owed refunds promotions customers cohorts abandoned-carts support; do
    times=()
    for _ in $(seq 1 "$RUNS"); do
      t0=$(date +%s%N)
      # shellcheck disable=SC2086 # the report's name and its filters
      POLA_DATABASE__PREFIX=benchr POLA_REPORTING__SITES__REPLICA=mysql://root@127.0.0.1:3328 \
        POLA_REPORTING__STATEMENT_TIMEOUT_SECS=600 POLA_REPORTING__ROW_CAP=1000000 \
        "$pola" report $args --from "$from" --format json >"$out/report.json" 2>>"$out/reports.log" || echo "report $args failed" >&2
      times+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
    done
    printf 'report %-22s %7s ms on %s orders (median of %s: %s)\n' "$args" "$(printf '%s\n' "${times[@]}" | median)" "$orders" "$RUNS" "${times[*]}" \
      | tee -a "$out/summary.txt"
  done
  "${replica[@]}" -e "STOP SLAVE" >/dev/null
fi
if want flood; then
  serve
  POLA_BENCH_API=$API POLA_BENCH_PID=$server POLA_BENCH_ACCOUNT=bench@example.lk \
    cargo bench --locked -q -p pola --bench flood 2>/dev/null | tee -a "$out/summary.txt"
fi

# Checkouts whose client wrk dropped at the end of its run finish first: pola serve stops only
# once the work in hand is done.
if [ -n "$server" ]; then
  kill -INT "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
fi
negative=$("${db[@]}" -e "SELECT COUNT(*) FROM bench_inventory.stock WHERE on_hand < 0 OR reserved < 0")
sold=$("${db[@]}" -e "SELECT COALESCE(SUM(quantity), 0) FROM bench_inventory.sales")
# The seeded history (a year of orders for reports and "customers also bought") sold nothing from
# today's stock: only the orders this run placed count. A checkout prices every order (`pricing`);
# the history has none.
seeded="SELECT id FROM bench_orders.orders WHERE pricing IS NULL"
ordered=$("${db[@]}" -e "SELECT COALESCE(SUM(quantity), 0) FROM bench_orders.order_lines WHERE order_id NOT IN ($seeded)")
orders=$("${db[@]}" -e "SELECT COUNT(*) FROM bench_orders.orders WHERE id NOT IN ($seeded)")
echo "orders $orders, units ordered $ordered, units sold $sold, stock rows below zero $negative" | tee -a "$out/summary.txt"
if [ "$negative" != 0 ] || [ "$sold" != "$ordered" ]; then
  echo "stock does not add up" >&2
  exit 1
fi
