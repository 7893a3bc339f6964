"""Upgrading wallet directories from older formats (format 1: the first release, no backups)."""

from cairn.upgrade.formats import (
    CURRENT_FORMAT,
    LEGACY_FORMAT,
    UnknownFormatError,
    detect_format,
    write_format,
)
from cairn.upgrade.migrate import (
    FULL_BACKUP_REASON,
    UpgradeError,
    UpgradeResult,
    upgrade_data_dir,
    upgrade_wallet_dir,
)

__all__ = [
    "CURRENT_FORMAT",
    "FULL_BACKUP_REASON",
    "LEGACY_FORMAT",
    "UnknownFormatError",
    "UpgradeError",
    "UpgradeResult",
    "detect_format",
    "upgrade_data_dir",
    "upgrade_wallet_dir",
    "write_format",
]
