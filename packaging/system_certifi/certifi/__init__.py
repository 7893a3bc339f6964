"""certifi for the bundle: the system's CA store instead of a frozen copy of Mozilla's.

httpx asks `certifi.where()` for its trust anchors. The bundle ships this module in place of
certifi, so certificates the system trusts (or distrusts) after an update count for the app too,
and a company CA installed with update-ca-certificates works.
"""

from __future__ import annotations

import os
import ssl

# The CA bundle of each distribution family, the first that exists wins.
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # RHEL family
    "/etc/ssl/cert.pem",  # Alpine, macOS
)

__version__ = "system"


def where() -> str:
    """The path of the system's CA bundle (SSL_CERT_FILE first, as OpenSSL does)."""
    candidates = (
        os.environ.get("SSL_CERT_FILE", ""),
        ssl.get_default_verify_paths().cafile or "",
        *SYSTEM_BUNDLES,
    )
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    raise FileNotFoundError(
        "no CA certificate bundle found on this system: install the ca-certificates package"
    )


def contents() -> str:
    with open(where(), encoding="ascii") as bundle:
        return bundle.read()
