#!/usr/bin/env bash
# Ansible for the two-site playbooks, from PyPI into var/ansible (Galaxy cannot be reached: the
# full `ansible` package carries community.mysql and the other collections). Idempotent; prints
# the ansible-playbook path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/var/ansible"
pins=(ansible==12.3.0 ansible-core==2.19.14 ansible-lint==26.10.1 PyMySQL==1.2.4)
if ! "$venv/bin/python" -c 'import pymysql, ansible_collections.community.mysql' >/dev/null 2>&1 \
  || [ ! -x "$venv/bin/ansible-lint" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}" >&2
fi
echo "$venv/bin/ansible-playbook"
