#!/usr/bin/env bash
# Build the release artifacts and smoke-test them. Run before each release, from a clean checkout
# of the release commit (see docs/RELEASING.md):
#   ./packaging/build_release.sh [OUT_DIR]          (default: dist/)
# Output in OUT_DIR: cairn_<version>_<arch>.deb (the desktop app), cairn-backupd_<version>_<arch>.deb
# (the server), cairn-<version>-py3-none-any.whl (the package, for pip), SHA256SUMS and, when a
# signing key is given (CAIRN_SIGNING_KEY, see docs/RELEASING.md), SHA256SUMS.asc.
#
# The bundles are built from packaging/requirements.lock (hash-checked) in their own virtual
# environment, never from the development one; every timestamp is SOURCE_DATE_EPOCH (the release
# commit's time unless set), so two builds of one commit give the same bytes
# (packaging/check_reproducible.sh shows it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)"
WORK="${CAIRN_BUILD_DIR:-$ROOT/build}"
PYTHON="${PYTHON:-python3}"

if [ -n "$(git status --porcelain --untracked-files=normal -- app resources packaging pyproject.toml setup.py LICENSE 2>/dev/null)" ]; then
    echo "cairn: warning: uncommitted changes go into this build, which is then not the commit's" >&2
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"
# PyInstaller's archives are the same bytes only with a fixed hash seed.
export PYTHONHASHSEED=0
export TZ=UTC LC_ALL=C.UTF-8

stage() { echo "== $1 ($SECONDS s so far)" >&2; }

stage "build environment from packaging/requirements.lock"
VENV="$WORK/release-venv"
STAMP="$(cat packaging/requirements.lock | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.lock-installed" 2>/dev/null || true)" != "$STAMP" ]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    # Only what the lock names, each file checked against its hash; no resolver.
    if ! "$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps --only-binary=:all: \
        -r packaging/requirements.lock >"$WORK/release-venv.log" 2>&1; then
        cat "$WORK/release-venv.log" >&2
        exit 1
    fi
    echo "$STAMP" >"$VENV/.lock-installed"
fi

bundle() {  # bundle SPEC NAME
    "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
        --distpath "$WORK/dist" --workpath "$WORK/pyinstaller" "packaging/$1"
    "$VENV/bin/python" packaging/deb/copyright.py \
        --manifest "$WORK/pyinstaller/$2/bundle-manifest.json" --install-dir "$3" \
        --executable "$2" --out "$WORK/$2.copyright"
}

stage "PyInstaller bundle of the app"
bundle cairn.spec cairn opt/cairn
stage "PyInstaller bundle of the server"
bundle cairn-backupd.spec cairn-backupd opt/cairn-backupd/bin

stage "smoke test of the bundles"
"$ROOT/packaging/smoke_test.sh" "$WORK/dist/cairn/cairn"
"$WORK/dist/cairn-backupd/cairn-backupd" --version >/dev/null
"$WORK/dist/cairn-backupd/cairn-backupd" stats --db "$WORK/smoke-backupd.sqlite" >/dev/null
rm -f "$WORK"/smoke-backupd.sqlite*

stage ".deb packages"
rm -f "$OUT"/cairn_*.deb "$OUT"/cairn-backupd_*.deb
"$VENV/bin/python" packaging/deb/build_deb.py --package cairn --bundle "$WORK/dist/cairn" \
    --copyright "$WORK/cairn.copyright" --out "$OUT" >/dev/null
"$VENV/bin/python" packaging/deb/build_deb.py --package cairn-backupd \
    --bundle "$WORK/dist/cairn-backupd" --copyright "$WORK/cairn-backupd.copyright" --out "$OUT" >/dev/null

stage "wheel"
rm -f "$OUT"/cairn-*.whl
# setuptools' warnings about the resources/ mapping are noise here: shown only if the build fails.
if ! "$VENV/bin/pip" wheel --quiet --no-deps --wheel-dir "$OUT" "$ROOT" >"$WORK/wheel.log" 2>&1; then
    cat "$WORK/wheel.log" >&2
    exit 1
fi

stage "checksums and signature"
"$ROOT/packaging/sign_release.sh" "$OUT"

echo "== done in $SECONDS s: $(cd "$OUT" && ls -s --block-size=M ./*.deb ./*.whl | tr '\n' ' ')" >&2
