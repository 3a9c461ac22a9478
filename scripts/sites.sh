#!/usr/bin/env bash
# Stops every process of a `local` two-site layout (started by ansible/playbooks/site.yml through
# scripts/daemon.sh, each with a pid file): SIGTERM (SIGINT for the edge, which drains for
# minutes on SIGTERM), SIGKILL after 10 s.
#
#   scripts/sites.sh stop [DIR]     default var/sites
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: sites.sh stop [DIR]}
dir=${2:-$root/var/sites}
[ "$cmd" = stop ] || { echo "usage: sites.sh stop [DIR]" >&2; exit 2; }
[ -d "$dir" ] || exit 0

pids=()
while IFS= read -r pidfile; do
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
  case "$pidfile" in
  */pola-edge.pid) kill -INT "$pid" ;;
  # mariadb-binlog --stop-never ignores INT and TERM while it waits for the primary; what it
  # wrote is kept (a restart fetches its last file again).
  */archiver-*.pid) kill -KILL "$pid" ;;
  *) kill -TERM "$pid" ;;
  esac
  pids+=("$pid")
done < <(find "$dir" -name '*.pid' -type f)

for _ in $(seq 1 100); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
echo "stopped ${#pids[@]} processes under $dir"
