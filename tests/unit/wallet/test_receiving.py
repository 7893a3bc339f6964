"""Receive addresses on one data dir shared by several programs: never one address twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.keys import Network
from cairn.storage import SqliteStore
from cairn.wallet import CairnWallet
from cairn.wallet.receiving import REVEALED_PREFIX, ReceiveAddress

from .offline import SEED

REVEALED = REVEALED_PREFIX + "external"
NO_CHAIN = "http://127.0.0.1:9"  # never asked: handing out an address needs no chain


class ReadThenInterrupted(SqliteStore):
    """A program's store where, right after it reads the last index handed out, another
    program on the same file hands out an address before this one writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.other: CairnWallet | None = None
        self.others: list[ReceiveAddress] = []

    def get(self, name: str) -> bytes | None:
        value = super().get(name)
        if name == REVEALED and self.other is not None:
            other, self.other = self.other, None
            self.others.append(other.next_receive_address_blocking())
        return value


def open_wallet(store: SqliteStore) -> CairnWallet:
    return CairnWallet.open(store, SEED, Network.REGTEST, esplora_url=NO_CHAIN)


@pytest.mark.asyncio
async def test_two_programs_on_one_file_never_hand_out_one_index(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    other_store = SqliteStore(path)
    this_store = ReadThenInterrupted(path)
    other = open_wallet(other_store)
    this = open_wallet(this_store)
    try:
        first = await other.next_receive_address()
        this_store.other = other  # the other program's next address comes in between
        mine = await this.next_receive_address()
        [theirs] = this_store.others
        assert (first.index, theirs.index, mine.index) == (0, 1, 2)
        assert len({first.address, theirs.address, mine.address}) == 3
        assert this.revealed_index() == other.revealed_index() == 2
        assert other_store.get(REVEALED) == this_store.get(REVEALED)
    finally:
        this.close()
        other.close()
        this_store.close()
        other_store.close()
