"""Validation of the free-text fields of the wizard: email address, backup server URL and invite."""

from __future__ import annotations

import re

# The server address and the invite code have one check each for the wizard, Settings and the
# CLI alike.
from cairn.invitecode import invite_problem, normalise_invite
from cairn.serverurl import normalise_server_url, server_url_problem

__all__ = [
    "email_problem",
    "invite_problem",
    "normalise_invite",
    "normalise_server_url",
    "server_url_problem",
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


def email_problem(email: str) -> str | None:
    """None when `email` looks like an address a person could receive mail at."""
    text = email.strip()
    if not text:
        return "Enter an email address, or skip this step."
    if len(text) > 254 or not _EMAIL.match(text):
        return "This does not look like an email address (name@example.com)."
    return None
