"""Test set-up shared by every suite."""

import os

# Qt must never look for a display in tests; set before any QApplication exists.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No test may touch the keyring of the machine it runs on; tests that need one set their own.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"

# Shared fixtures: a throwaway PostgreSQL cluster, a real cairn-backupd and a real devnet,
# each started as a separate process on loopback.
pytest_plugins = ["tests.support.postgres", "tests.support.backupd", "tests.support.devnet"]


def pytest_collection_modifyitems(config, items):
    """Run the Qt suite last.

    The GUI tests install one session-wide qasync loop that stays "running" for the rest of the
    process (see tests/gui/conftest.py); pytest-asyncio tests after it would find a running loop.
    """
    gui = [item for item in items if "/tests/gui/" in str(item.path)]
    rest = [item for item in items if "/tests/gui/" not in str(item.path)]
    items[:] = rest + gui
