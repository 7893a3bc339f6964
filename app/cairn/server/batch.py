"""Compare-and-swap rules for one batch, as a pure function over the stored state.

Both backends run this inside their write transaction (with the store row locked), so the rules
of docs/PROTOCOL.md section 7 have exactly one owner:

1. the batch's incarnation must be the store's; a store without one (new, or erased) takes the
   batch's, unless it is the incarnation of a life of the store that was erased;
2. the batch's generation must be the store's generation (the client has seen every write);
3. each item's version must be the key's current version; 0 also matches a key that is absent
   or only a tombstone;
4. the store must stay within its quota (a batch that makes an over-quota store smaller passes).

Every item of an accepted batch gets the store's next generation as its version: versions never
repeat, not across a delete and re-create, and not across an erase (the generation survives it).

PostgreSQL applies the same rules in SQL, in one round trip (`cairn_put_batch` in
schema_postgres.py); both answer a refusal with the details below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cairn.server.backend import Conflict, QuotaExceeded
from cairn.wire.messages import Batch, StoreState
from cairn.wire.messages import Conflict as ConflictInfo

# Why a batch was refused, by the rule it broke (the order in which they are checked).
CONFLICT_DETAILS = {
    "incarnation": "the store has another incarnation (erased and started again elsewhere)",
    "erased_life": "the batch's incarnation is of a life of the store that was erased",
    "generation": "the store has changed since the generation this batch is based on",
    "version": "a version does not match the stored one",
}


@dataclass(frozen=True)
class Stored:
    """A key's row: its version, size and whether it is a tombstone."""

    version: int
    size: int
    deleted: bool = False
    write_id: str | None = None


@dataclass(frozen=True)
class StoreRow:
    generation: int = 0
    incarnation: str | None = None
    erased: bool = False
    objects: int = 0  # live objects
    bytes: int = 0  # value bytes of live objects and tombstones

    @property
    def state(self) -> StoreState:
        return StoreState(self.generation, self.incarnation, self.erased)


@dataclass(frozen=True)
class BatchPlan:
    generation: int
    objects: int
    bytes: int
    versions: dict[str, int]


def plan_batch(
    batch: Batch,
    stored: Mapping[str, Stored],
    row: StoreRow,
    quota: int,
    *,
    erased_life: bool = False,
) -> BatchPlan:
    """The store's state after the batch; raises Conflict or QuotaExceeded and changes nothing.

    `stored` holds the row of every key of the batch that exists (live or tombstone);
    `erased_life` tells whether the batch's incarnation is that of an erased life of the store.
    """
    if row.incarnation is not None and batch.incarnation != row.incarnation:
        raise _refusal(batch, stored, row, "incarnation")
    if row.incarnation is None and erased_life:
        raise _refusal(batch, stored, row, "erased_life")
    if batch.generation != row.generation:
        raise _refusal(batch, stored, row, "generation")
    for items in (batch.puts, batch.deletes):
        for item in items:
            found = stored.get(item.key)
            version = item.version
            if found is None:
                matches = version == 0
            else:  # 0 also matches a tombstone
                matches = version == found.version or (version == 0 and found.deleted)
            if not matches:
                raise _refusal(batch, stored, row, "version")
    replaced = 0
    live_before = 0
    for found in stored.values():
        replaced += found.size
        live_before += not found.deleted
    new_bytes = row.bytes - replaced + batch.value_bytes
    # A store already over a lowered quota may still shrink.
    if new_bytes > quota and new_bytes > row.bytes:
        raise QuotaExceeded(new_bytes, quota)
    generation = row.generation + 1
    return BatchPlan(
        generation=generation,
        objects=row.objects - live_before + len(batch.puts),
        bytes=new_bytes,
        versions=dict.fromkeys(batch.keys, generation),
    )


def _refusal(batch: Batch, stored: Mapping[str, Stored], row: StoreRow, rule: str) -> Conflict:
    """The Conflict for a batch that broke `rule`, with every key's current version."""
    keys = batch.keys
    current = {key: stored[key].version if key in stored else 0 for key in keys}
    write_ids = {key: stored[key].write_id for key in keys if key in stored}
    return Conflict(ConflictInfo(row.state, current, write_ids), CONFLICT_DETAILS[rule])
