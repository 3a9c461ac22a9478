#!/usr/bin/env bash
# Prunes the backups to their retention: keeps every chain (a full backup and the incremental
# ones taken after it) that a restore to any moment of the last KEEP_DAYS days needs — those
# started since then and the newest one started before — and never fewer than the newest
# KEEP_FULLS chains; deletes older chains and rebuild copies older than KEEP_DAYS. Backups are
# named `<UTC start, %Y%m%dT%H%M%S>-full|incremental`. Prints what it keeps and deletes, and last
# `archive-needed-after <GTID>`: the oldest backup kept holds every transaction up to there, so
# the binary-log archive before it can go (binlog-archive.sh prune).
#
#   backup-prune.sh BACKUP_ROOT KEEP_DAYS KEEP_FULLS [--dry-run]
set -euo pipefail
root=${1:?backup root} days=${2:?days} fulls=${3:?fulls} dry=${4:-}
cutoff=$(date -u -d "-$days days" +%Y%m%dT%H%M%S)

mapfile -t chain < <(find "$root" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+T[0-9]+-\(full\|incremental\)' -printf '%f\n' | sort)
mapfile -t full < <(printf '%s\n' "${chain[@]}" | grep -- '-full$' || true)
if [ ${#full[@]} -eq 0 ]; then
  echo "no full backup in $root: nothing pruned"
  exit 0
fi
# The oldest full backup kept: the newest one started before the cutoff (or the oldest there is),
# or older still when fewer than KEEP_FULLS would be left.
keep=0
for ((i = 0; i < ${#full[@]}; i++)); do [[ ${full[i]} < $cutoff ]] && keep=$i; done
((${#full[@]} - keep < fulls)) && keep=$((${#full[@]} > fulls ? ${#full[@]} - fulls : 0))
oldest=${full[keep]}

remove() {
  echo "delete $1"
  [ "$dry" = --dry-run ] || rm -rf "$1"
}
for b in "${chain[@]}"; do
  if [[ $b < $oldest ]]; then remove "$root/$b"; else echo "keep $root/$b"; fi
done
while read -r r; do remove "$r"; done < <(find "$root" -mindepth 1 -maxdepth 1 -type d -name 'rebuild-*' -not -newermt "@$(date -d "-$days days" +%s)")

echo "archive-needed-after $(awk '{ print $NF }' "$root/$oldest/xtrabackup_binlog_info")"
