#!/usr/bin/env bash
# Build the desktop bundle and the .deb, then smoke-test the bundle. Run before each release:
#   ./packaging/build_release.sh
# Output: dist/cairn/ (one-folder bundle) and dist/cairn_<version>_<arch>.deb
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CAIRN_EXTRAS=test,packaging source "$ROOT/scripts/bootstrap"

echo "== PyInstaller bundle" >&2
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/cairn.spec

echo "== smoke test of the bundle" >&2
"$ROOT/packaging/smoke_test.sh" "$ROOT/dist/cairn/cairn"

echo "== .deb" >&2
"$VENV/bin/python" "$ROOT/packaging/deb/build_deb.py" --bundle "$ROOT/dist/cairn" --out "$ROOT/dist"
