"""The import graph of the cairn package, read statically from its source (nothing is imported)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def module_path(name: str) -> Path | None:
    """The source file of a cairn module or package, or None if `name` is not one."""
    base = APP.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def modules_under(package: str) -> list[str]:
    root = APP.joinpath(*package.split("."))
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(APP).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def imports_in(name: str, path: Path) -> set[str]:
    """Every module `name` imports anywhere in its body, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # `from cairn.x import y` imports the submodule cairn.x.y when there is one.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def third_party_imports(roots: list[str]) -> set[str]:
    """Top-level names of the non-cairn, non-stdlib modules reachable from `roots`."""
    seen: set[str] = set()
    outside: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        # Importing a.b.c runs the __init__ of a and a.b first.
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        path = module_path(name)
        if path is None:
            continue
        for imported in imports_in(name, path):
            top = imported.split(".")[0]
            if top == "cairn":
                todo.append(imported)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                outside.add(top)
    return outside


def normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def declared(extras: tuple[str, ...]) -> set[str]:
    """The distributions pyproject.toml declares for the base install plus these extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names: set[str] = set()
    todo = [project["dependencies"]] + [project["optional-dependencies"][e] for e in extras]
    done: set[str] = set(extras)
    while todo:
        for requirement in todo.pop():
            match = re.match(r"([A-Za-z0-9._-]+)(?:\[([^\]]*)\])?", requirement)
            assert match, requirement
            name, nested = normalise(match[1]), match[2]
            if name == "cairn":
                for extra in (e.strip() for e in (nested or "").split(",")):
                    if extra and extra not in done:
                        done.add(extra)
                        todo.append(project["optional-dependencies"][extra])
            else:
                names.add(name)
    return names
