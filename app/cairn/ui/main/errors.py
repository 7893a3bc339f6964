"""Which exceptions the user sees as advice, and which are bugs shown only as a short notice."""

from __future__ import annotations

import logging

from cairn.usererrors import UserError

log = logging.getLogger(__name__)

# The environment's fault or the user's: their message says what happened and what to do.
# Everything else (a ValueError, a raw backup or connection error) is a bug of ours or was not
# turned into advice where it arose: never shown as advice.
KNOWN_ERRORS: tuple[type[BaseException], ...] = (UserError,)


def sentence(text: str) -> str:
    """``text`` with a capital first letter, unless its first word is not a plain word.

    An address, a txid or a file name at the start keeps its case: "Bc1q…" is another address.
    """
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    if first.rstrip(",.;:").isalpha() and first.islower():
        return text[:1].upper() + text[1:]
    return text


def user_message(error: BaseException, what_failed: str) -> str:
    """The text to show for `error`: its own message if it is a known error, else a bug notice."""
    if isinstance(error, KNOWN_ERRORS):
        text = str(error).strip()
        return sentence(text) if text else what_failed
    # Ours: never dress a bug up as advice; the traceback goes to the log (no secrets in it).
    log.error("%s: unexpected %s", what_failed, type(error).__name__, exc_info=error)
    return f"{what_failed}: an unexpected error occurred ({type(error).__name__})."
