"""The import arrows of the architecture hold: Qt only under ui/, the server apart from wallet code.

The checker runs in its own interpreter, as scripts/test runs it: late in a long test run,
CPython 3.11.7's ast module can fail with "AST constructor recursion depth mismatch".
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "scripts" / "check_layout.py"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), *args], capture_output=True, text=True, check=False
    )


def test_no_forbidden_imports_in_the_package():
    result = check()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_checker_notices_qt_outside_ui_and_arrows_pointing_up(tmp_path):
    package = tmp_path / "cairn"
    (package / "storage").mkdir(parents=True)
    (package / "ui").mkdir()
    (package / "storage" / "bad.py").write_text(
        "from PySide6 import QtWidgets\nimport cairn.wallet\n"
    )
    (package / "ui" / "fine.py").write_text("from PySide6 import QtWidgets\nimport cairn.wallet\n")
    result = check(str(package))
    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert problems == [
        "storage/bad.py: imports PySide6 outside cairn/ui",
        "storage/bad.py: storage must not import cairn.wallet",
    ]
