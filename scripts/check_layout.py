"""Project checks the linters cannot express: the import arrows of docs/ARCHITECTURE.md.

Every module under app/cairn belongs to one component of one layer (LAYERS, lowest first; a
module belongs to the listed component that is the longest prefix of its dotted name). A module
may import its own component and the components of lower layers: an import of a higher layer
runs up, one of another component in its own layer runs sideways, and both fail. The separate
programs (ONLY) may use nothing but what is listed for them, and no PySide6 or qasync import
may live outside cairn/ui.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "app" / "cairn"

# Lowest first. "cairn" is the package's own __init__ (its version).
LAYERS: tuple[tuple[str, ...], ...] = (
    # The package's version and the root of the errors the user can act on.
    ("cairn", "usererrors"),
    # Leaf modules every layer may use.
    (
        "ripemd160",
        "files",
        "lazynames",
        "exitcodes",
        "logredact",
        "events",
        "httpclient",
        "serverurl",
        "invitecode",
    ),
    ("keys",),
    ("config", "seedfile", "storage", "wire", "walletlock"),
    # The engine: the backup (its wire format included), the wallet, the wizard's state machine.
    ("backup", "wallet", "onboarding"),
    ("upgrade",),
    ("localfaults", "wallet_restore", "session_backups", "new_wallet_files"),
    # The parts of cairn.session, each on what the one below it holds.
    ("session_lifecycle",),
    ("session", "loading_steps", "demo"),
    # The front ends and the separate programs, each on its own.
    ("ui", "commands", "server", "devnet"),
    ("cli",),
    ("__main__", "entrypoints"),
)
# Separate programs: what each may import of Cairn, whatever its layer would allow.
ONLY: dict[str, tuple[str, ...]] = {
    "server": ("cairn", "wire"),
    "devnet": ("cairn", "keys"),
}
QT_MODULES = ("PySide6", "qasync", "pytestqt")

LAYER_OF: dict[str, int] = {
    component: level for level, components in enumerate(LAYERS) for component in components
}


def component_of(module: str, package: Path) -> str | None:
    """The listed component a dotted name (`cairn.backup.client`) belongs to, if any."""
    parts = module.split(".")
    if parts[0] != "cairn":
        return None
    for end in range(len(parts), 1, -1):
        candidate = ".".join(parts[1:end])
        if candidate in LAYER_OF:
            return candidate
    if len(parts) == 1:
        return "cairn"
    # `from cairn import __version__` names the package's own __init__, not a module.
    path = package / parts[1]
    is_module = path.is_dir() or path.with_suffix(".py").is_file()
    return "cairn" if len(parts) == 2 and not is_module else None


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("cairn", *parts))


def imported_modules(path: Path, module: str) -> list[str]:
    """Every module `module` (at `path`) imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from cairn.wire import messages` imports cairn.wire.messages.
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, part: str, package: Path) -> bool:
    if part == "cairn":
        return component_of(name, package) == "cairn"
    return name == f"cairn.{part}" or name.startswith(f"cairn.{part}.")


def _import_problem(own: str, name: str, package: Path) -> str | None:
    target = component_of(name, package)
    if target is None:
        return f"imports {name}, which is in no layer of scripts/check_layout.py"
    if target == own:
        return None
    if own in ONLY:
        allowed = ONLY[own]
        if not any(_within(name, part, package) for part in allowed):
            return f"{own} may import only {', '.join(allowed)} of Cairn, not {name}"
        return None
    if LAYER_OF[target] > LAYER_OF[own]:
        return f"{own} must not import {name}: it is in a higher layer ({target})"
    if LAYER_OF[target] == LAYER_OF[own]:
        return f"{own} must not import {name}: it is beside it in one layer ({target})"
    return None


def problems(package: Path = PKG) -> list[str]:
    found: list[str] = []
    if package == PKG:
        # A layer naming a part that was moved or removed would hide what now stands there.
        for part in LAYER_OF:
            path = package.joinpath(*part.split("."))
            if part != "cairn" and not (path.is_dir() or path.with_suffix(".py").is_file()):
                found.append(f"scripts/check_layout.py: LAYERS names {part}, which does not exist")
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        module = module_name(path, package)
        own = component_of(module, package)
        if own is None:
            found.append(f"{rel}: in no layer of scripts/check_layout.py")
            continue
        for name in imported_modules(path, module):
            if own.split(".")[0] != "ui" and name.split(".")[0] in QT_MODULES:
                found.append(f"{rel}: imports {name} outside cairn/ui")
            if name.split(".")[0] != "cairn":
                continue
            problem = _import_problem(own, name, package)
            if problem is not None:
                found.append(f"{rel}: {problem}")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    found = problems(Path(args[0])) if args else problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
