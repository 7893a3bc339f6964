"""Waiting for a window's first frame: the moment the user sees it.

The app opens the wallet only once the main window is on screen, so that opening it (BDK, the
record store, the backup engine) never delays what the user sees first (issue #14).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

# A window that is never exposed (started minimised, say) must not hold up what comes after.
FIRST_FRAME_TIMEOUT = 2.0


class _PaintWatcher(QObject):
    def __init__(self, painted: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._painted = painted

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self._painted()
        return False  # the window paints as it always does


async def first_frame(window: QWidget, timeout: float = FIRST_FRAME_TIMEOUT) -> None:
    """Return once `window` (already shown) has painted its first frame, or after `timeout`.

    The waiting coroutine resumes on the loop's next turn, after the paint event has been
    handled: the frame is drawn by then.
    """
    painted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done() -> None:
        if not painted.done():
            painted.set_result(None)

    watcher = _PaintWatcher(done, window)
    window.installEventFilter(watcher)
    try:
        await asyncio.wait_for(painted, timeout)
    except TimeoutError:
        log.info("the window drew no frame within %.1f s; going on", timeout)
    finally:
        window.removeEventFilter(watcher)
        watcher.deleteLater()
