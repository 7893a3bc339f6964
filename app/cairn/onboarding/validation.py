"""Validation of the free-text fields of the wizard: email address and backup server URL."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_LOOPBACK_NAMES = frozenset({"localhost"})


def email_problem(email: str) -> str | None:
    """None when `email` looks like an address a person could receive mail at."""
    text = email.strip()
    if not text:
        return "Enter an email address, or skip this step."
    if len(text) > 254 or not _EMAIL.match(text):
        return "This does not look like an email address (name@example.com)."
    return None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_url_problem(url: str) -> str | None:
    """None when `url` is usable as a backup server: https, or plain http on this machine only."""
    text = url.strip()
    if not text:
        return "Enter the address of your backup server."
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Enter a full address such as https://backup.example.com."
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "Use https: plain http is only allowed for a server on this computer."
    if parts.query or parts.fragment:
        return "The address must not contain ? or #."
    return None


def normalise_server_url(url: str) -> str:
    return url.strip().rstrip("/")
