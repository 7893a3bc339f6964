"""Real BDK wallets without a chain: funded by applying a transaction as if seen in the mempool,
or as if in a block (`confirmed_wallet`)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping

import bdkpython as bdk

from cairn.keys import Network, bip84_descriptors, mnemonic_to_seed
from cairn.storage import MemoryStore
from tests.support.words import PHRASE

WORDS = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)
OTHER_WORDS = PHRASE
SEED = mnemonic_to_seed(WORDS)
OTHER_SEED = mnemonic_to_seed(OTHER_WORDS)
# Index 0 of the external keychain of WORDS on regtest (BIP84, coin type 1).
FIRST_REGTEST_ADDRESS = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"


def descriptors(seed: bytes = SEED) -> tuple[bdk.Descriptor, bdk.Descriptor]:
    external, internal = bip84_descriptors(seed, Network.REGTEST)
    return (
        bdk.Descriptor(external, bdk.NetworkKind.TEST),
        bdk.Descriptor(internal, bdk.NetworkKind.TEST),
    )


def funding_tx(address: str, sat: int, *, tag: int = 0x11) -> bdk.Transaction:
    """A transaction paying ``sat`` to ``address`` from an input the wallet does not know."""
    script = bdk.Address(address, bdk.Network.REGTEST).script_pubkey().to_bytes()
    raw = (
        struct.pack("<I", 2)
        + b"\x01"
        + bytes([tag]) * 32
        + struct.pack("<I", 0)
        + b"\x00"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"\x01"
        + struct.pack("<Q", sat)
        + bytes([len(script)])
        + script
        + struct.pack("<I", 0)
    )
    return bdk.Transaction(raw)


def fund(wallet: bdk.Wallet, address: str, sat: int, *, tag: int = 0x11) -> str:
    """Apply an unconfirmed payment to the wallet; returns its txid."""
    tx = funding_tx(address, sat, tag=tag)
    wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=tx, last_seen=int(time.time()))])
    return str(tx.compute_txid())


def confirmed_wallet(sat: int, seed: bytes = SEED) -> tuple[bdk.Wallet, str]:
    """A wallet whose first receive address holds ``sat`` in a block at height 1, and the
    txid of that payment."""
    wallet, collector, persister = collecting_wallet(seed)
    address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    wallet.persist(persister)
    tx = funding_tx(address, sat)
    block = bdk.BlockId(height=1, hash=bdk.BlockHash.from_string("11" * 32))
    anchor = bdk.Anchor(
        confirmation_block_time=bdk.ConfirmationBlockTime(block_id=block, confirmation_time=1),
        txid=tx.compute_txid(),
    )
    collector.changesets.append(
        bdk.ChangeSet.from_aggregate_with_locked_outpoints(
            descriptor=None,
            change_descriptor=None,
            network=None,
            local_chain=bdk.LocalChainChangeSet(
                changes=[bdk.ChainChange(height=1, hash=block.hash)]
            ),
            tx_graph=bdk.TxGraphChangeSet(
                txs=[tx], txouts={}, anchors=[anchor], last_seen={}, first_seen={}, last_evicted={}
            ),
            indexer=bdk.IndexerChangeSet(last_revealed={}),
            locked_outpoints={},
        )
    )
    return bdk.Wallet.load(*descriptors(seed), persister), str(tx.compute_txid())


class Collector(bdk.Persistence):
    """Keeps every persisted changeset in memory, in order."""

    def __init__(self) -> None:
        self.changesets: list[bdk.ChangeSet] = []

    def initialize(self) -> bdk.ChangeSet:
        merged = bdk.ChangeSet()
        for changeset in self.changesets:
            merged = bdk.ChangeSet.from_merge(merged, changeset)
        return merged

    def persist(self, changeset: bdk.ChangeSet) -> None:
        self.changesets.append(changeset)


def collecting_wallet(seed: bytes = SEED) -> tuple[bdk.Wallet, Collector, bdk.Persister]:
    collector = Collector()
    persister = bdk.Persister.custom(collector)
    external, internal = descriptors(seed)
    wallet = bdk.Wallet(external, internal, bdk.Network.REGTEST, persister)
    return wallet, collector, persister


class FlakyStore(MemoryStore):
    """A MemoryStore whose writes (or reads) fail on demand, with any exception type."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_writes: BaseException | None = None
        self.fail_reads: BaseException | None = None

    def batch(self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()) -> None:
        if self.fail_writes is not None:
            raise self.fail_writes
        super().batch(puts, deletes)

    def put(self, name: str, value: bytes) -> None:
        self.batch({name: value})

    def put_if(self, name: str, value: bytes, *, expect: bytes | None) -> bool:
        if self.fail_writes is not None:
            raise self.fail_writes
        return super().put_if(name, value, expect=expect)

    def scan(self, prefix: str = "") -> list[tuple[str, bytes]]:
        if self.fail_reads is not None:
            raise self.fail_reads
        return super().scan(prefix)
