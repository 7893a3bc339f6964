"""Project checks the linters cannot express: the import arrows of docs/ARCHITECTURE.md."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "app" / "cairn"

# package -> cairn packages it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "keys": ("cairn.storage", "cairn.backup", "cairn.wallet", "cairn.ui", "cairn.server"),
    "storage": ("cairn.backup", "cairn.wallet", "cairn.ui", "cairn.server", "cairn.onboarding"),
    "backup": ("cairn.wallet", "cairn.ui", "cairn.server", "cairn.onboarding"),
    "wallet": ("cairn.ui", "cairn.server", "cairn.onboarding"),
    "onboarding": ("cairn.ui", "cairn.server"),
    "server": ("cairn.wallet", "cairn.ui", "cairn.storage", "cairn.onboarding", "cairn.devnet"),
    "devnet": ("cairn.ui", "cairn.server", "cairn.backup", "cairn.storage", "cairn.onboarding"),
    "upgrade": ("cairn.ui", "cairn.server", "cairn.onboarding"),
}
SERVER_MAY_USE = ("cairn.backup", "cairn.backup.protocol")
QT_MODULES = ("PySide6", "qasync", "pytestqt")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def problems(package: Path = PKG) -> list[str]:
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        top = rel.parts[0].removesuffix(".py")
        for name in imported_modules(path):
            if top != "ui" and name.split(".")[0] in QT_MODULES:
                found.append(f"{rel}: imports {name} outside cairn/ui")
            if top == "server" and name.startswith("cairn.backup") and name not in SERVER_MAY_USE:
                found.append(f"{rel}: the server may use only {SERVER_MAY_USE} of cairn.backup")
            for banned in FORBIDDEN.get(top, ()):
                if name == banned or name.startswith(banned + "."):
                    found.append(f"{rel}: {top} must not import {name}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    found = problems(Path(args[0])) if args else problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
