#!/usr/bin/env bash
# A private Python under var/venv with what Pola's sinks need from PyPI (aiosmtpd, a real SMTP
# server). Idempotent; prints the interpreter's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/var/venv"
if ! "$venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6' >&2
fi
echo "$venv/bin/python"
