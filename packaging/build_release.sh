#!/usr/bin/env bash
# Build the release artifacts and smoke-test them. Run before each release, from a clean checkout
# of the release commit (see docs/RELEASING.md):
#   ./packaging/build_release.sh
# Output in dist/: cairn/ (the one-folder desktop bundle), cairn_<version>_<arch>.deb, and
# cairn-<version>-py3-none-any.whl (what a server installs with pip, see docs/INSTALL.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ -n "$(git status --porcelain --untracked-files=normal -- app resources packaging 2>/dev/null)" ]; then
    echo "cairn: warning: uncommitted changes under app/, resources/ or packaging/ go into this build" >&2
fi

# The test extras include PyInstaller (the bundle is also built by a slow test).
CAIRN_EXTRAS=test source "$ROOT/scripts/bootstrap"

stage() { echo "== $1 ($SECONDS s so far)" >&2; }

stage "PyInstaller bundle"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/cairn.spec

stage "smoke test of the bundle"
"$ROOT/packaging/smoke_test.sh" "$ROOT/dist/cairn/cairn"

stage ".deb"
rm -f "$ROOT"/dist/cairn_*.deb
"$VENV/bin/python" "$ROOT/packaging/deb/build_deb.py" --bundle "$ROOT/dist/cairn" --out "$ROOT/dist"

stage "wheel"
rm -f "$ROOT"/dist/cairn-*.whl
# setuptools' warnings about the resources/ mapping are noise here: shown only if the build fails.
mkdir -p "$ROOT/build"
if ! "$VENV/bin/pip" wheel --quiet --no-deps --wheel-dir "$ROOT/dist" "$ROOT" >"$ROOT/build/wheel.log" 2>&1; then
    cat "$ROOT/build/wheel.log" >&2
    exit 1
fi

echo "== done in $SECONDS s: bundle $(du -sh dist/cairn | cut -f1); $(cd dist && ls -s --block-size=M ./*.deb ./*.whl | tr '\n' ' ')" >&2
