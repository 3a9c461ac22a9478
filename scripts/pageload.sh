#!/usr/bin/env bash
# A first visit to URL in headless Chromium (Debian's, through ChromeDriver's HTTP API) on an
# emulated phone link: 150 ms latency, 1.6 Mbit/s down, 750 kbit/s up. Each visit is a new
# browser profile (nothing cached, no connection open). Runs h1 and h2 visits in turn, RUNS of
# each, and prints one line per protocol: the median time to the load event, in milliseconds,
# with the protocol Chromium used and how many resources it fetched.
#   scripts/pageload.sh URL RUNS   (URL over HTTPS; the certificate is not checked)
set -euo pipefail
url=${1:?usage: pageload.sh URL RUNS}
runs=${2:-3}
port=${PAGELOAD_DRIVER_PORT:-9517}
driver=http://127.0.0.1:$port
bash "$(dirname "$0")/deps.sh" --browser >&2

chromedriver --port="$port" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "$driver/status" >/dev/null && break
  sleep 0.1
done

field() { python3 -c 'import json, sys; v = json.load(sys.stdin)["value"]; print(eval(sys.argv[1], {"v": v}))' "$1"; }

visit() { # h1|h2: one first visit; prints "LOAD_MS PROTOCOL RESOURCES"
  local extra='' session
  [ "$1" = h1 ] && extra=', "--disable-http2"'
  session=$(curl -sf "$driver/session" -H 'content-type: application/json' -d '{"capabilities": {"alwaysMatch": {
      "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--ignore-certificate-errors",
        "--disable-gpu", "--window-size=412,915"'"$extra"']}}}}' | field 'v["sessionId"]')
  curl -sf "$driver/session/$session/chromium/network_conditions" -H 'content-type: application/json' \
    -d '{"network_conditions": {"offline": false, "latency": 150, "download_throughput": 200000, "upload_throughput": 93750}}' >/dev/null
  curl -sf "$driver/session/$session/url" -H 'content-type: application/json' -d "{\"url\": \"$url\"}" >/dev/null
  curl -sf "$driver/session/$session/execute/sync" -H 'content-type: application/json' -d '{"args": [], "script":
      "const n = performance.getEntriesByType(\"navigation\")[0]; return [Math.round(n.loadEventEnd), n.nextHopProtocol, performance.getEntriesByType(\"resource\").length];"}' \
    | field '" ".join(map(str, v))'
  curl -sf -X DELETE "$driver/session/$session" >/dev/null
}

declare -A times protocol resources
for _ in $(seq 1 "$runs"); do
  for p in h1 h2; do
    read -r ms proto count < <(visit "$p")
    times[$p]+="$ms "
    protocol[$p]=$proto
    resources[$p]=$count
  done
done
for p in h1 h2; do
  median=$(tr ' ' '\n' <<<"${times[$p]}" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "$p $median ${protocol[$p]} ${resources[$p]} (${times[$p]% })"
done
