"""BDK wallet persistence into the record store: append-only changeset records, compacted.

Each BDK ``persist`` call appends one record ``wallet/changeset/<device>/<seq>`` (the device id
of this store, seq zero-padded so names sort in write order): several devices on one seed never
write the same name, and merging everyone's records is a union. Chain checkpoints beyond genesis
are this device's own view of the chain (BDK overwrites them per height): they go to the
machine-local ``local/wallet/chain/<seq>`` and are never backed up; each device learns the chain
from its own chain source. Every ``compact_every`` appends, this device's changesets (and those
of the first release, ``wallet/changeset/<seq>``) are merged into one aggregate written under
the next seq, and the older records are deleted, in one atomic batch: after a crash the store
holds either the old records or the aggregate, and loading merges whatever is there, so both
are complete. Merging is idempotent, so a backup that briefly holds both the aggregate and some
old records restores the same wallet.

A Python exception escaping a bdkpython persistence callback aborts the whole process (a Rust
panic), so both callbacks catch everything and report failures as ``PersistenceError.Reason``,
which bdkpython turns into an ordinary exception at the call site.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING

import bdkpython as bdk

from cairn.keys import Network, bip84_descriptors
from cairn.storage.device import device_id
from cairn.wallet.addresses import network_kind
from cairn.wallet.changeset_codec import (
    decode_changeset,
    encode_shared_and_chain,
    merge,
)

if TYPE_CHECKING:
    from cairn.storage import RecordStore

log = logging.getLogger(__name__)

DESCRIPTOR_RECORD = "wallet/descriptor"
CHANGESET_PREFIX = "wallet/changeset/"
CHAIN_PREFIX = "local/wallet/chain/"
SEQ_DIGITS = 12
DEFAULT_COMPACT_EVERY = 32
# Well under the backup server's 4 MiB object limit, even before compression.
MAX_RECORD_BYTES = 1024 * 1024


class DescriptorMismatch(ValueError):
    """The records belong to another seed or network, or their descriptor record is unreadable."""


def changeset_name(seq: int, device: str | None = None) -> str:
    """The record name of changeset number ``seq`` of ``device`` (None: the first release's)."""
    if device is None:
        return f"{CHANGESET_PREFIX}{seq:0{SEQ_DIGITS}d}"
    return f"{CHANGESET_PREFIX}{device}/{seq:0{SEQ_DIGITS}d}"


def chain_name(seq: int) -> str:
    return f"{CHAIN_PREFIX}{seq:0{SEQ_DIGITS}d}"


def _seq_of(name: str) -> int:
    return int(name.rsplit("/", 1)[1])


def _is_legacy(name: str) -> bool:
    return "/" not in name.removeprefix(CHANGESET_PREFIX)


class RecordPersistence(bdk.Persistence):  # type: ignore[misc]
    """A ``bdkpython.Persistence`` writing changesets as records of a RecordStore."""

    def __init__(
        self,
        store: RecordStore,
        network_kind: bdk.NetworkKind,
        *,
        compact_every: int = DEFAULT_COMPACT_EVERY,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self._store = store
        self._network_kind = network_kind
        self._compact_every = max(2, compact_every)
        self._max_record_bytes = max_record_bytes
        self._lock = threading.Lock()
        self._next_seq: int | None = None  # known after the first read of the store
        self._device = ""
        self._records = 0  # changeset records currently in the store
        self._compacted = 0  # records the last compaction left (more than one for big wallets)
        self.last_error: str | None = None
        # The store's own error (a full disk, a damaged file), for callers to tell the user.
        self.last_exception: BaseException | None = None

    # --- bdkpython callbacks (must never let an exception escape) ---------------------

    def initialize(self) -> bdk.ChangeSet:
        try:
            with self._lock:
                return self._load()
        except BaseException as error:
            raise self._failure("loading the wallet", error) from None

    def persist(self, changeset: bdk.ChangeSet) -> None:
        try:
            with self._lock:
                self._append(changeset)
        except BaseException as error:
            raise self._failure("saving the wallet", error) from None
        try:
            with self._lock:
                if self._records - self._compacted >= self._compact_every:
                    self._compact_locked()
        except BaseException as error:
            # The changeset itself is stored; compaction is retried on the next append.
            self._failure("compacting the wallet records", error)

    # --- plain methods ------------------------------------------------------------------

    def compact(self) -> None:
        """Merge every changeset record into one (or a few, for big wallets), atomically."""
        with self._lock:
            self._compact_locked()

    def record_count(self) -> int:
        """How many changeset records the store holds now (every device's)."""
        return len(self._store.scan(CHANGESET_PREFIX))

    # --- internals ----------------------------------------------------------------------

    def _own(self) -> tuple[str, list[tuple[str, bytes]]]:
        """This device's id and its changeset records (with the first release's, it compacts)."""
        device = device_id(self._store).hex()
        own = self._store.scan(f"{CHANGESET_PREFIX}{device}/")
        legacy = [(n, v) for n, v in self._store.scan(CHANGESET_PREFIX) if _is_legacy(n)]
        return device, legacy + own

    def _load(self) -> bdk.ChangeSet:
        shared = self._store.scan(CHANGESET_PREFIX)
        chain = self._store.scan(CHAIN_PREFIX)
        _, own = self._own()
        self._records = len(own)
        # What a compaction would leave: compacting sooner than that gains nothing.
        total = sum(len(value) for _, value in own)
        self._compacted = -(-total // self._max_record_bytes)
        self._resume_seq()
        # This device's chain last: it wins where first-release records carried checkpoints.
        return merge([decode_changeset(value, self._network_kind) for _, value in shared + chain])

    def _resume_seq(self) -> None:
        device, own = self._own()
        chain = self._store.scan(CHAIN_PREFIX)
        self._records = len(own)
        seqs = [_seq_of(n) for n, _ in own if not _is_legacy(n)] + [_seq_of(n) for n, _ in chain]
        self._next_seq = max(seqs) + 1 if seqs else 0
        self._device = device

    def _append(self, changeset: bdk.ChangeSet) -> None:
        if (
            self._next_seq is None
            or self._device != device_id(self._store).hex()
            or self._store.get(changeset_name(self._next_seq, self._device)) is not None
        ):
            # First write, a new device id, or another writer on this store took the seq.
            self._resume_seq()
        assert self._next_seq is not None
        shared, chain = encode_shared_and_chain(changeset, self._max_record_bytes)
        puts = {
            changeset_name(self._next_seq + i, self._device): chunk
            for i, chunk in enumerate(shared)
        }
        if chain is not None:
            puts[chain_name(self._next_seq)] = chain
        # One batch: a changeset BDK believes saved is on disk whole or not at all.
        self._store.batch(puts=puts)
        self._next_seq += len(shared)
        self._records += len(shared)

    def _compact_locked(self) -> None:
        self._resume_seq()
        _, own = self._own()
        chain = self._store.scan(CHAIN_PREFIX)
        if len(own) < 2 and len(chain) < 2:
            self._records = self._compacted = len(own)
            return
        aggregate = merge([decode_changeset(value, self._network_kind) for _, value in own + chain])
        shared, chain_record = encode_shared_and_chain(aggregate, self._max_record_bytes)
        assert self._next_seq is not None
        seq = self._next_seq
        puts = {changeset_name(seq + i, self._device): chunk for i, chunk in enumerate(shared)}
        if chain_record is not None:
            puts[chain_name(seq)] = chain_record
        self._store.batch(puts=puts, deletes=[name for name, _ in own + chain])
        self._next_seq = seq + len(shared)
        self._records = self._compacted = len(shared)

    def _failure(self, doing: str, error: BaseException) -> Exception:
        # Only the type reaches the log: a message could quote record contents.
        self.last_error = f"{doing} failed: {type(error).__name__}"
        self.last_exception = error
        log.error("wallet persistence: %s", self.last_error)
        reason: Exception = bdk.PersistenceError.Reason(self.last_error)
        return reason


def check_descriptor_record(
    store: RecordStore,
    descriptor: bdk.Descriptor,
    change_descriptor: bdk.Descriptor,
    network: str,
) -> None:
    """Write ``wallet/descriptor`` (public) once; refuse records of another seed or network."""
    expected = _descriptor_document(descriptor, change_descriptor, network)
    found = store.get(DESCRIPTOR_RECORD)
    if found is None:
        store.put(DESCRIPTOR_RECORD, json.dumps(expected, sort_keys=True).encode())
        return
    problem = _descriptor_problem(found, expected)
    if problem is not None:
        raise DescriptorMismatch(problem)


def records_of_another_seed(store: RecordStore, seed: bytes, network: Network) -> str | None:
    """Why the store's wallet records are not this seed's (None: they are, or there are none).

    Read only: what runs before the wallet opens (a backup from the command line) asks it, so
    the records of one wallet never go into the backup of another seed.
    """
    found = store.get(DESCRIPTOR_RECORD)
    if found is None:
        return None
    external, internal = bip84_descriptors(seed, network)
    kind = network_kind(network)
    expected = _descriptor_document(
        bdk.Descriptor(external, kind), bdk.Descriptor(internal, kind), network.value
    )
    return _descriptor_problem(found, expected)


def _descriptor_document(
    descriptor: bdk.Descriptor, change_descriptor: bdk.Descriptor, network: str
) -> dict[str, str]:
    return {"external": str(descriptor), "internal": str(change_descriptor), "network": network}


def _descriptor_problem(found: bytes, expected: dict[str, str]) -> str | None:
    try:
        recorded = json.loads(found)
    except ValueError:
        return "the wallet descriptor record is unreadable"
    if recorded != expected:
        return "these wallet records belong to another recovery phrase or network"
    return None
