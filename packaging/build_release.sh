#!/usr/bin/env bash
# Build the desktop bundle and the .deb, then smoke-test the bundle. Run before each release:
#   ./packaging/build_release.sh
# Output: dist/cairn/ (one-folder bundle) and dist/cairn_<version>_<arch>.deb
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CAIRN_EXTRAS=test,packaging source "$ROOT/scripts/bootstrap"

stage() { echo "== $1 ($SECONDS s so far)" >&2; }

stage "PyInstaller bundle"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/cairn.spec

stage "smoke test of the bundle"
"$ROOT/packaging/smoke_test.sh" "$ROOT/dist/cairn/cairn"

stage ".deb"
"$VENV/bin/python" "$ROOT/packaging/deb/build_deb.py" --bundle "$ROOT/dist/cairn" --out "$ROOT/dist"
echo "== done in $SECONDS s: bundle $(du -sh dist/cairn | cut -f1), $(ls -s --block-size=M dist/cairn_*.deb | tr '\n' ' ')" >&2
