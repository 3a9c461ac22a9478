#!/usr/bin/env bash
# `make run`'s stand-ins for the outside world: an SMTP server (aiosmtpd) on 127.0.0.1:2525 that
# keeps every message under var/mail/Maildir/new, an SMS gateway on 127.0.0.1:2580 that writes
# every message it is given to var/sms/<time>.json, and PayHere's checkout (payhere-sim, from
# PyPI) on 127.0.0.1:9090 for the sandbox merchant of ansible/inventories/local.
#
#   scripts/sinks.sh start | stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
var="$root/var"
case "${1:?usage: sinks.sh start|stop}" in
start)
  python=$(bash "$root/scripts/python.sh")
  mkdir -p "$var/mail" "$var/sms" "$var/payhere" # aiosmtpd makes the Maildir itself
  if [ ! -f "$var/mail/smtp.pid" ] || ! kill -0 "$(cat "$var/mail/smtp.pid")" 2>/dev/null; then
    "$python" -m aiosmtpd -n -l 127.0.0.1:2525 -c aiosmtpd.handlers.Mailbox "$var/mail/Maildir" \
      >"$var/mail/smtp.log" 2>&1 &
    echo $! >"$var/mail/smtp.pid"
  fi
  if [ ! -f "$var/sms/gateway.pid" ] || ! kill -0 "$(cat "$var/sms/gateway.pid")" 2>/dev/null; then
    "$python" "$root/scripts/sms_gateway.py" 127.0.0.1 2580 "$var/sms" >"$var/sms/gateway.log" 2>&1 &
    echo $! >"$var/sms/gateway.pid"
  fi
  if [ ! -f "$var/payhere/sim.pid" ] || ! kill -0 "$(cat "$var/payhere/sim.pid")" 2>/dev/null; then
    PAYHERE_MERCHANT_ID=1221149 PAYHERE_MERCHANT_SECRET=pola-local-sandbox-secret \
      "$python" -m payhere_sim serve --host 127.0.0.1 --port 9090 >"$var/payhere/sim.log" 2>&1 &
    echo $! >"$var/payhere/sim.pid"
  fi
  echo "mail sink on 127.0.0.1:2525 (var/mail/Maildir/new), SMS sink on 127.0.0.1:2580 (var/sms)," \
    "PayHere's checkout (payhere-sim) on http://127.0.0.1:9090"
  ;;
stop)
  for pid in "$var/mail/smtp.pid" "$var/sms/gateway.pid" "$var/payhere/sim.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    rm -f "$pid"
  done
  ;;
esac
