#!/usr/bin/env bash
# The binary-log archive (one folder per source server, `server-<id>/binlog.NNNNNN`, written by
# `mariadb-binlog --raw --stop-never`), read with mariadb-binlog. GTIDs are of domain 0, whose
# sequence numbers grow across servers.
#
#   binlog-archive.sh newest ARCHIVE                 the newest GTID archived (empty if none)
#   binlog-archive.sh wait ARCHIVE SERVER FILE POS SECONDS
#                                                    waits until the archive of server SERVER holds
#                                                    its binary log FILE up to POS (fails after
#                                                    SECONDS)
#   binlog-archive.sh lag ARCHIVE SERVER SAMPLES -- CLIENT...
#                                                    on the primary SERVER (CLIENT connects to it):
#                                                    how long the archive takes to hold what the
#                                                    primary has just written, SAMPLES times, 0.2 s
#                                                    apart; prints the median and the longest, in s
#   binlog-archive.sh replay ARCHIVE FROM STOP -- CLIENT...
#                                                    replays what follows GTID FROM up to STOP (a
#                                                    GTID, included, or a time, excluded) into
#                                                    `CLIENT` (a mariadb command), folder by folder,
#                                                    oldest source first
#   binlog-archive.sh prune ARCHIVE GTID [--dry-run] deletes the files holding only transactions
#                                                    up to GTID (never a folder's newest file)
set -euo pipefail
cmd=${1:?usage: binlog-archive.sh newest|wait|lag|replay|prune ARCHIVE ...}
archive=${2:?archive folder}
shift 2

seq_of() { # the sequence number of domain 0 in a GTID list (0 if none)
  local s
  s=$(grep -oE '(^|[^0-9-])0-[0-9]+-[0-9]+' <<<"$1" | tail -1 | sed 's/.*-//')
  echo "${s:-0}"
}
# The archive's folders, the one whose newest file was written first, first.
folders() {
  local d f
  for d in "$archive"/server-*/; do
    f=$(files "$d" | tail -1)
    [ -n "$f" ] && echo "$(stat -c %Y "$f") ${d%/}"
  done | sort -n | cut -d' ' -f2-
}
files() { find "$1" -maxdepth 1 -name 'binlog.[0-9]*' | sort; }
# The last GTID in a file (empty if none); a file being written may end in a partial event.
last_gtid() { { mariadb-binlog "$1" 2>/dev/null || true; } | grep -oE 'GTID 0-[0-9]+-[0-9]+' | tail -1 | cut -d' ' -f2; }
# The GTID list a file starts with: every transaction in the files before it.
first_list() { { mariadb-binlog --stop-position=65536 "$1" 2>/dev/null || true; } | grep -m1 -oE 'Gtid list \[[^]]*\]' || true; }

newest() {
  local best="" best_seq=-1 d g
  for d in $(folders); do
    g=$(last_gtid "$(files "$d" | tail -1)")
    if [ -n "$g" ] && [ "$(seq_of "$g")" -gt "$best_seq" ]; then best=$g; best_seq=$(seq_of "$g"); fi
  done
  echo "$best"
}

# Whether the archive of server $1 holds its binary log $2 up to byte $3 (a raw copy: same names,
# same offsets).
holds() {
  local f=$archive/server-$1/$2 later
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -ge "$3" ] && return 0
  later=$(files "$archive/server-$1" 2>/dev/null | tail -1)
  [ -n "$later" ] && [[ $(basename "$later") > $2 ]]
}
# Waits until holds "$1" "$2" "$3", at most $4 seconds (then fails saying so).
await_held() {
  local started
  started=$(date +%s)
  until holds "$1" "$2" "$3"; do
    if (($(date +%s) - started > $4)); then
      echo "the archive of server $1 ends before $2:$3 after $4 s: is the archiver running?" >&2
      exit 1
    fi
    sleep 0.01
  done
}
now() { date +%s.%N; }
since() { awk -v from="$1" -v to="$(now)" 'BEGIN { printf "%.2f\n", to - from }'; }

case "$cmd" in
newest) newest ;;
wait)
  await_held "${1:?server id}" "${2:?binlog file}" "${3:?position}" "${4:?seconds}"
  ;;
lag)
  server=${1:?server id} samples=${2:?samples}
  shift 2
  [ "${1:-}" = "--" ] && shift
  for ((i = 0; i < samples; i++)); do
    read -r file pos < <("$@" --batch --skip-column-names -e 'SHOW MASTER STATUS' | cut -f1,2)
    started=$(now)
    await_held "$server" "$file" "$pos" 60
    since "$started"
    sleep 0.2
  done | sort -n | awk '{ v[NR] = $1 } END { printf "median %.2f s, longest %.2f s over %d samples\n", v[int((NR + 1) / 2)], v[NR], NR }'
  ;;
replay)
  from=${1:?FROM} stop=${2:?STOP}
  shift 2
  if [[ $stop =~ ^[0-9]+-[0-9]+-[0-9]+$ ]]; then
    until=(--stop-position="$stop") stop_seq=$(seq_of "$stop")
  else
    until=(--stop-datetime="$stop") stop_seq=""
  fi
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || { echo "replay: no client command" >&2; exit 2; }
  for d in $(folders); do
    mapfile -t fs < <(files "$d")
    # Start after what is there already: an earlier folder may have brought it past FROM.
    reached=$("$@" --batch --skip-column-names -e 'SELECT @@global.gtid_binlog_pos')
    [ -n "$reached" ] && [ "$(seq_of "$reached")" -gt "$(seq_of "$from")" ] && from=$reached
    [ -n "$stop_seq" ] && [ "$(seq_of "$from")" -ge "$stop_seq" ] && break
    # A folder that ends before FROM has nothing to add (mariadb-binlog would refuse it).
    [ "$(seq_of "$(last_gtid "${fs[-1]}")")" -le "$(seq_of "$from")" ] && continue
    echo "replaying $d from $from" >&2
    mariadb-binlog --start-position="$from" "${until[@]}" "${fs[@]}" | "$@" --binary-mode
  done
  ;;
prune)
  upto=$(seq_of "${1:?GTID}") dry=${2:-}
  for d in $(folders); do
    mapfile -t fs < <(files "$d")
    for ((i = 0; i + 1 < ${#fs[@]}; i++)); do
      # Every transaction of file i is in the list the next file starts with.
      if [ "$(seq_of "$(first_list "${fs[i + 1]}")")" -le "$upto" ]; then
        echo "delete ${fs[i]}"
        [ "$dry" = --dry-run ] || rm -f "${fs[i]}"
      fi
    done
  done
  ;;
*) echo "binlog-archive.sh: unknown command $cmd" >&2; exit 2 ;;
esac
