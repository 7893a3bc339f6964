"""The backup server's address as a user gives it: one check for the wizard, Settings and the CLI.

https anywhere; plain http only to this computer (loopback), where nobody can read or change the
traffic on the way; no query or fragment, which the protocol's paths have no room for.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from cairn.usererrors import RefusedInput

_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url_problem(url: str) -> str | None:
    """None when `url` is usable as a backup server, else what is wrong with it (a sentence)."""
    text = url.strip()
    if not text:
        return "Enter the address of your backup server."
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        return "Enter a full address such as https://backup.example.com."
    if parts.scheme not in ("http", "https") or not host:
        return "Enter a full address such as https://backup.example.com."
    if parts.scheme == "http" and not _is_loopback(host):
        return "Use https: plain http is only allowed for a server on this computer."
    if parts.query or parts.fragment:
        return "The address must not contain ? or #."
    return None


def normalise_server_url(url: str) -> str:
    return url.strip().rstrip("/")


def checked_server_url(url: str) -> str:
    """`url` normalised, or RefusedInput (a ValueError) saying what is wrong with it."""
    problem = server_url_problem(url)
    if problem is not None:
        raise RefusedInput(problem)
    return normalise_server_url(url)
