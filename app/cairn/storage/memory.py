"""MemoryStore: the record store contract in a dict, for tests and throwaway wallets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping

from cairn.storage.protocol import (
    OutboxEntry,
    OutboxOp,
    OutboxStats,
    Pending,
    PendingChanged,
    Snapshot,
    StoreClosedError,
    check_batch,
    check_limit,
    check_name,
    check_prefix,
    check_restored,
    check_seqs,
    check_synced,
    is_local,
)


class MemoryStore:
    """A RecordStore that lives only as long as the object; same semantics as SqliteStore."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, bytes] = {}
        # seq -> entry; seqs only grow, so insertion order is seq order.
        self._outbox: dict[int, OutboxEntry] = {}
        self._pending_seq: dict[str, int] = {}
        self._pending_at: dict[int, int] = {}
        self._last_seq = 0
        self._closed = False

    def get(self, name: str) -> bytes | None:
        check_name(name)
        with self._lock:
            self._check_open()
            return self._records.get(name)

    def put(self, name: str, value: bytes) -> None:
        self.batch({name: value})

    def put_if(self, name: str, value: bytes, *, expect: bytes | None) -> bool:
        check_batch({name: value}, ())
        with self._lock:
            self._check_open()
            if self._records.get(name) != expect:
                return False
            self._records[name] = value
            self._enqueue(name, "put")
        return True

    def delete(self, name: str) -> None:
        self.batch(deletes=(name,))

    def scan(self, prefix: str = "") -> list[tuple[str, bytes]]:
        check_prefix(prefix)
        with self._lock:
            self._check_open()
            found = [(n, v) for n, v in self._records.items() if n.startswith(prefix)]
        found.sort()
        return found

    def batch(self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()) -> None:
        put_items, delete_names = check_batch(puts, deletes)
        with self._lock:
            self._check_open()
            for name, value in put_items:
                self._records[name] = value
                self._enqueue(name, "put")
            for name in delete_names:
                if self._records.pop(name, None) is not None:
                    self._enqueue(name, "delete")

    def load_restored(self, records: Iterable[tuple[str, bytes]]) -> None:
        """Write records that came from the backup, all or nothing, queueing nothing."""
        items = check_restored(records)
        with self._lock:
            self._check_open()
            self._records.update(items)

    def get_many(self, names: Iterable[str]) -> dict[str, bytes]:
        wanted = {check_name(n) for n in names}
        with self._lock:
            self._check_open()
            return {n: self._records[n] for n in wanted if n in self._records}

    def pending_for(self, names: Iterable[str]) -> dict[str, Pending]:
        wanted = {check_name(n) for n in names}
        with self._lock:
            self._check_open()
            return self._pending_of(wanted)

    def _pending_of(self, names: Iterable[str]) -> dict[str, Pending]:
        found: dict[str, Pending] = {}
        for name in names:
            seq = self._pending_seq.get(name)
            if seq is not None:
                found[name] = Pending(seq, self._outbox[seq].op, self._pending_at[seq])
        return found

    def apply_synced(
        self,
        puts: Mapping[str, bytes],
        deletes: Iterable[str],
        *,
        expect: Mapping[str, int | None],
        ack: Iterable[int] = (),
        queue: Mapping[str, bytes] | None = None,
        queued_at: int | None = None,
    ) -> None:
        put_items, delete_names, expected, queued = check_synced(puts, deletes, expect, queue)
        acks = check_seqs(ack)
        with self._lock:
            self._check_open()
            for name, seq in expected:
                if self._pending_seq.get(name) != seq:
                    raise PendingChanged(f"{name!r} changed while its sync was being decided")
            for seq in acks:
                entry = self._outbox.pop(seq, None)
                if entry is not None:
                    del self._pending_seq[entry.name]
                    del self._pending_at[seq]
            self._records.update(put_items)
            for name in delete_names:
                self._records.pop(name, None)
            for name, value in queued:
                self._records[name] = value
                self._enqueue(name, "put", at=queued_at)

    def outbox_pending(self, limit: int = 500) -> list[OutboxEntry]:
        check_limit(limit)
        with self._lock:
            self._check_open()
            entries: list[OutboxEntry] = []
            for entry in self._outbox.values():
                if len(entries) == limit:
                    break
                entries.append(entry)
            return entries

    def outbox_ack(self, seqs: Iterable[int]) -> None:
        wanted = check_seqs(seqs)
        with self._lock:
            self._check_open()
            for seq in wanted:
                entry = self._outbox.pop(seq, None)
                if entry is not None:
                    del self._pending_seq[entry.name]
                    del self._pending_at[seq]

    def outbox_stats(self) -> OutboxStats:
        with self._lock:
            self._check_open()
            size = sum(len(self._records.get(e.name, b"")) for e in self._outbox.values())
            return OutboxStats(len(self._outbox), size)

    def snapshot(self) -> Snapshot:
        with self._lock:
            self._check_open()
            records = [(n, v) for n, v in self._records.items() if not is_local(n)]
            head = self._last_seq
        records.sort()
        return Snapshot(records, head)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _enqueue(self, name: str, op: OutboxOp, *, at: int | None = None) -> None:
        if is_local(name):
            return
        old = self._pending_seq.pop(name, None)
        if old is not None:
            del self._outbox[old]
            del self._pending_at[old]
        self._last_seq += 1
        self._outbox[self._last_seq] = OutboxEntry(self._last_seq, name, op)
        self._pending_seq[name] = self._last_seq
        self._pending_at[self._last_seq] = int(time.time() * 1000) if at is None else at

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError


__all__ = ["MemoryStore"]
