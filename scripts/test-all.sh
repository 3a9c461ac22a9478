#!/usr/bin/env bash
# Runs every test `cargo test --workspace --locked` runs, then the API suite again through
# pola-edge and its WAF, one binary after another. Each test binary runs from its package's
# folder, as cargo runs it. Prints each binary's output as it ends, and a table of wall and CPU
# times at the end. Exits non-zero if any binary failed (every binary still runs).
#
#   TEST_LANES        1 runs every binary in one lane; 2 (the default) runs the two-site suites
#                     (they mostly wait on playbooks, MariaDB and replication: 500 s of CPU in
#                     880 s) in a second lane beside the rest, each lane drawing its test ports
#                     from a range of its own
#   TEST_LANE_SITES   test targets of that second lane (default: two_sites, apm, reports and
#                     terraform; alerts runs in the first, so that the lanes take about as long)
#   TEST_ALONE        test targets run before the lanes, alone on the machine (default: edge,
#                     whose failover tests time health checks: with a second lane's load a DC
#                     busy hashing a thousand passwords paused its answers past the checks'
#                     grace and the edge moved to DR)
#   API_TEST_THREADS  tests of the API suite run at once (default 4): they mostly wait on MariaDB,
#                     and two at a time (cargo's default here) left the two cores a third idle
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
logs=$root/var/test-logs
rm -rf "$logs"
mkdir -p "$logs"
sites_lane=" ${TEST_LANE_SITES:-two_sites apm reports terraform} "
lanes=${TEST_LANES:-2}
alone=" ${TEST_ALONE:-edge} "
api_threads=${API_TEST_THREADS:-4}

echo "building every test binary"
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics >"$logs/build.json"
# "target<TAB>package folder<TAB>executable", in cargo's order (test targets' names are unique).
python3 - "$logs/build.json" >"$logs/binaries.tsv" <<'EOF'
import json, os, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m["profile"]["test"] or not m.get("executable"):
        continue
    kind, name = m["target"]["kind"][0], m["target"]["name"]
    if kind != "test":
        name = f"{kind}-{name}"  # unit tests: a library and a binary may share a name
    print(name, os.path.dirname(m["manifest_path"]), m["executable"], sep="\t")
EOF

# run LANE NAME FOLDER EXECUTABLE [VAR=VALUE...]: one binary, its output kept, then printed whole.
run() {
    local lane=$1 name=$2 dir=$3 exe=$4
    shift 4
    local log="$logs/$lane.$name.log" status=0 start=$SECONDS
    local TIMEFORMAT="%U %S"
    # Not on the list's stdin: a test's children (ansible, a server) would read the rest of it.
    { time (cd "$dir" && env "$@" "$exe" >"$log" 2>&1 </dev/null); } 2>"$log.cpu" || status=$?
    local wall=$((SECONDS - start))
    read -r user sys <"$log.cpu"
    local verdict=ok
    [ "$status" = 0 ] || verdict="FAILED (exit $status)"
    printf '%-6s %-28s %-20s %6s s wall %6.0f s CPU\n' "$lane" "$name" "$verdict" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >>"$logs/times.txt"
    flock "$logs/print.lock" bash -c 'echo; echo "=== [$1] $2: $3 in $4 s"; cat "$5"' _ "$lane" "$name" "$verdict" "$wall" "$log"
    [ "$status" = 0 ]
}

lane() {
    local lane=$1 ports=$2 failed=0
    shift 2
    while IFS=$'\t' read -r name dir exe <&3; do
        case "$sites_lane" in *" $name "*) theirs=sites ;; *) theirs=main ;; esac
        case "$alone" in *" $name "*) theirs=alone ;; esac
        [ "$lanes" = 2 ] || theirs=main
        if [ "$theirs" = "$lane" ]; then
            threads=()
            [ "$name" != api ] || threads=(RUST_TEST_THREADS="$api_threads")
            run "$lane" "$name" "$dir" "$exe" POLA_TEST_PORTS="$ports" "${threads[@]}" || failed=1
        fi
    done 3<"$logs/binaries.tsv"
    if [ "$lane" = main ]; then
        IFS=$'\t' read -r _ dir exe < <(grep -P '^api\t' "$logs/binaries.tsv")
        run main api-through-edge "$dir" "$exe" POLA_TEST_PORTS="$ports" RUST_TEST_THREADS="$api_threads" POLA_TEST_EDGE="$root/target/debug/pola-edge" || failed=1
    fi
    return $failed
}

start=$SECONDS
main_failed=0
sites_failed=0
if [ "$lanes" = 2 ]; then
    lane alone 15000-19999 || main_failed=1
    lane sites 10000-14999 &
    sites=$!
    lane main 15000-19999 || main_failed=1
    wait $sites || sites_failed=1
else
    lane main 10000-19999 || main_failed=1
fi

echo
echo "=== tests: $((SECONDS - start)) s in all"
cat "$logs/times.txt"
[ $main_failed = 0 ] && [ $sites_failed = 0 ]
