#!/usr/bin/env bash
# A row count and a checksum of every table of Pola's databases (`pola_*`), one line each:
# `<database>.<table> <rows> <checksum>`. With --snapshot, all are read in one consistent snapshot
# and the first lines are `gtid <the snapshot's GTID>` and `binlog <file> <position>` (where the
# snapshot stands in the binary log), so that a copy brought to that GTID must give the same lines. The other arguments connect the mariadb client.
#
#   table-checksums.sh [--snapshot] --socket=/run/mysqld/mysqld.sock --user=root
set -euo pipefail
snapshot=false
[ "${1:-}" = --snapshot ] && { snapshot=true; shift; }
client=(mariadb --batch --skip-column-names "$@")

# Each row's columns, QUOTE()d (so that NULL and 'NULL' differ), hashed; the table's checksum is
# the XOR of its rows' first 64 bits, which does not depend on the order rows are read in.
queries=$("${client[@]}" -e "
  SET SESSION group_concat_max_len = 1048576;
  SELECT CONCAT('SELECT ''', c.table_schema, '.', c.table_name, ''', COUNT(*), ',
                'COALESCE(BIT_XOR(CAST(CONV(LEFT(MD5(CONCAT_WS(''|'', ',
                GROUP_CONCAT(CONCAT('QUOTE(\`', c.column_name, '\`)') ORDER BY c.ordinal_position),
                ')), 16), 16, 10) AS UNSIGNED)), 0) FROM \`', c.table_schema, '\`.\`', c.table_name, '\`;')
  FROM information_schema.columns c
  JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
  WHERE c.table_schema LIKE 'pola\\_%' AND t.table_type = 'BASE TABLE'
  GROUP BY c.table_schema, c.table_name
  ORDER BY c.table_schema, c.table_name")

{
  if $snapshot; then
    echo "START TRANSACTION WITH CONSISTENT SNAPSHOT;"
    echo "SELECT variable_value INTO @file FROM information_schema.session_status WHERE variable_name = 'BINLOG_SNAPSHOT_FILE';"
    echo "SELECT variable_value INTO @pos FROM information_schema.session_status WHERE variable_name = 'BINLOG_SNAPSHOT_POSITION';"
    echo "SELECT 'gtid', BINLOG_GTID_POS(@file, @pos); SELECT 'binlog', @file, @pos;"
  fi
  echo "$queries"
  if $snapshot; then echo "COMMIT;"; fi
} | "${client[@]}" | tr '\t' ' '
