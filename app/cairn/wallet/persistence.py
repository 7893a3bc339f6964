"""BDK wallet persistence into the record store: append-only changeset records, compacted.

Each BDK ``persist`` call appends one record ``wallet/changeset/<seq>`` (seq zero-padded so
names sort in write order). Every ``compact_every`` appends, all changesets are merged into one
aggregate written under the next seq, and the older records are deleted, in one atomic batch:
after a crash the store holds either the old records or the aggregate, and loading merges
whatever is there, so both are complete. Merging is idempotent, so a backup that briefly holds
both the aggregate and some old records restores the same wallet.

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

from cairn.wallet.changeset_codec import decode_changeset, encode_changeset_chunks, merge

if TYPE_CHECKING:
    from cairn.storage import RecordStore

log = logging.getLogger(__name__)

DESCRIPTOR_RECORD = "wallet/descriptor"
CHANGESET_PREFIX = "wallet/changeset/"
SEQ_DIGITS = 12
DEFAULT_COMPACT_EVERY = 32
# Well under the backup server's 4 MiB object limit, even before compression.
MAX_RECORD_BYTES = 1024 * 1024


class DescriptorMismatch(ValueError):
    """The records belong to another seed or network, or their descriptor record is unreadable."""


def changeset_name(seq: int) -> str:
    """The record name of changeset number ``seq``."""
    return f"{CHANGESET_PREFIX}{seq:0{SEQ_DIGITS}d}"


def _seq_of(name: str) -> int:
    return int(name.removeprefix(CHANGESET_PREFIX))


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
        """How many changeset records the store holds now."""
        return len(self._store.scan(CHANGESET_PREFIX))

    # --- internals ----------------------------------------------------------------------

    def _load(self) -> bdk.ChangeSet:
        records = self._store.scan(CHANGESET_PREFIX)
        self._records = len(records)
        # What a compaction would leave: compacting sooner than that gains nothing.
        total = sum(len(value) for _, value in records)
        self._compacted = -(-total // self._max_record_bytes)
        self._next_seq = _seq_of(records[-1][0]) + 1 if records else 0
        return merge([decode_changeset(value, self._network_kind) for _, value in records])

    def _resume_seq(self) -> None:
        records = self._store.scan(CHANGESET_PREFIX)
        self._records = len(records)
        self._next_seq = _seq_of(records[-1][0]) + 1 if records else 0

    def _append(self, changeset: bdk.ChangeSet) -> None:
        if self._next_seq is None or self._store.get(changeset_name(self._next_seq)) is not None:
            # First write, or another writer on this store took the seq: never overwrite.
            self._resume_seq()
        assert self._next_seq is not None
        chunks = encode_changeset_chunks(changeset, self._max_record_bytes)
        # One batch: a changeset BDK believes saved is on disk whole or not at all.
        self._store.batch(
            puts={changeset_name(self._next_seq + i): chunk for i, chunk in enumerate(chunks)}
        )
        self._next_seq += len(chunks)
        self._records += len(chunks)

    def _compact_locked(self) -> None:
        records = self._store.scan(CHANGESET_PREFIX)
        if len(records) < 2:
            self._records = self._compacted = len(records)
            return
        aggregate = merge([decode_changeset(value, self._network_kind) for _, value in records])
        chunks = encode_changeset_chunks(aggregate, self._max_record_bytes)
        seq = _seq_of(records[-1][0]) + 1
        self._store.batch(
            puts={changeset_name(seq + i): chunk for i, chunk in enumerate(chunks)},
            deletes=[name for name, _ in records],
        )
        self._next_seq = seq + len(chunks)
        self._records = self._compacted = len(chunks)

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
    expected = {
        "external": str(descriptor),
        "internal": str(change_descriptor),
        "network": network,
    }
    found = store.get(DESCRIPTOR_RECORD)
    if found is None:
        store.put(DESCRIPTOR_RECORD, json.dumps(expected, sort_keys=True).encode())
        return
    try:
        recorded = json.loads(found)
    except ValueError:
        raise DescriptorMismatch("the wallet descriptor record is unreadable") from None
    if recorded != expected:
        raise DescriptorMismatch(
            "these wallet records belong to another recovery phrase or network"
        )
