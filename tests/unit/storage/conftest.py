"""Both record stores, so one suite of tests runs against each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn.storage import MemoryStore, RecordStore, SqliteStore

# Opens another handle on the same data: a second connection for SQLite, the same object in memory.
PeerFactory = Callable[[], RecordStore]


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, tmp_path: Path) -> Iterator[RecordStore]:
    opened: RecordStore = (
        MemoryStore() if store_kind == "memory" else SqliteStore(tmp_path / "records.sqlite")
    )
    yield opened
    opened.close()


@pytest.fixture
def peer(store: RecordStore, tmp_path: Path) -> Iterator[PeerFactory]:
    peers: list[RecordStore] = []

    def open_peer() -> RecordStore:
        if isinstance(store, SqliteStore):
            peers.append(SqliteStore(store.path))
            return peers[-1]
        return store

    yield open_peer
    for other in peers:
        other.close()
