"""The import arrows of the architecture hold: Qt only under ui/, the server apart from wallet code."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_checker():
    spec = importlib.util.spec_from_file_location(
        "check_layout", ROOT / "scripts" / "check_layout.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_forbidden_imports_in_the_package():
    assert load_checker().problems() == []


def test_checker_notices_qt_outside_ui(tmp_path):
    checker = load_checker()
    bad = tmp_path / "mod.py"
    bad.write_text("from PySide6 import QtWidgets\nimport cairn.wallet\n")
    assert "PySide6" in checker.imported_modules(bad)
