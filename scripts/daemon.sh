#!/usr/bin/env bash
# Long-running processes of the `local` inventory (one machine, no systemd): started detached,
# with a pid file and a log, stopped with a signal and waited for.
#
#   scripts/daemon.sh start DIR NAME -- COMMAND ARGS...   no-op if DIR/NAME.pid is alive
#   scripts/daemon.sh stop DIR NAME [SIGNAL]              default SIGINT; waits up to 60 s
#   scripts/daemon.sh status DIR NAME                     exit 0 when running
#   scripts/daemon.sh wait DIR NAME SECONDS -- CHECK...   until CHECK succeeds; fails at once
#                                                         (with the log's end) if the process died
set -euo pipefail
cmd=${1:?usage: daemon.sh start|stop|status DIR NAME}
dir=${2:?directory}
name=${3:?name}
pidfile="$dir/$name.pid"
alive() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$cmd" in
start)
  shift 3
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || { echo "daemon.sh start: no command" >&2; exit 2; }
  if alive; then
    echo "$name is already running (pid $(cat "$pidfile"))"
    exit 0
  fi
  mkdir -p "$dir"
  setsid nohup "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "$name started (pid $!, log $dir/$name.log)"
  ;;
stop)
  signal=${4:-INT}
  if alive; then
    pid=$(cat "$pidfile")
    kill -"$signal" "$pid"
    for _ in $(seq 1 600); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name did not stop in 60 s; killing it" >&2
      kill -KILL "$pid"
    fi
    echo "$name stopped"
  fi
  rm -f "$pidfile"
  ;;
status)
  alive
  ;;
wait)
  seconds=${4:?seconds}
  shift 4
  [ "${1:-}" = "--" ] && shift
  for _ in $(seq 1 $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && exit 0
    if ! alive; then
      echo "$name is not running; the end of $dir/$name.log:" >&2
      tail -5 "$dir/$name.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  echo "$name did not get ready in $seconds s" >&2
  exit 1
  ;;
*)
  echo "usage: daemon.sh start|stop|status DIR NAME" >&2
  exit 2
  ;;
esac
