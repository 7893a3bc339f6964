#!/usr/bin/env bash
# Start a built Cairn bundle headless against a temporary data dir and expect exit 0 once its
# first window (the main window when a wallet exists) is ready. Usage: smoke_test.sh PATH/TO/cairn
set -euo pipefail
BIN="$1"
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
export QT_QPA_PLATFORM=offscreen

# A wallet made headless first, so the bundle opens straight into the main window.
echo "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
    | "$BIN" wallet create --data-dir "$DATA" --network regtest --words-stdin --no-backup >/dev/null

timeout 120 "$BIN" --data-dir "$DATA" --quit-when-ready
echo "smoke test: the bundle started and its main window was ready" >&2
