"""Shared by the upgrade tests: copies of the committed format-1 fixture, and record dumps."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from cairn.backup.localstate import FULL_REQUIRED
from cairn.keys import Network
from cairn.storage import SqliteStore
from cairn.storage.device import DEVICE_RECORD

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-v1"
NETWORK = Network.REGTEST
INPUTS: dict[str, Any] = json.loads((FIXTURE / "INPUTS.json").read_text(encoding="utf-8"))
REPORT: dict[str, Any] = json.loads((FIXTURE / "REPORT.json").read_text(encoding="utf-8"))
LEGACY_FILES = ("format", "seed.txt", "wallet.sqlite", "settings.json", "labels.jsonl")


def copy_fixture(target: Path) -> Path:
    """A private copy of the fixture's data dir at `target`; returns its wallet dir."""
    shutil.copytree(FIXTURE / "data", target)
    wallet_dir = target / "wallets" / NETWORK.value
    (wallet_dir / "seed.txt").chmod(0o600)  # git keeps no modes; the first release wrote 0600
    return wallet_dir


def legacy_bytes(wallet_dir: Path) -> dict[str, bytes]:
    return {name: (wallet_dir / name).read_bytes() for name in LEGACY_FILES}


def dump_records(path: Path) -> dict[str, Any]:
    """Every record and outbox entry of a store, with the flag's random token left out."""
    with SqliteStore(path) as store:
        records = dict(store.scan())
        flag = records.pop(FULL_REQUIRED, None)
        records.pop(DEVICE_RECORD, None)  # each copy of a data dir has its own
        outbox = sorted((entry.name, entry.op) for entry in store.outbox_pending(10_000))
    return {
        "records": records,
        "full_required": None if flag is None else json.loads(flag)["reason"],
        "outbox": outbox,
    }


def sqlite_ok(path: Path) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
