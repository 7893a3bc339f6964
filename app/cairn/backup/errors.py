"""Every error of the backup engine: one hierarchy under `BackupError`.

The client maps each failure of a request to one of these (the caller never sees an httpx
exception); the engine adds what it finds itself: a backup that fails its checks
(`BackupCorrupt`, the one error for a tampered or damaged backup, whether found while syncing or
restoring) and an erase from another device (`BackupErased`). None of them is advice for the
user as it stands: the session turns those the user can act on into its own errors.
"""

from __future__ import annotations

from cairn.wire.messages import Conflict

__all__ = [
    "BackupBadRequest",
    "BackupConflict",
    "BackupCorrupt",
    "BackupErased",
    "BackupError",
    "BackupNotFound",
    "BackupQuotaExceeded",
    "BackupServerError",
    "BackupTooLarge",
    "BackupUnauthorized",
    "BackupUnreachable",
    "BackupUnsupported",
    "RateLimited",
    "ResyncRequired",
]


class BackupError(Exception):
    """Base of every error the backup client raises; `code` is the server's error code."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BackupUnreachable(BackupError):
    """The server could not be reached or did not answer in time (offline: retry later)."""


class BackupUnauthorized(BackupError):
    """401/403: the server refused the signature, its timestamp (clock skew) or the node."""


class BackupNotFound(BackupError):
    """404: no such store (never written, deleted, or another seed) or no such object."""


class BackupConflict(BackupError):
    """409: the store moved on since the batch's generation (or has another incarnation)."""

    def __init__(self, message: str, info: Conflict | None = None) -> None:
        super().__init__(message, status=409, code="conflict")
        self.info = info


class BackupQuotaExceeded(BackupError):
    """413 quota_exceeded: the store is full on this server."""


class BackupTooLarge(BackupError):
    """413 too_large: one object or one batch is over the server's limits (a bug of ours)."""


class BackupBadRequest(BackupError):
    """400: the server did not understand a request (a bug, or an incompatible server)."""


class RateLimited(BackupError):
    """429: too many requests; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, status=429, code="rate_limited")
        self.retry_after = retry_after


class BackupServerError(BackupError):
    """5xx or an answer that does not follow the protocol: the server's fault, retry later."""


class ResyncRequired(BackupError):
    """410 resync_required: the change feed no longer reaches back that far; list the store."""


class BackupUnsupported(BackupError):
    """410 upgrade_required, or another protocol: this server and this Cairn do not match."""


class BackupCorrupt(BackupError):
    """The backup on the server does not decrypt, does not match its keys or its manifest, or
    was replayed: tampered or damaged. The message says how (never names or values)."""


class BackupErased(BackupError):
    """The store was erased from another device; nothing goes up until the user chooses."""
