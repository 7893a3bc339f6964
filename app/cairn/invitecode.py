"""An invite code for a backup server that admits new wallets by invite only: one check for the
wizard, Settings, config.json and the CLI.

The server's operator prints invites with `cairn-backupd invite`: 32 hex digits each. A code
typed or pasted with spaces, dashes or capitals is taken as the same code.
"""

from __future__ import annotations

import re

from cairn.usererrors import RefusedInput

_INVITE = re.compile(r"[0-9a-f]{32}")
_SEPARATORS = re.compile(r"[\s\-]+")


def normalise_invite(text: str) -> str:
    """The code as the server expects it ("" for none)."""
    return _SEPARATORS.sub("", text).lower()


def invite_problem(text: str) -> str | None:
    """None when `text` is empty (no invite) or a well-formed invite code, else what is wrong."""
    code = normalise_invite(text)
    if not code or _INVITE.fullmatch(code):
        return None
    return (
        "An invite code is 32 characters, digits and the letters a to f, as the server's "
        "operator gave it to you. Leave it empty if you were given none."
    )


def checked_invite(text: str) -> str | None:
    """The code normalised (None for none), or RefusedInput saying what is wrong with it."""
    problem = invite_problem(text)
    if problem is not None:
        raise RefusedInput(problem)
    return normalise_invite(text) or None
