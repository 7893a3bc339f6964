"""Keep the backup identity out of the logs: a node id is logged as its first 8 characters.

The node id (the backup identity's public key) is in every store URL, and a stable identifier
of the user. The HTTP client logs each request's URL at info level; so would any message that
quotes a URL. As the server does, the client logs only an 8-character prefix, enough to tell
two users apart in one log and not enough to follow one across logs.

`install()` wraps the logging record factory, so every record of every logger (ours, httpx,
httpcore) is redacted once, when it is made, whatever handler later writes it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

NODE_PREFIX = 8
# A compressed secp256k1 public key in hex, alone or inside a URL path.
_NODE_ID = re.compile(r"(?<![0-9a-fA-F])(0[23][0-9a-fA-F]{6})[0-9a-fA-F]{58}(?![0-9a-fA-F])")


def redact(text: str) -> str:
    """`text` with every node id cut to its first 8 characters and "..."."""
    return _NODE_ID.sub(r"\1...", text)


def install() -> None:
    """Redact node ids in every log record from now on (idempotent)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "cairn_redacts", False):
        return

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is logging's to report, not ours
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    redacted_record.cairn_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacted_record)
