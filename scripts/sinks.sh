#!/usr/bin/env bash
# `make run`'s stand-ins for the outside world: an SMTP server (aiosmtpd) on 127.0.0.1:2525 that
# keeps every message under var/mail/Maildir/new, and an SMS gateway on 127.0.0.1:2580 that
# writes every message it is given to var/sms/<time>.json.
#
#   scripts/sinks.sh start | stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"
case "${1:?usage: sinks.sh start|stop}" in
start)
  python=$(bash "$root/scripts/python.sh")
  mkdir -p "$var/mail" "$var/sms" # aiosmtpd makes the Maildir itself
  if [ ! -f "$var/mail/smtp.pid" ] || ! kill -0 "$(cat "$var/mail/smtp.pid")" 2>/dev/null; then
    "$python" -m aiosmtpd -n -l 127.0.0.1:2525 -c aiosmtpd.handlers.Mailbox "$var/mail/Maildir" \
      >"$var/mail/smtp.log" 2>&1 &
    echo $! >"$var/mail/smtp.pid"
  fi
  if [ ! -f "$var/sms/gateway.pid" ] || ! kill -0 "$(cat "$var/sms/gateway.pid")" 2>/dev/null; then
    "$python" "$root/scripts/sms_gateway.py" 127.0.0.1 2580 "$var/sms" >"$var/sms/gateway.log" 2>&1 &
    echo $! >"$var/sms/gateway.pid"
  fi
  echo "mail sink on 127.0.0.1:2525 (var/mail/Maildir/new), SMS sink on 127.0.0.1:2580 (var/sms)"
  ;;
stop)
  for pid in "$var/mail/smtp.pid" "$var/sms/gateway.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    rm -f "$pid"
  done
  ;;
esac
