"""What one batch of a push is made of, from the outbox read to the sealed batch (push.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from cairn.backup import hlc
from cairn.backup.engine import _View
from cairn.backup.localstate import Incarnation, ManifestState, SentIds
from cairn.storage import Pending
from cairn.wire import payload
from cairn.wire.messages import DeleteItem, PutItem

__all__ = ["BatchRead", "Mark", "PreparedBatch", "SealWork", "SealedBatch", "discard_ahead"]


class Mark(Enum):
    """What a batch's manifest says of this device filling the store (PROTOCOL.md 11.5)."""

    KEEP = "keep"  # the devices the manifest it replaces names, as they are
    ADD = "add"  # and this device: a batch of its full backup
    REMOVE = "remove"  # without this device: its full backup has put everything up

    def applied(self, filling: tuple[str, ...], device: str) -> tuple[str, ...]:
        marks = set(filling)
        if self is Mark.ADD:
            marks.add(device)
        elif self is Mark.REMOVE:
            marks.discard(device)
        return tuple(sorted(marks))


@dataclass
class BatchRead:
    """What one batch is built from, as read from the store."""

    names: list[str]
    keys: dict[str, str]  # name → object key
    pending: dict[str, Pending]
    found: dict[str, bytes]  # the view's records, the names' values and their version records
    full_required: str | None = None  # read only when asked for
    waiting: int = 0  # pending changes, counted only when asked for


@dataclass
class PreparedBatch:
    """One batch, sealed and ready to send, and the view it was built on."""

    view: _View
    incarnation: Incarnation
    generation: int
    write_id: str
    seqs: list[int]  # the outbox entries it acknowledges
    sealed: SealedBatch | None  # None: nothing to send, only entries to acknowledge
    full: bool  # the outbox had more than one batch could take: more may follow
    remembered: bool  # its write id is among the sent ones already (a spare one)

    def view_after(self) -> _View:
        """This device's view once the server has accepted this batch (what `_send` records)."""
        sealed = self.sealed
        assert sealed is not None
        return _View(
            generation=self.generation,
            incarnation=self.incarnation.as_confirmed(),
            manifest=self.manifest_after(),
            clock=sealed.clock,
            device=self.view.device,
            sent=self._sent_after(),
            current_protocol=True,
        )

    def manifest_after(self) -> ManifestState:
        """The manifest as this device knows it once the server has accepted this batch."""
        sealed = self.sealed
        assert sealed is not None
        recent = payload.following(self.write_id, sealed.recent)
        return ManifestState(self.generation, sealed.objects, sealed.digest, sealed.filling, recent)

    def _sent_after(self) -> SentIds:
        # As `_send` records them, without the spare id it adds (that one is for later).
        if self.remembered:
            return self.view.sent
        return self.view.sent.appended(self.write_id)

    def versions_after(self, keys: Iterable[str]) -> dict[str, int]:
        """The server versions of `keys` this batch changes once accepted (0: deleted)."""
        sealed = self.sealed
        assert sealed is not None
        changed = {p.key: self.generation for p in sealed.puts}
        changed.update((d.key, 0) for d in sealed.deletes)
        return {k: changed[k] for k in keys if k in changed}


def discard_ahead(ahead: asyncio.Future[PreparedBatch | None] | None) -> None:
    """Drop a batch prepared ahead that will not be sent: its preparation only reads, so it
    is cancelled and not waited for (waiting could swallow a cancellation of the caller)."""
    if ahead is not None:
        ahead.cancel()
        ahead.add_done_callback(_outcome_ignored)


def _outcome_ignored(future: asyncio.Future[PreparedBatch | None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so that it is not reported as never retrieved


@dataclass
class SealWork:
    """What one batch is built from."""

    chosen: list[str]
    keys: dict[str, str]
    known: dict[str, int]
    pending: dict[str, Pending]
    values: dict[str, bytes]
    view: _View
    incarnation: Incarnation
    generation: int
    filling: tuple[str, ...]  # the devices its manifest names as still filling the store


@dataclass
class SealedBatch:
    puts: list[PutItem]
    deletes: list[DeleteItem]
    bookkeeping: dict[str, bytes]
    forget: list[str]
    clock: hlc.ClockState
    digest: int
    objects: int
    filling: tuple[str, ...]
    recent: tuple[str, ...]  # the write ids its manifest names as the recent writes
