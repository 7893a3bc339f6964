"""One start: `--empty` shows an empty PySide6 window; DATA_DIR starts Cairn on that data dir.
Prints {"at": unix time the window showed, "rss_kib": resident size then} and exits.

"Showed" is the window's first frame, the same moment for both: the end of its first paint
event. Cairn runs its own start (the `cairn` command's console-script function) and is
measured when it emits `main_shown`, the main window's first frame, which it draws before the
wallet is opened; the process then goes on until the wallet is open (--quit-when-ready).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _shown() -> None:
    print(json.dumps({"at": time.time(), "rss_kib": _rss_kib()}), flush=True)


def empty_window() -> int:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.resize(960, 640)

    def measure_and_quit() -> None:
        _shown()
        app.quit()

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and not hasattr(self, "seen"):
                self.seen = True
                # After the paint event is handled, as Cairn's `main_shown` is.
                QTimer.singleShot(0, measure_and_quit)
            return False

    first_paint = FirstPaint()
    window.installEventFilter(first_paint)
    window.show()
    return app.exec()


def cairn_window(data_dir: Path) -> int:
    # What the installed `cairn` command runs, from its console-script function on; the only
    # addition is a listener on the app's own `main_shown` signal. The app module is imported
    # first, for the listener, the way the command imports it (cairn.cli._run_gui).
    import gc

    from cairn import entrypoints

    gc.disable()
    from cairn.ui import app

    start = app.CairnApp.start

    def measured(self: app.CairnApp) -> None:
        self.main_shown.connect(_shown)
        start(self)

    app.CairnApp.start = measured  # type: ignore[method-assign]
    sys.argv = ["cairn", "--data-dir", str(data_dir), "--quit-when-ready"]
    return entrypoints.cairn()


if __name__ == "__main__":
    sys.exit(empty_window() if sys.argv[1] == "--empty" else cairn_window(Path(sys.argv[1])))
