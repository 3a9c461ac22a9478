#!/usr/bin/env bash
# A private single-node OpenSearch 2.19 under ./var, on its own port, never the system's.
#
#   scripts/opensearch.sh start NAME PORT   create (first time) and start var/NAME, HTTP on 127.0.0.1:PORT
#   scripts/opensearch.sh stop NAME         stop it (SIGTERM, then SIGKILL after 30 s)
#
# No registry ships OpenSearch's tarball, so scripts/opensearch/ (a pom and a small main, LocalNode)
# assembles one from Maven Central: the server jar plus the modules a distribution ships (netty4,
# painless, analysis-common, mapper-extras, reindex, parent-join) as classpath plugins. The first
# start builds it into var/opensearch-dist/lib (jars come from ~/.m2, fetched once per machine);
# later starts reuse it and rebuild only when a file under scripts/opensearch/ changed.
#
# The node listens on loopback only: HTTP on PORT, transport on the first free port from
# PORT+10000. No security plugin (plain HTTP, no logins), no ISM plugin (not on Maven Central).
# Disk watermarks are off: these disks run 80% full. Data survives a stop; the log is
# var/NAME/logs/console.log. Java 17 (OpenSearch 2.19 does not take newer than 21; 3.x needs 21).
set -euo pipefail

cmd=${1:?usage: opensearch.sh start|stop NAME [PORT]}
name=${2:?instance name}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/$name"
src="$root/scripts/opensearch"
dist="$root/var/opensearch-dist"
pidfile="$dir/opensearch.pid"
log="$dir/logs/console.log"
java=${OPENSEARCH_JAVA:-java} # Java 17 by default, whatever JAVA_HOME or PATH say
for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do [ -z "${OPENSEARCH_JAVA:-}" ] && [ -x "$j" ] && java=$j; done

running() { # true when the pid file names a live LocalNode
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "org.pola.opensearch.LocalNode $dir "
}

alive() { # PID: true while it runs (a dead child of this shell lingers as a zombie until reaped)
  [ -r "/proc/$1/stat" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat"
}

build() { # var/opensearch-dist/lib: every jar of the node, rebuilt when scripts/opensearch/ changes
  local stamp
  stamp=$(cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  [ "$(cat "$dist/stamp" 2>/dev/null)" = "$stamp" ] && return 0
  mkdir -p "$dist"
  { # one build at a time: two instances may start together
    flock 9
    [ "$(cat "$dist/stamp" 2>/dev/null)" = "$stamp" ] && return 0
    echo "building OpenSearch from Maven Central into var/opensearch-dist (once per change under scripts/opensearch/; 5-15 s)"
    rm -rf "${dist:?}/lib" "$dist/build" "$dist/stamp" "$dist/cds.jsa"
    if ! JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v "$java")")")") \
      mvn -B -q -f "$src/pom.xml" -Ddist.dir="$dist" package >"$dist/build.log" 2>&1; then
      echo "building OpenSearch failed; see $dist/build.log:" >&2
      tail -30 "$dist/build.log" >&2
      exit 1
    fi
    echo "$stamp" >"$dist/stamp"
  } 9>"$dist/.lock"
}

