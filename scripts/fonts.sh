#!/usr/bin/env bash
# The storefront's Sinhala and Tamil fonts as WOFF2 (a third the size of Debian's TTF) under
# var/fonts, made once from Debian's Noto fonts. Idempotent; prints the folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/fonts"
mkdir -p "$dir"
for font in NotoSansSinhala-Regular NotoSansTamil-Regular; do
  if [ ! -f "$dir/$font.woff2" ]; then
    cp "/usr/share/fonts/truetype/noto/$font.ttf" "$dir/"
    woff2_compress "$dir/$font.ttf" >/dev/null
    rm "$dir/$font.ttf"
  fi
done
echo "$dir"
