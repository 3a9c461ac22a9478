#!/usr/bin/env bash
# A first visit to a page in headless Chromium (Debian's, through ChromeDriver's HTTP API) over
# an emulated phone link (scripts/slowlink.py: 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up,
# shared by all connections, handshakes paid in round trips). Each visit is a new browser
# profile (nothing cached, no connection open). Runs h1 and h2 visits in turn, RUNS of each, and
# prints one line per protocol: the median time to the load event in milliseconds, the protocol
# Chromium used, how many resources it fetched, and every run's time.
#   scripts/pageload.sh HTTPS_PORT PATH RUNS   (https://localhost:HTTPS_PORT; the certificate is not checked)
set -euo pipefail
target=${1:?usage: pageload.sh HTTPS_PORT PATH RUNS}
path=${2:?path}
runs=${3:-3}
port=${PAGELOAD_DRIVER_PORT:-9517}
link_port=${PAGELOAD_LINK_PORT:-9518}
driver=http://127.0.0.1:$port
url=https://localhost:$link_port$path
bash "$(dirname "$0")/deps.sh" --browser >&2

chromedriver --port="$port" >/dev/null 2>&1 &
pids=($!)
python3 "$(dirname "$0")/slowlink.py" "$link_port" "$target" 150 1600 750 &
pids+=($!)
trap 'kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true' EXIT
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
