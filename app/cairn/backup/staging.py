"""The staging file of a restore: where it is, and removing what an interrupted one left.

Apart from cairn.backup.restore so that opening a session (before the main window's first
frame) can clean up without loading the restore engine and its HTTP client.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from cairn.files import sqlite_sidecars


def staging_path(target: Path) -> Path:
    return target.with_name(target.name + ".restore-staging")


def discard_staging(target: Path) -> bool:
    """Remove what an interrupted restore left next to `target`; True if there was anything."""
    found = False
    staging = staging_path(target)
    for path in (staging, *sqlite_sidecars(staging)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            found = True
    return found
