"""Test set-up shared by every suite."""

import os

# Qt must never look for a display in tests; set before any QApplication exists.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Shared fixtures: a throwaway PostgreSQL cluster, a real cairn-backupd and a real devnet,
# each started as a separate process on loopback.
pytest_plugins = ["tests.support.postgres", "tests.support.backupd", "tests.support.devnet"]
