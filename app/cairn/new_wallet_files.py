"""What creating a wallet may add to its folder, so that a wallet that could not be created (a
full disk, say) leaves nothing behind and whatever was there before stays as it was."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cairn.files import sqlite_sidecars
from cairn.seedfile import SEED_FILE_NAME, delete_seed
from cairn.upgrade.formats import format_path


class NewWalletFiles:
    """What creating a wallet may add to its folder, minus what was there before it began."""

    def __init__(self, folders: list[Path], files: list[Path], wallet_dir: Path) -> None:
        self.folders = folders  # outermost first
        self.files = files
        self.wallet_dir = wallet_dir

    @classmethod
    def before(cls, wallet_dir: Path, records: Path) -> NewWalletFiles:
        folders = [p for p in (*reversed(wallet_dir.parents), wallet_dir) if not p.exists()]
        candidates = [wallet_dir / SEED_FILE_NAME, format_path(wallet_dir)]
        if not os.path.lexists(records):
            candidates += [records, *sqlite_sidecars(records)]
        files = [p for p in candidates if not os.path.lexists(p)]
        return cls(folders, files, wallet_dir)

    def remove(self) -> None:
        if any(p == self.wallet_dir / SEED_FILE_NAME for p in self.files):
            delete_seed(self.wallet_dir)  # also forgets its keyring entry
        for path in self.files:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()
        for folder in reversed(self.folders):
            with contextlib.suppress(OSError):  # not empty: something else was put there
                folder.rmdir()
