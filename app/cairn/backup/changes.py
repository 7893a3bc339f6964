"""Merging what the server holds into local records: one page's writes, gathered for one
transaction (used by pull and resync)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cairn.backup import hlc
from cairn.backup.merge import (
    CHANGESET_PREFIX,
    KEEP,
    ConflictRecord,
    Decision,
    conflict_record_name,
)
from cairn.wire import payload


@dataclass
class _PageResult:
    manifest: payload.Manifest | None = None
    manifest_version: int = 0
    applied: int = 0
    conflicts: int = 0
    clone: bool = False
    clock: hlc.ClockState = field(default_factory=hlc.ClockState)


@dataclass
class _Changes:
    """What merging one page does to the local store, gathered for one transaction."""

    values: dict[str, bytes]
    result: _PageResult
    puts: dict[str, bytes] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    queue: dict[str, bytes] = field(default_factory=dict)
    acks: list[int] = field(default_factory=list)


def _settle(name: str, decision: Decision, seq: int | None, changes: _Changes) -> None:
    """Turn one merge decision into local writes (applied, queued, acknowledged)."""
    values, result = changes.values, changes.result
    if decision.settled and seq is not None:
        changes.acks.append(seq)
    if decision.queue is not None:
        changes.queue[name] = decision.queue
    elif decision.local is not KEEP:
        if decision.local is None:
            if name in values:
                changes.deletes.append(name)
        elif values.get(name) != decision.local:
            assert isinstance(decision.local, bytes)
            changes.puts[name] = decision.local
        result.applied += 1
    if decision.resave is not None:
        changes.queue[_resaved_name(name)] = decision.resave
    if decision.conflict:
        where = conflict_record_name(name)
        existing = changes.queue.get(where, values.get(where))
        record = ConflictRecord(name, ())
        if existing is not None:
            try:
                record = ConflictRecord.decode(existing)
            except (ValueError, KeyError, TypeError):
                record = ConflictRecord(name, ())
        changes.queue[where] = record.merged(*decision.conflict).encode()
        result.conflicts += 1


def _reconcile(changes: _Changes) -> None:
    """A conflict record both brought by the page and extended here: one merged, queued write."""
    for name in set(changes.queue) & set(changes.puts):
        brought = changes.puts.pop(name)
        try:
            ours = ConflictRecord.decode(changes.queue[name])
            changes.queue[name] = ours.merged(*ConflictRecord.decode(brought).candidates).encode()
        except (ValueError, KeyError, TypeError):
            changes.queue[name] = brought
    changes.deletes[:] = [n for n in changes.deletes if n not in changes.queue]


def _same(value: bytes | None, record: payload.Record) -> bool:
    return (value is None) if record.deleted else value == record.value


def _resaved_name(name: str) -> str:
    """A new name for a changeset another copy of this data dir also wrote under `name`."""
    suffix = os.urandom(4).hex()
    return f"{CHANGESET_PREFIX}resaved/{suffix}/{name.removeprefix(CHANGESET_PREFIX)}"
