"""The record store contract: names to bytes, plus an outbox of changes waiting for backup.

Every put or delete of a backed-up name queues an outbox entry in the same transaction as the
write. A name has at most one pending entry: a newer write replaces the older entry with a new,
higher sequence number, so an uploader that acknowledges what it read never acknowledges a change
it has not seen. Names under ``local/`` are machine-local and never queued or snapshotted.

``put_if`` is a compare-and-set for a record several programs on one data dir derive from its
own value (the next address index): it writes, queued, only if the record still holds
``expect`` (None: absent), in one transaction, and says whether it wrote.

The writes that queue nothing are ``load_restored``, which fills a store with records that came
from the backup (a restore), and ``apply_synced``, which applies what another device wrote:
the server already has those values. ``apply_synced`` is a compare-and-swap against the
outbox: its caller decided with the pending entries it read, and if any of them changed since
(the user wrote again), nothing is written and the caller decides again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, runtime_checkable

LOCAL_PREFIX = "local/"
MAX_NAME_BYTES = 1024

OutboxOp = Literal["put", "delete"]


class StoreError(Exception):
    """Base class of every error the record store raises on purpose."""


class StoreClosedError(StoreError):
    """The store was used after close(): a bug in the caller."""

    def __init__(self) -> None:
        super().__init__("the record store is closed")


class StoreNotWritable(StoreError):
    """The store's folder cannot be written (a read-only disk or folder): SQLite keeps its
    journal beside the file, so the store cannot even be read there."""


class StoreCorruptError(StoreError):
    """The store file fails SQLite's integrity check."""


class SchemaTooNewError(StoreError):
    """The file was written by a newer Cairn whose schema this version does not know."""


class PendingChanged(StoreError):
    """``apply_synced`` found the outbox other than its caller saw it: nothing was written."""


class MigrationError(StoreError):
    """A schema migration failed; the file was left as it was before the attempt."""


class OutboxEntry(NamedTuple):
    """One pending change: the uploader sends the name's current value, or its deletion."""

    seq: int
    name: str
    op: OutboxOp


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Pending entries, and the size in bytes of the current values they will upload."""

    # A dataclass, not a NamedTuple: a field called ``count`` would shadow tuple.count.

    count: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Pending:
    """A name's pending outbox entry, and when the change was made (unix milliseconds)."""

    seq: int
    op: OutboxOp
    at_ms: int


class Snapshot(NamedTuple):
    """Every backed-up record, read in one transaction, with the last outbox seq it includes.

    Entries with ``seq <= outbox_head`` describe changes already contained in ``records``.
    """

    records: list[tuple[str, bytes]]
    outbox_head: int


@runtime_checkable
class RecordStore(Protocol):
    """Durable names to bytes; every write of a backed-up name is queued for backup atomically."""

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, value: bytes) -> None: ...

    def put_if(self, name: str, value: bytes, *, expect: bytes | None) -> bool: ...

    def delete(self, name: str) -> None: ...

    def scan(self, prefix: str = "") -> list[tuple[str, bytes]]: ...

    def batch(
        self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()
    ) -> None: ...

    def load_restored(self, records: Iterable[tuple[str, bytes]]) -> None: ...

    def get_many(self, names: Iterable[str]) -> dict[str, bytes]: ...

    def pending_for(self, names: Iterable[str]) -> dict[str, Pending]: ...

    def apply_synced(
        self,
        puts: Mapping[str, bytes],
        deletes: Iterable[str],
        *,
        expect: Mapping[str, int | None],
        ack: Iterable[int] = (),
        queue: Mapping[str, bytes] | None = None,
        queued_at: int | None = None,
    ) -> None: ...

    def outbox_pending(self, limit: int = 500) -> list[OutboxEntry]: ...

    def outbox_ack(self, seqs: Iterable[int]) -> None: ...

    def outbox_stats(self) -> OutboxStats: ...

    def snapshot(self) -> Snapshot: ...

    def close(self) -> None: ...


