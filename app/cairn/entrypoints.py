"""The installed console scripts: each checks that its extra is installed, then runs its program.

The base install (`pip install cairn`) holds only what the server and the app share. A program
whose libraries are missing says which extra brings them instead of failing on an import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence

# The modules each extra brings that the program imports (its distributions are in pyproject.toml;
# tests/unit/test_packaging.py checks the two agree with the imports in the code).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "starlette", "pydantic", "uvicorn", "asyncpg", "prometheus_client"),
    "devnet": ("starlette", "anyio", "uvicorn", "bdkpython", "mnemonic", "cryptography"),
    "app": (
        "PySide6",
        "qasync",
        "bdkpython",
        "httpx",
        "keyring",
        "qrcode",
        "zstandard",
        "mnemonic",
        "cryptography",
        "fastapi",
        "uvicorn",
        "anyio",
    ),
}
WHAT = {"server": "the backup server's", "devnet": "the devnet's", "app": "the desktop app's"}


def missing_modules(extra: str) -> list[str]:
    """The extra's modules that cannot be imported here, without importing any of them."""
    return [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]


def _run(program: str, extra: str, module: str) -> int:
    missing = missing_modules(extra)
    if missing:
        print(
            f"{program}: {WHAT[extra]} libraries are not installed (missing: {', '.join(missing)}).\n"
            f"{program}: install them with: pip install 'cairn[{extra}]'",
            file=sys.stderr,
        )
        return 1
    main: Callable[[Sequence[str] | None], int] = importlib.import_module(module).main
    return main(None)


def cairn() -> int:
    return _run("cairn", "app", "cairn.cli")


def backupd() -> int:
    return _run("cairn-backupd", "server", "cairn.server.cli")


def devnet() -> int:
    return _run("cairn-devnet", "devnet", "cairn.devnet.cli")


def legacy_wallet() -> int:
    return _run("cairn-legacy-wallet", "app", "cairn.upgrade.cli")
