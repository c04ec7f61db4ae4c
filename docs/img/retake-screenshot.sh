#!/usr/bin/env bash
# Retakes docs/img/prose-sim-sequence.png, the README's picture of sequence.html:
# runs the default scenario with --out, then has headless Chromium draw the page.
# Needs Debian's chromium (apt-get install chromium). Usage, from the repository root:
#   bash docs/img/retake-screenshot.sh [WIDTH HEIGHT]
set -euo pipefail
width=${1:-1400}
height=${2:-1800}
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "retake-screenshot: no chromium on PATH; install it (Debian: apt-get install chromium)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./cmd/prose-sim --quiet --out "$work/out" >/dev/null
# Flags: no sandbox (CI and root), no network or background services (the page
# is self-contained; this machine's network is closed), a throwaway profile.
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$work/profile" \
  --window-size="$width,$height" --screenshot="$work/shot.png" \
  "file://$work/out/sequence.html" 2>"$work/chromium.log" || {
  cat "$work/chromium.log" >&2
  exit 1
}
cp "$work/shot.png" docs/img/prose-sim-sequence.png
echo "retake-screenshot: docs/img/prose-sim-sequence.png (${width}x${height})"
