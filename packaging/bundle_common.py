"""What both PyInstaller specs share: leave the system's libraries to the system, and record
what went into the bundle (packaging/deb/ reads it for Depends and the copyright file).

Imported by the .spec files, which PyInstaller runs with packaging/ on sys.path.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

# Libraries from these folders come from Debian packages: the .deb depends on those packages
# instead of carrying copies (lintian's embedded-library; security updates reach the app).
SYSTEM_LIBRARY_DIRS = ("/lib/", "/usr/lib/", "/lib64/", "/usr/lib64/")


def is_system_library(source: str) -> bool:
    real = str(Path(source).resolve())
    python_prefixes = {str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve())}
    if any(real.startswith(prefix + "/") for prefix in python_prefixes):
        return False  # the interpreter and its extension modules, even if Python is Debian's
    if "/python3" in real or "/site-packages/" in real or "/dist-packages/" in real:
        return False
    return real.startswith(SYSTEM_LIBRARY_DIRS)


def split_system_libraries(
    binaries: Iterable[tuple[str, str, str]],
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(the binaries to bundle, the source paths of system libraries left out)."""
    kept, system = [], []
    for entry in binaries:
        if entry[2] == "BINARY" and is_system_library(entry[1]):
            system.append(entry[1])
        else:
            kept.append(entry)
    return kept, sorted(set(system))


def without_install_records(
    datas: Iterable[tuple[str, str, str]],
) -> list[tuple[str, str, str]]:
    """The collected metadata without RECORD files: they hash the build environment's console
    scripts, whose first line names that environment's Python, so two builds would differ.
    Nothing in the bundle reads them (entry points come from entry_points.txt)."""
    return [entry for entry in datas if not entry[0].endswith(".dist-info/RECORD")]


def write_manifest(
    path: Path,
    pure: Iterable[tuple[str, str, str]],
    binaries: Iterable[tuple[str, str, str]],
    datas: Iterable[tuple[str, str, str]],
    system_libraries: list[str],
) -> None:
    """The bundle's modules, files and the system libraries it expects, as JSON."""
    manifest = {
        "workpath": str(path.parent),
        "python": {"version": sys.version.split()[0], "prefix": sys.base_prefix},
        "modules": sorted({name for name, _, _ in pure}),
        "files": sorted({dest for dest, _, _ in [*binaries, *datas]}),
        # Where each module and file came from: packaging/deb/copyright.py finds its owner.
        # ("-" is what PyInstaller gives a namespace package, which has no file.)
        "sources": sorted({src for _, src, _ in [*pure, *binaries, *datas] if src and src != "-"}),
        "system_libraries": system_libraries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
