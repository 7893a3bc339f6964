"""Test set-up shared by every suite."""

import os

# Qt must never look for a display in tests; set before any QApplication exists.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
