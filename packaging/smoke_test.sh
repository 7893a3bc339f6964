#!/usr/bin/env bash
# Start a built Cairn bundle headless against a temporary data dir and expect exit 0 once its
# first window (the main window when a wallet exists) is ready; then the same for `cairn demo`,
# which starts devnet and the backup server as children of the bundle's own executable.
# Usage: smoke_test.sh PATH/TO/cairn   (a bundle's dist/cairn/cairn, or /usr/bin/cairn)
set -euo pipefail
BIN="$1"
DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
export QT_QPA_PLATFORM=offscreen

# What PyInstaller cannot see by itself: bdkpython's native library (loaded by ctypes) and the
# resources package (icons, style sheets), both looked up at run time.
INTERNAL="$(dirname "$(readlink -f "$BIN")")/_internal"
if [ -d "$INTERNAL" ]; then
    for file in bdkpython/libbdkffi.so cairn/resources/__init__.py cairn/resources/style.qss \
        cairn/resources/icons/cairn-256.png; do
        [ -f "$INTERNAL/$file" ] || { echo "smoke test: $file missing from the bundle" >&2; exit 1; }
    done
fi

# A wallet made headless first, so the bundle opens straight into the main window.
echo "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" \
    | "$BIN" wallet create --data-dir "$DATA" --network regtest --words-stdin --no-backup >/dev/null

timeout 120 "$BIN" --data-dir "$DATA" --quit-when-ready
echo "smoke test: the bundle started and its main window was ready" >&2

# The demo: devnet and `cairn backupd serve` must start from the bundle and answer.
if ! timeout 120 "$BIN" demo --data-dir "$DATA" --quit-when-ready 2>"$DATA/demo.err"; then
    cat "$DATA/demo.err" "$DATA"/demo/*.log >&2 || true
    echo "smoke test: cairn demo failed" >&2
    exit 1
fi
echo "smoke test: cairn demo started devnet and the backup server, and its window was ready" >&2
