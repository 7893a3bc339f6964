"""The root of every error the user can act on, as opposed to a bug.

An error is a `UserError` when its message says what happened and what the user can do about
it (a server that cannot be reached, a wallet already there, an address that is refused): the
screens show that message as advice. Any other exception is ours — a bug — and is shown as
such, never as advice, with the details in the log. What the user or another program wrote
(an address, a label) goes into a message or an output line through `printable`.
"""

from __future__ import annotations

__all__ = ["RefusedInput", "UserError", "printable", "undecodable"]


class UserError(Exception):
    """Something the user can act on; the message says what happened and what to do."""


class RefusedInput(UserError, ValueError):
    """What the user typed is refused (an address, an amount, an email); the message says why."""


class SessionError(UserError):
    """Something the user can act on (server down, no server set); the message says what."""


def undecodable(text: str) -> bool:
    """Whether `text` holds bytes that were not UTF-8: Python passes those on (from the command
    line, a file read with "surrogateescape", a JSON escape such as "\\udcff") as lone
    surrogates, which no file, record or screen can take. Every check of text the user gives
    refuses it with its own message."""
    # Encoding refuses exactly the lone surrogates, at C speed: every label is checked as the
    # wallet loads, on a thread beside the event loop.
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(text: str) -> str:
    """`text` with control characters shown as escapes (`\\n`, `\\x1b`): a label, a value or
    an argument written elsewhere must not move the cursor or recolour the terminal it is
    printed on, and stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
