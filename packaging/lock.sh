#!/usr/bin/env bash
# Regenerate packaging/requirements.lock: every distribution the release bundles are built from
# (the app extra, which includes the server and the devnet, plus PyInstaller), pinned with the
# sha256 of every file PyPI has for it. Only PyPI is asked, whatever pip is configured with.
#   ./packaging/lock.sh          (needs pip-tools: a throwaway venv is made in build/lock-venv)
# Commit the result; build_release.sh installs exactly it with --require-hashes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/build/lock-venv"
[ -x "$TOOLS/bin/pip-compile" ] || { python3 -m venv "$TOOLS" && "$TOOLS/bin/pip" install --quiet pip-tools; }
env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    "$TOOLS/bin/pip-compile" --quiet --extra app --extra packaging --generate-hashes \
    --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url \
    --index-url https://pypi.org/simple --no-emit-index-url \
    --output-file packaging/requirements.lock pyproject.toml
# pip-compile lists the project itself (its extras name cairn[server,devnet]); the bundles are
# built from the source tree, so that line and its pip-tools warning go.
python3 - <<'PY'
import re
from pathlib import Path

lock = Path("packaging/requirements.lock")
text = re.sub(
    r"# WARNING: pip install will require the following package to be hashed\.\n"
    r"# Consider using a hashable URL like [^\n]*\n"
    r"cairn @ file://[^\n]*\n(?:    # [^\n]*\n)*",
    "",
    lock.read_text(),
)
assert "cairn @" not in text
lock.write_text(text)
PY
echo "packaging/requirements.lock: $(grep -c '==' packaging/requirements.lock) distributions" >&2
