"""What the user can do about a backup error, said in their words; None for a bug of ours."""

from __future__ import annotations

from cairn.backup.errors import (
    BackupConflict,
    BackupCorrupt,
    BackupErased,
    BackupError,
    BackupNotFound,
    BackupQuotaExceeded,
    BackupServerError,
    BackupUnauthorized,
    BackupUnreachable,
    BackupUnsupported,
    RateLimited,
)
from cairn.backup.roundlock import BackupBusy

# The server does not let this wallet create its backup (docs/PROTOCOL.md section 7.1).
_REGISTRATION = {
    "invite_required": (
        "The backup server at {server} takes new wallets by invite only. Enter the invite "
        "code its operator gave you, or change the server."
    ),
    "invite_invalid": (
        "The backup server at {server} refused the invite code: it is unknown, expired or "
        "already used by another wallet. Ask its operator for a new one, or change the server."
    ),
    "not_allowlisted": (
        "The backup server at {server} only takes wallets its operator has listed. Ask the "
        "operator to add this wallet, or change the server."
    ),
}


def backup_advice(error: BackupError, server: str) -> str | None:
    """What the user can do about a backup error, or None when it is a bug of ours."""
    if isinstance(error, (BackupUnreachable, BackupServerError)):
        return (
            f"The backup server at {server} could not be reached. Check your connection and "
            "try again, or change the server."
        )
    if isinstance(error, RateLimited):
        return f"The backup server at {server} is busy. Try again in a minute."
    if isinstance(error, BackupConflict | BackupBusy):
        return (
            "Other devices or programs on this wallet are backing up at the same moment. "
            "Nothing is lost: the changes made here go up on the next try."
        )
    if isinstance(error, BackupCorrupt):
        return (
            f"The backup on {server} failed its integrity check, so nothing was taken from it. "
            "Your wallet on this computer is unchanged. Contact the server's operator, or "
            "change the server."
        )
    if isinstance(error, BackupErased):
        return (
            "The backup was deleted from another device. Choose Back up here again to back "
            "this wallet up again."
        )
    if isinstance(error, BackupQuotaExceeded):
        return (
            f"The backup server at {server} has no more room for this wallet. Ask its operator "
            "for more, or change the server."
        )
    if isinstance(error, BackupUnauthorized) and error.code in _REGISTRATION:
        return _REGISTRATION[error.code].format(server=server)
    if isinstance(error, BackupUnauthorized):
        reason = error.code or "refused"
        return (
            f"The backup server at {server} refused this computer's requests ({reason}). "
            "Check that this computer's clock and time zone are right."
        )
    if isinstance(error, BackupNotFound):
        return f"There is no backup of this wallet on {server}. Choose Back up now to make one."
    if isinstance(error, BackupUnsupported):
        return (
            f"The backup server at {server} runs another version of the backup protocol. "
            "Update Cairn or the server, or change the server."
        )
    return None
