"""How a change another device made meets this device's own state, decided by kind of record.

Pure: the sync engine reads both sides, calls `decide`, and applies the decision in one local
transaction (or decides again if the user wrote meanwhile). A remote change conflicts with a
local one only when the local change is still pending (it was made without having seen the
remote one) and the two differ. Then, by the record's kind:

* `wallet/changeset/...`: BDK's transaction graph and keychain indexes only grow, and each
  device writes under its own name; two different values under one name mean two copies of
  one data dir wrote it: both are kept (ours moves to a new name);
* `wallet/revealed/...` (the last address index handed out, and the device that reserved it):
  the larger index; at the same index the server's copy wins, so the device that reached the
  server second sees its reservation lost and takes the next index;
* `wallet/reserved/<index>` (the device that reserved one receive index): the server's copy,
  always: the device whose reservation reached the server first has the index, and every
  other sees it lost, however many indexes the devices have taken since;
* `conflicts/...`: the union of the values kept;
* everything else (labels, preferences, payment memos, records of kinds this version does not
  know): the later change by hybrid logical clock, device id breaking ties; the other value is
  kept in `conflicts/<name>` for the user to see and settle. A delete against an edit is such a
  conflict too: never a silent loss or resurrection.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from cairn.storage.protocol import MAX_NAME_BYTES
from cairn.wire.payload import Clock

CONFLICT_PREFIX: Final = "conflicts/"
CHANGESET_PREFIX: Final = "wallet/changeset/"
REVEALED_PREFIX: Final = "wallet/revealed/"
RESERVED_PREFIX: Final = "wallet/reserved/"
# A conflict record keeps every value until the user settles it; only one that would outgrow
# what one record may hold (the wallet's 1 MiB) sheds its oldest values.
MAX_CONFLICT_BYTES: Final = 1024 * 1024


class Kind(Enum):
    UNION = "union"
    MAXIMUM = "maximum"
    FIRST_WRITER = "first_writer"
    CONFLICTS = "conflicts"
    LAST_WRITER = "last_writer"


def kind_of(name: str) -> Kind:
    if name.startswith(CHANGESET_PREFIX):
        return Kind.UNION
    if name.startswith(REVEALED_PREFIX):
        return Kind.MAXIMUM
    if name.startswith(RESERVED_PREFIX):
        return Kind.FIRST_WRITER
    if name.startswith(CONFLICT_PREFIX):
        return Kind.CONFLICTS
    return Kind.LAST_WRITER


@dataclass(frozen=True)
class Side:
    """One side's value of a record (None: deleted or absent) and when it was changed."""

    value: bytes | None
    clock: Clock


@dataclass(frozen=True)
class Candidate:
    """One value a conflict kept: what it was, which device wrote it, when."""

    value: bytes | None
    device: bytes
    clock: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "value": None if self.value is None else base64.b64encode(self.value).decode(),
            "device": self.device.hex(),
            "clock": list(self.clock),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        raw = data["value"]
        wall, counter = data["clock"]
        return cls(
            None if raw is None else base64.b64decode(raw, validate=True),
            bytes.fromhex(data["device"]),
            (int(wall), int(counter)),
        )

    @classmethod
    def of(cls, side: Side) -> Candidate:
        return cls(side.value, side.clock.device, (side.clock.wall_ms, side.clock.counter))


@dataclass(frozen=True)
class ConflictRecord:
    """`conflicts/<name>`: the values of `name` that concurrent edits left, newest first."""

    name: str
    candidates: tuple[Candidate, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "candidates": [c.to_json() for c in self.candidates]}

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> ConflictRecord:
        data = json.loads(raw)
        return cls(str(data["name"]), tuple(Candidate.from_json(c) for c in data["candidates"]))

    def merged(self, *others: Candidate) -> ConflictRecord:
        seen: dict[tuple[bytes | None, bytes], Candidate] = {}
        for candidate in (*self.candidates, *others):
            key = (candidate.value, candidate.device)
            if key not in seen or seen[key].clock < candidate.clock:
                seen[key] = candidate
        ordered = sorted(seen.values(), key=lambda c: (c.clock, c.device), reverse=True)
        kept: list[Candidate] = []
        size = len(self.name) + 64
        for candidate in ordered:
            size += len(candidate.value or b"") * 4 // 3 + 96
            if kept and size > MAX_CONFLICT_BYTES:
                break
            kept.append(candidate)
        return ConflictRecord(self.name, tuple(kept))


def conflict_record_name(name: str) -> str:
    """Where the conflict of `name` is kept: one record per name (hashed if too long)."""
    candidate = CONFLICT_PREFIX + name
    if len(candidate.encode("utf-8")) <= MAX_NAME_BYTES:
        return candidate
    return CONFLICT_PREFIX + "#" + hashlib.sha256(name.encode("utf-8")).hexdigest()


class Keep:
    """Marker: the local value stays as it is (and its pending change is pushed over the remote)."""


KEEP: Final = Keep()


@dataclass(frozen=True)
class Decision:
    """What the local record becomes.

    `local` is the value to apply without queueing (None deletes) or KEEP; `settled` says the
    pending local change is done with (acknowledged, not pushed); `queue` is a value to write and
    push instead (a merge of both sides); `conflict` the candidates to add to conflicts/<name>;
    `resave` a local value to keep under a new name of this device.
    """

    local: bytes | Keep | None
    settled: bool
    queue: bytes | None = None
    conflict: tuple[Candidate, ...] = field(default=())
    resave: bytes | None = None


def decide(name: str, local: Side | None, remote: Side) -> Decision:
    """The outcome of a remote change; `local` is None when nothing local is pending."""
    if local is None or local.value == remote.value:
        return Decision(remote.value, settled=True)
    kind = kind_of(name)
    if kind is Kind.UNION:
        return Decision(remote.value, settled=True, resave=local.value)
    if kind is Kind.FIRST_WRITER and remote.value is not None:
        return Decision(remote.value, settled=True)
    if kind is Kind.MAXIMUM and local.value is not None and remote.value is not None:
        if _index(local.value) > _index(remote.value):
            return Decision(KEEP, settled=False)
        return Decision(remote.value, settled=True)
    if kind is Kind.CONFLICTS and local.value is not None and remote.value is not None:
        merged = _merge_conflicts(local.value, remote.value)
        if merged == remote.value:
            return Decision(remote.value, settled=True)
        return Decision(KEEP, settled=True, queue=merged)
    conflict = (Candidate.of(local), Candidate.of(remote))
    if _later(local.clock, remote.clock):
        return Decision(KEEP, settled=False, conflict=conflict)
    return Decision(remote.value, settled=True, conflict=conflict)


def _later(a: Clock, b: Clock) -> bool:
    return (a.wall_ms, a.counter, a.device) > (b.wall_ms, b.counter, b.device)


def _index(value: bytes) -> int:
    """The index of a `wallet/revealed/...` record: "<index>" or "<index> <device>".

    The record belongs to the wallet (`cairn.wallet.core.parse_revealed`); the engine sits
    beside the wallet, not above it, so it reads the one number it merges by itself.
    """
    try:
        return int(value.decode("utf-8", "replace").partition(" ")[0])
    except ValueError:
        return -1


def _merge_conflicts(a: bytes, b: bytes) -> bytes:
    try:
        left, right = ConflictRecord.decode(a), ConflictRecord.decode(b)
    except (ValueError, KeyError, TypeError):
        return b  # an unreadable side loses to a readable one; both devices agree on b
    return left.merged(*right.candidates).encode()
