#!/usr/bin/env bash
# Renders a headwise HTML report in headless Chromium (Debian's chromium package, installed with apt-get when
# missing) at a 1366-px-wide window and fails unless a non-empty PNG screenshot appears.
# Usage: tools/check-report-renders.sh REPORT.html [OUT.png]
#   HEADWISE_CHROMIUM=/path/to/chromium   use this browser binary instead of looking one up
#   WINDOW=1366,2400                      window size (width,height) of the screenshot
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 REPORT.html [OUT.png]" >&2
  exit 2
fi
report="$1"
if [ ! -f "$report" ]; then
  echo "check-report-renders: no such file: $report" >&2
  exit 2
fi
report="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
out="${2:-${report%.html}.png}"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
window="${WINDOW:-1366,2400}"

find_browser() {
  if [ -n "${HEADWISE_CHROMIUM:-}" ]; then
    echo "$HEADWISE_CHROMIUM"
    return
  fi
  for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then
      command -v "$b"
      return
    fi
  done
}

browser="$(find_browser || true)"
if [ -z "$browser" ]; then
  echo "check-report-renders: installing Debian's chromium package ..." >&2
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >&2
  browser="$(find_browser || true)"
  if [ -z "$browser" ]; then
    echo "check-report-renders: chromium is still not on the PATH after apt-get install" >&2
    exit 1
  fi
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
# the report must render offline: every network feature is off, and the page has no external resources anyway
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-dev-shm-usage --hide-scrollbars \
  --user-data-dir="$profile" --screenshot="$out" --window-size="$window" "file://$report" >"$profile/log" 2>&1 || {
  echo "check-report-renders: $browser failed:" >&2
  tail -20 "$profile/log" >&2
  exit 1
}
if [ ! -s "$out" ]; then
  echo "check-report-renders: no screenshot was written to $out" >&2
  tail -20 "$profile/log" >&2
  exit 1
fi
if [ "$(head -c 8 "$out" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
  echo "check-report-renders: $out is not a PNG" >&2
  exit 1
fi
echo "rendered $report -> $out ($(wc -c <"$out") bytes)"
