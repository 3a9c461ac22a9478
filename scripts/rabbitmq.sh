#!/usr/bin/env bash
# A private RabbitMQ node under ./var, on its own ports, never the system's.
#
#   scripts/rabbitmq.sh start NAME PORT   create (first time) and start var/NAME on 127.0.0.1:PORT
#   scripts/rabbitmq.sh stop NAME         stop it (and its epmd)
#
# The node listens for AMQP on PORT, for Erlang distribution on PORT+20000 and runs its own
# epmd on PORT+10000, so it clashes neither with a system RabbitMQ (5672, 25672, epmd 4369) nor
# with another private node. Durable queues survive a restart.
set -euo pipefail

cmd=${1:?usage: rabbitmq.sh start|stop NAME [PORT]}
name=${2:?instance name}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/$name"
bin=/usr/lib/rabbitmq/bin

node_env() { # PORT: the environment of this node
  local port=$1
  export HOME="$dir/home"
  export RABBITMQ_NODENAME="$name@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT=$((port + 20000))
  export ERL_EPMD_PORT=$((port + 10000))
  # epmd and Erlang distribution on loopback only, like AMQP.
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  # rabbitmqctl asking a node that is not up leaves a crash dump: here, not in the caller's folder.
  export ERL_CRASH_DUMP="$dir/erl_crash.dump"
}

case "$cmd" in
start)
  port=${3:?port}
  node_env "$port"
  if "$bin/rabbitmqctl" -q status >/dev/null 2>&1; then
    echo "rabbitmq $name is already running on 127.0.0.1:$port"
    exit 0
  fi
  mkdir -p "$HOME" "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
  touch "$RABBITMQ_CONF_ENV_FILE"
  echo "[]." >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  # The guest user may sign in from loopback only (RabbitMQ's default); nothing else listens.
  cat >"$RABBITMQ_CONFIG_FILE.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
loopback_users.guest = true
log.console = false
log.file.level = warning
CONF
  echo "$port" >"$dir/port"
  "$bin/rabbitmq-server" >"$RABBITMQ_LOG_BASE/console.log" 2>&1 &
  # `wait` returns once the node boots (about 6 s the first time), or fails if it dies.
  for _ in $(seq 1 100); do [ -f "$RABBITMQ_PID_FILE" ] && break; sleep 0.1; done
  if ! timeout 60 "$bin/rabbitmqctl" -q wait "$RABBITMQ_PID_FILE" >/dev/null; then
    echo "rabbitmq $name did not start; see $RABBITMQ_LOG_BASE" >&2
    exit 1
  fi
  echo "rabbitmq $name on 127.0.0.1:$port"
  ;;
stop)
  [ -f "$dir/port" ] || exit 0
  node_env "$(cat "$dir/port")"
  "$bin/rabbitmqctl" -q shutdown >/dev/null 2>&1 || true
  epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  ;;
*)
  echo "usage: rabbitmq.sh start|stop NAME [PORT]" >&2
  exit 2
  ;;
esac
