#!/usr/bin/env bash
# A private Python under var/venv with the stand-ins Pola's sinks and tests take from PyPI:
# aiosmtpd (a real SMTP server) and payhere-sim (a third party's stand-in for PayHere's hosted
# checkout and its signed notifications). Idempotent; prints the interpreter's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/var/venv"
if ! "$venv/bin/python" -c 'import aiosmtpd, payhere_sim' >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6' 'payhere-sim==0.1.0' >&2
fi
echo "$venv/bin/python"
