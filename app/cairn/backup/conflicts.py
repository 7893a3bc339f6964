"""The conflicts concurrent edits left (`conflicts/<name>` records), and the user's choice.

A conflict record keeps every value of one record that two devices set at once, with the
device and time of each; the record itself holds the provisional winner (the later edit).
Settling it writes the chosen value (or deletes the record, if the choice is a deletion) and
removes the conflict, both as ordinary changes that are backed up and reach every device.
"""

from __future__ import annotations

from cairn.backup.localstate import AsyncStore
from cairn.backup.merge import CONFLICT_PREFIX, Candidate, ConflictRecord, conflict_record_name

__all__ = ["list_conflicts", "migrate_v1_conflicts", "resolve_conflict"]

UNKNOWN_DEVICE = bytes(16)


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


async def migrate_v1_conflicts(store: AsyncStore) -> int:
    """Turn the first backup engine's `conflicts/<name>/<version>` records into one per name.

    Each held the raw value another device had written. The new record keeps it beside the
    record's current value (as the value in use), with the device unknown. The number of old
    records migrated.
    """
    grouped: dict[str, list[tuple[str, bytes]]] = {}
    for record_name, value in await store.scan(CONFLICT_PREFIX):
        try:
            ConflictRecord.decode(value)
            continue  # already one per name
        except (ValueError, KeyError, TypeError):
            pass
        name, _, version = record_name.removeprefix(CONFLICT_PREFIX).rpartition("/")
        if not name or not version.isdigit():
            continue  # not written by Cairn: left untouched
        grouped.setdefault(name, []).append((record_name, value))
    migrated = 0
    for name, old in grouped.items():
        current = await store.get(name)
        existing = await store.get(conflict_record_name(name))
        record = ConflictRecord(name, ())
        if existing is not None:
            try:
                record = ConflictRecord.decode(existing)
            except (ValueError, KeyError, TypeError):
                continue
        kept = [Candidate(value, UNKNOWN_DEVICE, (0, 0)) for _, value in old]
        if current is not None:
            kept.append(Candidate(current, UNKNOWN_DEVICE, (1, 0)))
        merged = record.merged(*kept)
        await store.batch({conflict_record_name(name): merged.encode()}, [n for n, _ in old])
        migrated += len(old)
    return migrated
