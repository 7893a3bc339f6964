"""The devnet's state on disk: one SQLite file holding raw blocks, the mempool and settings.

Blocks are append-only rows, so saving after each change writes only what is new; every save is
one transaction, so a crash leaves the previous consistent state.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cairn.devnet.blocks import Block, parse_block
from cairn.devnet.chain import Chain
from cairn.devnet.txcodec import parse_tx

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, hash TEXT NOT NULL, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mempool (seq INTEGER PRIMARY KEY, txid TEXT NOT NULL, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StateFile:
    """Load and save a `Chain` (and small JSON settings) to one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Used only under the server's chain lock, from whichever worker thread holds it.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise ValueError(f"{path}: devnet state version {version}, expected {SCHEMA_VERSION}")
        self._saved_hashes: list[str] = []

    def load(self, now: int, *, verify_signatures: bool = True) -> Chain:
        """The stored chain, or a new one (genesis plus the faucet's block) saved at once."""
        rows = self._db.execute("SELECT height, hash, raw FROM blocks ORDER BY height").fetchall()
        if not rows:
            chain = Chain.create(now, verify_signatures=verify_signatures)
            self.save(chain)
            return chain
        blocks: list[Block] = []
        for height, block_hash, raw in rows:
            block = parse_block(raw)
            if height != len(blocks) or block.hash != block_hash:
                raise ValueError(f"devnet state is corrupt at height {height}")
            blocks.append(block)
        mempool = [
            parse_tx(raw) for (raw,) in self._db.execute("SELECT raw FROM mempool ORDER BY seq")
        ]
        chain = Chain.restore(blocks, mempool, verify_signatures=verify_signatures)
        self._saved_hashes = [block.hash for block in chain.blocks]
        return chain

    def save(self, chain: Chain) -> None:
        hashes = [block.hash for block in chain.blocks]
        # After a reorg the stored chain forks from ours somewhere below its tip.
        fork = next(
            (h for h, (a, b) in enumerate(zip(self._saved_hashes, hashes, strict=False)) if a != b),
            min(len(self._saved_hashes), len(hashes)),
        )
        with self._transaction():
            self._db.execute("DELETE FROM blocks WHERE height >= ?", (fork,))
            for height in range(fork, chain.tip_height + 1):
                block = chain.blocks[height]
                self._db.execute(
                    "INSERT INTO blocks (height, hash, raw) VALUES (?, ?, ?)",
                    (height, block.hash, block.serialize()),
                )
            self._db.execute("DELETE FROM mempool")
            self._db.executemany(
                "INSERT INTO mempool (seq, txid, raw) VALUES (?, ?, ?)",
                [(i, t, chain.txs[t].serialize()) for i, t in enumerate(chain.mempool)],
            )
        self._saved_hashes = hashes

    def get_setting(self, name: str) -> object | None:
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_setting(self, name: str, value: object) -> None:
        self._db.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value)),
        )

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
