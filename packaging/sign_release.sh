#!/usr/bin/env bash
# Write SHA256SUMS for the release artifacts in DIR and sign it (detached, ASCII-armoured).
#   sign_release.sh DIR
# The signing key comes from the environment, never from a file in the repository:
#   CAIRN_SIGNING_KEY             an ASCII-armoured OpenPGP secret key (gpg --export-secret-keys --armor)
#   CAIRN_SIGNING_KEY_PASSPHRASE  its passphrase, if it has one
# It is imported into a throwaway GnuPG home that is deleted afterwards. Without
# CAIRN_SIGNING_KEY only SHA256SUMS is written (and the script says so), unless
# CAIRN_REQUIRE_SIGNATURE=1, when that is an error. Verifying: docs/INSTALL.md.
set -euo pipefail
DIR="$(cd "$1" && pwd)"
cd "$DIR"
shopt -s nullglob
artifacts=(./*.deb ./*.whl)
if [ "${#artifacts[@]}" -eq 0 ]; then
    echo "sign_release: no .deb or .whl in $DIR" >&2
    exit 1
fi
rm -f SHA256SUMS SHA256SUMS.asc
LC_ALL=C sha256sum -- "${artifacts[@]#./}" | LC_ALL=C sort -k2 >SHA256SUMS

if [ -z "${CAIRN_SIGNING_KEY:-}" ]; then
    if [ "${CAIRN_REQUIRE_SIGNATURE:-0}" = 1 ]; then
        echo "sign_release: CAIRN_SIGNING_KEY is not set, and a signature is required" >&2
        exit 1
    fi
    echo "sign_release: SHA256SUMS written, NOT signed (set CAIRN_SIGNING_KEY to sign)" >&2
    exit 0
fi
GNUPGHOME="$(mktemp -d)"
export GNUPGHOME
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
printf '%s\n' "$CAIRN_SIGNING_KEY" | gpg --batch --quiet --import 2>/dev/null
fingerprint="$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')"
if [ -z "$fingerprint" ]; then
    echo "sign_release: CAIRN_SIGNING_KEY holds no OpenPGP secret key" >&2
    exit 1
fi
gpg --batch --quiet --pinentry-mode loopback --passphrase "${CAIRN_SIGNING_KEY_PASSPHRASE:-}" \
    --local-user "$fingerprint" --armor --detach-sign --output SHA256SUMS.asc SHA256SUMS
echo "sign_release: SHA256SUMS signed by $fingerprint" >&2