case "$cmd" in
start)
  port=${3:?port}
  url="http://127.0.0.1:$port"
  if running; then
    echo "opensearch $name is already running on 127.0.0.1:$(cat "$dir/port")"
    exit 0
  fi
  rc=0
  answer=$(curl -s --max-time 5 "$url/") || rc=$?
  if [ "$rc" != 7 ]; then # 7: nothing listens
    if ! grep -q '"distribution" *: *"opensearch"' <<<"$answer"; then
      echo "something that is not OpenSearch holds 127.0.0.1:$port; pick another port" >&2
      exit 1
    fi
    # Another checkout's private node holds the port: tests work in indices of their own
    # anyway — unless that checkout was deleted under it.
    other=$(curl -s --max-time 5 "$url/_nodes/_local/settings?filter_path=nodes.*.settings.path.home" \
      | grep -o '"home":"[^"]*"' | cut -d'"' -f4 || true)
    if [ "$other" = "$dir" ]; then
      echo "opensearch $name is already running on 127.0.0.1:$port (but its pid file is gone: stop it by hand)"
      exit 0
    fi
    if [ -n "$other" ] && [ ! -d "$other" ]; then
      echo "the OpenSearch on 127.0.0.1:$port lost its folder $other (its checkout was deleted?); stop it first" >&2
      exit 1
    fi
    echo "an OpenSearch from elsewhere (${other:-unknown home}) already answers on 127.0.0.1:$port; using it"
    exit 0
  fi
  build
  mkdir -p "$dir/logs" "$dir/tmp"
  [ -f "$log" ] && mv "$log" "$log.1"
  # Class data sharing halves the start on these 2 cores (most of it is loading classes): the
  # first node of a build records the classes it loaded when it stops, later starts map them.
  if [ -f "$dist/cds.jsa" ]; then
    cds=(-XX:SharedArchiveFile="$dist/cds.jsa")
  else
    cds=(-XX:ArchiveClassesAtExit="$dir/cds.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
    cp "$dist/stamp" "$dir/cds.stamp"
  fi
  # The flags a distribution's jvm.options sets that matter here; 512 MB of heap.
  nohup "$java" -Xms512m -Xmx512m -XX:MaxDirectMemorySize=256m -XX:+UseG1GC -Xss1m \
    -XX:-OmitStackTraceInFastThrow -Djava.io.tmpdir="$dir/tmp" -Dfile.encoding=UTF-8 \
    -Djava.awt.headless=true -Djna.nosys=true -Djava.locale.providers=SPI,COMPAT \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true \
    -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0 \
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true \
    "${cds[@]}" -cp "$dist/lib/*" org.pola.opensearch.LocalNode "$dir" "$port" >"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  echo "$port" >"$dir/port"
  deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! alive "$pid"; then
      echo "opensearch $name exited during start; see $log:" >&2
      tail -30 "$log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    if curl -s --max-time 5 "$url/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null \
      | grep -Eq '"status":"(green|yellow)"'; then
      # One node holds no replica: new indices get none, or they would stay yellow. (A node
      # setting would not do: index creation reads this from the cluster's persistent settings.)
      curl -s --max-time 10 -XPUT "$url/_cluster/settings" -H 'Content-Type: application/json' \
        -d '{"persistent":{"cluster.default_number_of_replicas":0}}' | grep -q '"acknowledged":true' \
        || echo "opensearch $name: could not set cluster.default_number_of_replicas=0" >&2
      echo "opensearch $name is up on 127.0.0.1:$port (data in var/$name)"
      exit 0
    fi
    sleep 0.5
  done
  echo "opensearch $name did not come up within 120 s; stopping it. See $log:" >&2
  tail -30 "$log" >&2
  bash "$root/scripts/opensearch.sh" stop "$name" >&2
  exit 1
  ;;
stop)
  if running; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 150); do
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      echo "opensearch $name did not stop within 30 s; killing it" >&2
      kill -KILL "$pid"
      while alive "$pid"; do sleep 0.1; done
    fi
    echo "opensearch $name stopped"
  fi
  rm -f "$pidfile"
  # The class list this node recorded serves every later start of the same build.
  if [ -f "$dir/cds.jsa" ] && [ ! -f "$dist/cds.jsa" ] && cmp -s "$dir/cds.stamp" "$dist/stamp"; then
    mv "$dir/cds.jsa" "$dist/cds.jsa"
  fi
  rm -f "$dir/cds.jsa" "$dir/cds.stamp"
  ;;
*)
  echo "usage: opensearch.sh start|stop NAME [PORT]" >&2
  exit 2
  ;;
esac
