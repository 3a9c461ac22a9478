#!/usr/bin/env bash
# A private MariaDB instance under ./var, on its own port, never the system's.
#
#   scripts/mariadb.sh start NAME PORT [fast]   create (first time) and start var/NAME on 127.0.0.1:PORT
#   scripts/mariadb.sh stop NAME                stop it
#
# `fast` trades durability for speed (no fsync per commit; the binary log is kept, unsynced, so
# that tests can read it): for throwaway test data only. Without it every commit is durable
# (sync_binlog=1, flush at commit).
set -euo pipefail

cmd=${1:?usage: mariadb.sh start|stop NAME [PORT] [fast]}
name=${2:?instance name}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/$name"
cnf="$dir/my.cnf"
sock="$dir/mysqld.sock"
mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)

case "$cmd" in
start)
  port=${3:?port}
  mode=${4:-durable}
  if mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
    echo "mariadb $name is already running on 127.0.0.1:$port"
    exit 0
  fi
  if mariadb-admin -h127.0.0.1 -P"$port" -uroot ping >/dev/null 2>&1; then
    # Another checkout's private instance holds the port; it takes the same logins, and every
    # user of it (tests, the bench) works in databases of its own — unless that checkout was
    # deleted under it.
    other=$(mariadb -h127.0.0.1 -P"$port" -uroot -N -e 'SELECT @@datadir')
    if [ ! -d "$other" ]; then
      echo "the MariaDB on 127.0.0.1:$port lost its data folder $other (its checkout was deleted?); stop it first" >&2
      exit 1
    fi
    echo "a MariaDB from elsewhere already answers on 127.0.0.1:$port; using it"
    exit 0
  fi
  mkdir -p "$dir/data" "$dir/tmp"
  if [ "$mode" = fast ]; then
    durability="log-bin = binlog
binlog-format = ROW
binlog_expire_logs_seconds = 86400
max_binlog_size = 64M
sync_binlog = 0
innodb_flush_log_at_trx_commit = 0
innodb_doublewrite = 0"
  else
    durability="log-bin = binlog
binlog-format = ROW
binlog_expire_logs_seconds = 604800
sync_binlog = 1
innodb_flush_log_at_trx_commit = 1"
  fi
  cat >"$cnf" <<CNF
[mariadbd]
datadir = $dir/data
socket = $sock
pid-file = $dir/mysqld.pid
log-error = $dir/error.log
tmpdir = $dir/tmp
port = $port
bind-address = 127.0.0.1
server-id = 1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
max_connections = 1000
innodb_buffer_pool_size = 256M
innodb_log_file_size = 128M
innodb_ft_min_token_size = 3
$durability
CNF
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --defaults-file="$cnf" --skip-test-db --auth-root-authentication-method=normal >"$dir/install.log" 2>&1 \
      || { cat "$dir/install.log" >&2; exit 1; }
  fi
  nohup "$mariadbd" --defaults-file="$cnf" --user=root >/dev/null 2>&1 &
  for _ in $(seq 1 100); do
    if mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
      # Loopback TCP logins as root without a password, for the private instance only.
      mariadb --socket="$sock" -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
      echo "mariadb $name is up on 127.0.0.1:$port (data in var/$name)"
      exit 0
    fi
    sleep 0.1
  done
  echo "mariadb $name did not start; see $dir/error.log:" >&2
  tail -20 "$dir/error.log" >&2
  exit 1
  ;;
stop)
  if mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
    mariadb-admin --socket="$sock" -uroot shutdown
    echo "mariadb $name stopped"
  fi
  ;;
*)
  echo "usage: mariadb.sh start|stop NAME [PORT] [fast]" >&2
  exit 2
  ;;
esac
