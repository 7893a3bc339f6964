"""Shared by the damaged and full data dir tests: a wallet made by the real CLI, the commands
as a user types them, and a fingerprint of every byte of a data dir."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cairn.config import AppConfig, save_config
from cairn.keys import Network
from tests.support.words import PHRASE

# Nothing listens there: no command under test may need the chain.
UNUSED_ESPLORA = "http://127.0.0.1:9"
WALLET = Path("wallets") / "regtest"

COMMANDS: dict[str, list[str]] = {
    "backup status": ["backup", "status"],
    "backup now": ["backup", "now"],
    "restore": ["restore"],
    "restore --force": ["restore", "--force"],
    "wallet create": ["wallet", "create", "--words-stdin"],
    "app start": ["--offscreen", "--quit-when-ready"],
}


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def said(self) -> list[str]:
        """What Cairn itself wrote on stderr (Qt may add its own warnings)."""
        return [line for line in self.err.splitlines() if line.startswith("cairn:")]


def cairn(
    args: list[str],
    data_dir: Path,
    *,
    stdin: str = PHRASE + "\n",
    permissions_apply: bool = False,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> Ran:
    """`cairn ARGS --data-dir DATA_DIR` in a process of its own, as a user runs it.

    `permissions_apply`: file permissions bind the process even when the tests run as root
    (which reads any file): it runs without the capabilities that override them.
    """
    prefix = (
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        if permissions_apply and os.geteuid() == 0
        else []
    )
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "cairn", *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})},
        umask=0o022,  # the usual one: Cairn must not rely on a stricter umask
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def write_settings(data_dir: Path, server_url: str) -> None:
    save_config(
        data_dir,
        AppConfig(
            network=Network.REGTEST, backup_server_url=server_url, esplora_url=UNUSED_ESPLORA
        ),
    )


def offline_wallet(data_dir: Path) -> Path:
    """`data_dir` with a regtest wallet (seed file, empty records) and no server that answers."""
    from cairn.seedfile import save_seed
    from cairn.storage import SqliteStore

    save_config(data_dir, AppConfig(network=Network.REGTEST, esplora_url=UNUSED_ESPLORA))
    wallet = data_dir / WALLET
    wallet.mkdir(parents=True)
    save_seed(wallet, PHRASE, use_keyring=False)
    SqliteStore(wallet / "records.sqlite").close()
    return data_dir


def fingerprint(root: Path) -> dict[str, str]:
    """Every file's SHA-256 and every folder, by path under `root` (read as root may)."""
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            seen[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            seen[rel] = "folder"
        else:
            seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen
