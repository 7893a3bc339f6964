"""The conflicts concurrent edits left (`conflicts/<name>` records), and the user's choice.

A conflict record keeps every value of one record that two devices set at once, with the
device and time of each; the record itself holds the provisional winner (the later edit).
Settling it writes the chosen value (or deletes the record, if the choice is a deletion) and
removes the conflict, both as ordinary changes that are backed up and reach every device.
"""

from __future__ import annotations

from cairn.backup.localstate import AsyncStore
from cairn.backup.merge import CONFLICT_PREFIX, ConflictRecord, conflict_record_name

__all__ = ["list_conflicts", "resolve_conflict"]


async def list_conflicts(store: AsyncStore) -> list[ConflictRecord]:
    """Every open conflict, by record name."""
    found: list[ConflictRecord] = []
    for _name, value in await store.scan(CONFLICT_PREFIX):
        try:
            found.append(ConflictRecord.decode(value))
        except (ValueError, KeyError, TypeError):
            continue  # written by a newer version: left untouched
    return sorted(found, key=lambda c: c.name)


async def resolve_conflict(store: AsyncStore, conflict: ConflictRecord, keep: int) -> None:
    """Keep value number `keep` of `conflict` and close the conflict, in one local change."""
    chosen = conflict.candidates[keep]
    deletes = [conflict_record_name(conflict.name)]
    if chosen.value is None:
        await store.batch(deletes=[*deletes, conflict.name])
    else:
        await store.batch({conflict.name: chosen.value}, deletes)
