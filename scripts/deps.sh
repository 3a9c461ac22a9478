#!/usr/bin/env bash
# Installs what Pola needs from Debian's packages, if it is missing. Idempotent; run as root.
set -euo pipefail

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
command -v mariabackup >/dev/null 2>&1 || need+=(mariadb-backup) # backups and point-in-time restores
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need+=(cmake) # pingora-core builds zlib-ng with it
[ -f /usr/include/modsecurity/modsecurity.h ] || need+=(libmodsecurity-dev) # the edge's WAF
[ -d /usr/share/modsecurity-crs/rules ] || need+=(modsecurity-crs)         # OWASP Core Rule Set
command -v openssl >/dev/null 2>&1 || need+=(openssl) # the edge's TLS test makes its certificates
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server) # events (a private node)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv) # the SMTP sink (aiosmtpd)
# The storefront's Sinhala and Tamil fonts, and woff2_compress to make them small for phones.
[ -f /usr/share/fonts/truetype/noto/NotoSansSinhala-Regular.ttf ] || need+=(fonts-noto-core)
command -v woff2_compress >/dev/null 2>&1 || need+=(woff2)
# APM: a private OpenSearch node, assembled from Maven Central and run on Java 17.
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ "${1:-}" = "--browser" ]; then
  # The storefront's browser tests: a real Chromium driven over WebDriver.
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
fi
if [ "${1:-}" = "--nginx" ]; then
  # Only for `make bench`, to compare the edge with nginx + ModSecurity + the same CRS.
  command -v nginx >/dev/null 2>&1 || need+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || need+=(libnginx-mod-http-modsecurity)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing from Debian: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install the Rust toolchain (rustup) first" >&2
  exit 1
fi