def is_local(name: str) -> bool:
    """True for machine-local names, which are never queued for backup."""
    return name.startswith(LOCAL_PREFIX)


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid record name, else raise ValueError saying why."""
    if not isinstance(name, str):
        raise ValueError(f"record name must be str, not {type(name).__name__}")
    if not name:
        raise ValueError("record name must not be empty")
    if "\x00" in name:
        raise ValueError("record name must not contain NUL")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("record name must be valid Unicode (no lone surrogates)") from None
    if size > MAX_NAME_BYTES:
        raise ValueError(f"record name is {size} bytes in UTF-8; the limit is {MAX_NAME_BYTES}")
    return name


def check_value(value: object) -> bytes:
    """Return ``value`` if it is bytes, else raise ValueError."""
    if not isinstance(value, bytes):
        raise ValueError(f"record value must be bytes, not {type(value).__name__}")
    return value


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it can start a record name (empty allowed), else raise ValueError."""
    if not isinstance(prefix, str):
        raise ValueError(f"scan prefix must be str, not {type(prefix).__name__}")
    if prefix:
        check_name(prefix)
    return prefix


def check_limit(limit: object) -> int:
    """Return ``limit`` if it is a positive int, else raise ValueError."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be a positive int, not {limit!r}")
    return limit


def check_seqs(seqs: Iterable[object]) -> list[int]:
    """Return the outbox seqs as a list if every one is an int, else raise ValueError."""
    checked: list[int] = []
    for seq in seqs:
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise ValueError(f"outbox seq must be int, not {type(seq).__name__}")
        checked.append(seq)
    return checked


def check_batch(
    puts: Mapping[str, bytes] | None, deletes: Iterable[str]
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Validate a whole batch before anything is written; a name may appear only once."""
    put_items = [(check_name(n), check_value(v)) for n, v in (puts or {}).items()]
    delete_names = [check_name(n) for n in deletes]
    seen = {n for n, _ in put_items}
    for name in delete_names:
        if name in seen:
            raise ValueError("a record name appears more than once in one batch")
        seen.add(name)
    return put_items, delete_names


def check_synced(
    puts: Mapping[str, bytes],
    deletes: Iterable[str],
    expect: Mapping[str, int | None],
    queue: Mapping[str, bytes] | None,
) -> tuple[
    list[tuple[str, bytes]], list[str], list[tuple[str, int | None]], list[tuple[str, bytes]]
]:
    """Validate an ``apply_synced`` call before anything is written."""
    put_items, delete_names = check_batch(puts, deletes)
    queued = [(check_name(n), check_value(v)) for n, v in (queue or {}).items()]
    names = {n for n, _ in put_items} | set(delete_names)
    if any(n in names for n, _ in queued):
        raise ValueError("a name is both applied and queued in one call")
    expected = [(check_name(n), seq) for n, seq in expect.items()]
    return put_items, delete_names, expected, queued


def check_restored(records: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Validate records for ``load_restored`` before anything is written; names only once."""
    items = list(records)
    names = [name for name, _ in items]
    if not _plainly_valid(names, [value for _, value in items]):
        # One by one, for the error that says which rule a record breaks.
        items = [(check_name(n), check_value(v)) for n, v in items]
    if len(set(names)) != len(items):
        raise ValueError("a record name appears more than once in one load")
    return items


def _plainly_valid(names: list[str], values: list[bytes]) -> bool:
    """Whether every name passes ``check_name`` and every value ``check_value``, checked for
    the whole load at once: a restore loads 100,000 records, and checking them one call each
    cost more than SQLite's writing them. False means: check them one by one."""
    if not names:
        return True
    if set(map(type, names)) != {str} or set(map(type, values)) != {bytes}:
        return False
    lengths = list(map(len, names))
    # A character is at most 4 bytes of UTF-8: longer names take the exact check.
    if min(lengths) == 0 or max(lengths) * 4 > MAX_NAME_BYTES:
        return False
    joined = "\n".join(names)
    if "\x00" in joined:
        return False
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
