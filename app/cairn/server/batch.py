"""Compare-and-swap rules for one batch, as a pure function over the stored versions.

The SQLite backend runs this inside its write transaction; the PostgreSQL backend runs the same
rules in SQL (schema_postgres.py) to keep a batch to one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cairn.backup.protocol import DeleteItem, PutItem
from cairn.server.backend import Conflict, QuotaExceeded, StoreInfo


@dataclass(frozen=True)
class Stored:
    version: int
    size: int


@dataclass(frozen=True)
class BatchPlan:
    generation: int
    objects: int
    bytes: int
    versions: dict[str, int]


def plan_batch(
    puts: Sequence[PutItem],
    deletes: Sequence[DeleteItem],
    stored: Mapping[str, Stored],
    info: StoreInfo,
    quota: int,
) -> BatchPlan:
    """The store's state after the batch; raises Conflict or QuotaExceeded and changes nothing.

    `stored` holds the stored version and size of every key of the batch that exists.
    """
    items: list[PutItem | DeleteItem] = [*puts, *deletes]
    current = {item.key: stored[item.key].version if item.key in stored else 0 for item in items}
    if any(current[item.key] != item.version for item in items):
        raise Conflict(current)
    replaced = sum(s.size for s in stored.values())
    new_bytes = info.bytes - replaced + sum(len(p.value) for p in puts)
    # A store already over a lowered quota may still shrink.
    if new_bytes > quota and new_bytes > info.bytes:
        raise QuotaExceeded(new_bytes, quota)
    versions = {p.key: p.version + 1 for p in puts}
    versions.update({d.key: 0 for d in deletes})
    return BatchPlan(
        generation=info.generation + 1,
        objects=info.objects - len(stored) + len(puts),
        bytes=new_bytes,
        versions=versions,
    )
