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


def write(package: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_notices_qt_outside_ui_and_arrows_pointing_up(tmp_path):
    package = tmp_path / "cairn"
    write(
        package,
        {
            "storage/bad.py": "from PySide6 import QtWidgets\nimport cairn.wallet\n",
            "ui/fine.py": "from PySide6 import QtWidgets\nimport cairn.wallet\n",
        },
    )
    result = check(str(package))
    assert result.returncode == 1
    problems = result.stderr.splitlines()
    assert problems == [
        "storage/bad.py: imports PySide6.QtWidgets outside cairn/ui",
        "storage/bad.py: storage must not import cairn.wallet: it is in a higher layer (wallet)",
    ]


def test_checker_notices_sideways_imports_in_one_layer(tmp_path):
    package = tmp_path / "cairn"
    write(
        package,
        {
            # wallet and backup are both engine parts: neither may use the other.
            "wallet/core.py": "from cairn.backup.client import RemoteBackupClient\n",
            # The front ends stand side by side: the GUI does not run CLI commands.
            "ui/app.py": "from cairn.commands import wallet\n",
            # Relative imports count as well.
            "onboarding/wizard.py": "from ..storage import SqliteStore\nfrom ..ui import app\n",
            "backup/client.py": "from cairn.storage import SqliteStore\n",
        },
    )
    result = check(str(package))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "onboarding/wizard.py: onboarding must not import cairn.ui.app: it is in a higher layer (ui)",
        "ui/app.py: ui must not import cairn.commands.wallet: it is beside it in one layer "
        "(commands)",
        "wallet/core.py: wallet must not import cairn.backup.client.RemoteBackupClient: it is "
        "beside it in one layer (backup)",
    ]


def test_checker_holds_the_separate_programs_to_what_they_may_use(tmp_path):
    package = tmp_path / "cairn"
    write(
        package,
        {
            "server/routes.py": "from cairn.wire.messages import Batch\nfrom cairn import __version__\n",
            "server/backend.py": "from cairn.storage import SqliteStore\nimport cairn.keys\n",
            "devnet/chain.py": "from cairn.keys import hash160\nfrom cairn.events import EventBus\n",
        },
    )
    result = check(str(package))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "devnet/chain.py: devnet may import only cairn, keys of Cairn, not cairn.events.EventBus",
        "server/backend.py: server may import only cairn, wire of Cairn, not "
        "cairn.storage.SqliteStore",
        "server/backend.py: server may import only cairn, wire of Cairn, not cairn.keys",
    ]


def test_checker_notices_a_module_in_no_layer(tmp_path):
    package = tmp_path / "cairn"
    write(package, {"newthing.py": "", "keys.py": "import cairn.newthing\n"})
    result = check(str(package))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "keys.py: imports cairn.newthing, which is in no layer of scripts/check_layout.py",
        "newthing.py: in no layer of scripts/check_layout.py",
    ]
