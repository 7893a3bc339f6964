#!/usr/bin/env bash
# Release check: build the release twice from this commit, in two separate build directories
# (each with its own virtual environment), and show that every artifact is byte-identical.
#   ./packaging/check_reproducible.sh        (about 2 × 4 minutes on 2 cores)
# Exit status 0 when all artifacts match; otherwise the differing files are listed (diffoscope,
# if installed, shows where).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"
unset CAIRN_SIGNING_KEY  # signatures carry the signing time; the checksums are compared instead
for run in 1 2; do
    echo "== build $run of 2" >&2
    CAIRN_BUILD_DIR="$ROOT/build/repro-$run" "$ROOT/packaging/build_release.sh" "$ROOT/build/repro-$run/out"
done
if cmp -s build/repro-1/out/SHA256SUMS build/repro-2/out/SHA256SUMS; then
    echo "reproducible: both builds gave the same bytes:" >&2
    cat build/repro-1/out/SHA256SUMS
    exit 0
fi
echo "NOT reproducible: these artifacts differ between the two builds:" >&2
diff build/repro-1/out/SHA256SUMS build/repro-2/out/SHA256SUMS >&2 || true
exit 1
