#!/usr/bin/env bash
# What the storefront's browser tests need: Debian's Chromium and ChromeDriver, and axe-core
# (from npm, under var/axe) to check pages for accessibility. Idempotent; prints axe's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh" --browser >&2
axe="$root/var/axe/node_modules/axe-core/axe.min.js"
if [ ! -f "$axe" ]; then
  mkdir -p "$root/var/axe"
  (cd "$root/var/axe" && npm install --no-audit --no-fund --silent 'axe-core@4.14.1' >&2)
fi
echo "$axe"
