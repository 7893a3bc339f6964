"""One start: `--empty` shows an empty PySide6 window; DATA_DIR starts Cairn on that data dir.
Prints {"at": unix time the window showed, "rss_kib": resident size then} and exits."""

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
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.resize(960, 640)
    window.show()
    QTimer.singleShot(0, lambda: (_shown(), app.quit()))
    return app.exec()


def cairn_window(data_dir: Path) -> int:
    from cairn.ui import app

    ready = app.CairnApp._ready

    def measured(self: app.CairnApp) -> None:
        _shown()
        ready(self)

    app.CairnApp._ready = measured  # type: ignore[method-assign]
    return app.run(data_dir, quit_when_ready=True)


if __name__ == "__main__":
    sys.exit(empty_window() if sys.argv[1] == "--empty" else cairn_window(Path(sys.argv[1])))
