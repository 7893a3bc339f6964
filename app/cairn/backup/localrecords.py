"""The values of the engine's `local/backup/` records: how each is encoded and read back.

Pure data; cairn.backup.localstate is the one writer of the records themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cairn.wire.payload import RECENT_WRITES

__all__ = [
    "SENT_KEPT",
    "SENT_RECENT_KEPT",
    "FullRequirement",
    "InDoubt",
    "Incarnation",
    "ManifestState",
    "Notice",
    "SentIds",
]

SENT_KEPT = 1024  # older write ids remembered: our own writes are recognised in the feed by them
# The newest ones, in a record of their own: each batch rewrites a record of at most this many
# (about a kilobyte) instead of one of every id kept (about 37 KB, past a page of the store).
SENT_RECENT_KEPT = 32


_DEVICE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class ManifestState:
    """The server's live set as this device knows it: count and set digest of live objects,
    the devices the manifest names as still filling the store (PROTOCOL.md 5.4), and the write
    ids of the batches that wrote this manifest version and the ones before it (newest first:
    what the next manifest names as its `recent_writes`)."""

    version: int = 0
    objects: int = 0
    digest: int = 0
    filling: tuple[str, ...] = ()
    recent: tuple[str, ...] = ()

    def encode(self) -> bytes:
        data: dict[str, object] = {
            "version": self.version,
            "objects": self.objects,
            "digest": f"{self.digest:064x}",
        }
        if self.filling:
            data["filling"] = list(self.filling)
        if self.recent:
            data["recent"] = list(self.recent)
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> ManifestState:
        if raw is None:
            return cls()
        data = json.loads(raw)
        # What the next manifest carries on: a damaged entry must never reach the other
        # devices (they would find the manifest malformed), so only well-formed ids are kept.
        filling = tuple(sorted(set(_well_formed(data.get("filling")))))
        recent = tuple(_well_formed(data.get("recent")))[:RECENT_WRITES]
        return cls(
            int(data["version"]), int(data["objects"]), int(data["digest"], 16), filling, recent
        )


def _well_formed(marks: object) -> list[str]:
    """The 16-byte ids (device or write ids, lower-case hex) in a list as stored."""
    if not isinstance(marks, list):
        return []
    return [m for m in marks if isinstance(m, str) and _DEVICE_ID.fullmatch(m)]


@dataclass(frozen=True)
class InDoubt:
    """A batch sent without an answer yet: applied or not, the server knows and this device not.

    `generation` is the one the batch creates if applied; `seqs` are the outbox entries it
    carried. When the manifest names `write_id` among the recent writes, the batch was applied:
    those entries are acknowledged before any change another device made on top of them is
    merged (PROTOCOL.md 11.3), so it is not taken for a conflict.
    """

    write_id: str
    generation: int
    seqs: tuple[int, ...]

    def encode(self) -> bytes:
        data = {"write_id": self.write_id, "generation": self.generation, "seqs": list(self.seqs)}
        return json.dumps(data).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> InDoubt | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            write_id, generation, seqs = data["write_id"], data["generation"], data["seqs"]
        except (ValueError, TypeError, KeyError):
            return None  # damaged: its entries are simply sent again
        if (
            not _well_formed([write_id])
            or type(generation) is not int
            or not isinstance(seqs, list)
        ):
            return None
        if not all(type(q) is int for q in seqs):
            return None
        return cls(write_id, generation, tuple(seqs))

    def settled_by(
        self, version: int, write_id: str | None, recent: tuple[str, ...]
    ) -> bool | None:
        """Whether the manifest at `version`, written by `write_id` and naming `recent`, says
        this batch was applied (True) or not (False); None if it cannot tell."""
        if write_id == self.write_id or self.write_id in recent:
            return True
        # The manifest versions it speaks of: its own and, one generation each, those before.
        if version - len(recent) <= self.generation <= version:
            return False
        return None


@dataclass(frozen=True)
class Incarnation:
    """This life of the store, and the one it replaced (named in every manifest).

    `confirmed` is False for a life this device is about to start, until the server has
    accepted its first batch.
    """

    id: str
    previous: str | None = None
    previous_generation: int = 0
    confirmed: bool = True

    def as_confirmed(self) -> Incarnation:
        """The same life, once the server has accepted a batch of it."""
        return Incarnation(self.id, self.previous, self.previous_generation)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "previous": self.previous,
                "previous_generation": self.previous_generation,
                "confirmed": self.confirmed,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> Incarnation | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return cls(
            str(data["id"]),
            data.get("previous"),
            int(data.get("previous_generation", 0)),
            bool(data.get("confirmed", True)),
        )


@dataclass(frozen=True)
class FullRequirement:
    """Why everything must be compared with the server again, and how to treat what it lacks.

    `trust_server`: a record the server no longer has was deleted by another device (compaction,
    a new incarnation, the protocol upgrade); otherwise the server lost it and it goes up again.
    `new_incarnation`: this device may start a new life of an erased store.
    """

    reason: str
    token: str
    trust_server: bool = False
    new_incarnation: bool = True

    @property
    def fills_store(self) -> bool:
        """Its full backup names the device as still filling the store (PROTOCOL.md 11.5):
        it uploads what the server lacks. Not when the server is trusted (after a compaction,
        or joining another device's life): what goes up then is only what the device changed."""
        return not self.trust_server


@dataclass(frozen=True)
class Notice:
    """Something the user must hear about until they dismiss it: a rollback or an erase."""

    kind: str  # "rollback" | "erased"
    reason: str
    at: float

    def encode(self) -> bytes:
        return json.dumps({"kind": self.kind, "reason": self.reason, "at": self.at}).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> Notice | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return cls(str(data["kind"]), str(data["reason"]), float(data["at"]))


@dataclass(frozen=True)
class SentIds:
    """The write ids of the batches this device sent lately: in the feed, a write carrying one
    of them is this device's own (its answer was lost, or it came back in a re-listing).

    Two records hold them: `recent`, newest last, at most SENT_RECENT_KEPT, which every batch
    rewrites; and `older`, at most SENT_KEPT, which takes all but the newest of the recent ones
    when they fill up. A push reads only the recent ones (`older` is None then): all it asks is
    whether its spare write id, always the newest, is among them.
    """

    recent: tuple[str, ...] = ()
    older: frozenset[str] | None = frozenset()

    @classmethod
    def decode(cls, recent: bytes | None, older: bytes | None, *, with_older: bool) -> SentIds:
        return cls(
            tuple(_ids(recent)),
            frozenset(_ids(older)) if with_older else None,
        )

    def __contains__(self, write_id: object) -> bool:
        if write_id in self.recent:
            return True
        if self.older is None:
            raise LookupError("only the recent write ids were read")
        return write_id in self.older

    def appended(self, write_id: str) -> SentIds:
        """As they are once `write_id` is remembered (of the older ones, only what was read)."""
        recent, moved = _rolled((*self.recent, write_id))
        older = None if self.older is None else self.older | set(moved)
        return SentIds(recent, older)


def appended_sent(
    recent: bytes | None, read_older: Callable[[], bytes | None], write_ids: list[str]
) -> tuple[bytes, bytes | None]:
    """The two records once `write_ids` are remembered: the recent one, and the older one if it
    changes (None: it stays as it is, and `read_older` was not called)."""
    kept, moved = _rolled((*_ids(recent), *write_ids))
    if not moved:
        return _encode_ids(kept), None
    return _encode_ids(kept), _encode_ids([*_ids(read_older()), *moved][-SENT_KEPT:])


def _rolled(ids: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The recent ids to keep, and those that move to the older ones (all but the newest, once
    there are more than SENT_RECENT_KEPT)."""
    if len(ids) <= SENT_RECENT_KEPT:
        return ids, ()
    return ids[-1:], ids[:-1]


def _ids(raw: bytes | None) -> list[str]:
    return [] if raw is None else [str(i) for i in json.loads(raw)]


def _encode_ids(ids: Sequence[str]) -> bytes:
    return json.dumps(list(ids)).encode()
