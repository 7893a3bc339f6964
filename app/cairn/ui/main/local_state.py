"""Machine-local window state (size, dismissed notices): a small JSON file in the data dir.

This is how the app looks on this computer, not a preference of the wallet: it is never backed
up (a laptop's window size means nothing on a desktop) and losing it loses nothing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cairn.files import write_file_atomically

log = logging.getLogger(__name__)

LOCAL_STATE_NAME = "ui-state.json"


class LocalUiState:
    """Read once when created; every change is written at once (atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError):
            # Damage here costs only a window size: start afresh, and say so in the log.
            log.warning("the window state file %s is unreadable; using defaults", path.name)
            loaded = {}
        if isinstance(loaded, dict):
            self._data = loaded

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> LocalUiState:
        return cls(Path(data_dir) / LOCAL_STATE_NAME)

    def window_size(self) -> tuple[int, int] | None:
        size = self._data.get("window_size")
        if (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            return size[0], size[1]
        return None

    def set_window_size(self, width: int, height: int) -> None:
        self._update("window_size", [int(width), int(height)])

    def is_dismissed(self, notice: str) -> bool:
        dismissed = self._data.get("dismissed")
        return isinstance(dismissed, list) and notice in dismissed

    def dismiss(self, notice: str) -> None:
        dismissed = self._data.get("dismissed")
        current = (
            [n for n in dismissed if isinstance(n, str)] if isinstance(dismissed, list) else []
        )
        if notice not in current:
            self._update("dismissed", [*current, notice])

    def _update(self, key: str, value: Any) -> None:
        if self._data.get(key) == value:
            return
        self._data[key] = value
        try:
            write_file_atomically(self.path, json.dumps(self._data, sort_keys=True).encode())
        except OSError as error:
            log.warning("the window state could not be saved: %s", type(error).__name__)


def fitted_size(
    wanted: tuple[int, int], available: tuple[int, int], minimum: tuple[int, int] = (480, 360)
) -> tuple[int, int]:
    """``wanted`` shrunk to fit ``available`` (less room for the window frame), and grown to
    ``minimum`` where the screen has room for that."""
    frame = 48  # title bar and borders, which a window's size does not include

    def fit(want: int, screen: int, least: int) -> int:
        room = max(screen - frame, 1)
        return min(max(want, min(least, room)), room)

    return fit(wanted[0], available[0], minimum[0]), fit(wanted[1], available[1], minimum[1])
