"""The storage interface both backends implement, and the outcomes it reports.

A backend owns every piece of shared state: objects, store generations, seen nonces and (where
several instances share it) rate-limit counters. Request handling above it is stateless.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from cairn.wire.messages import Batch, FeedPage, StoredObject, StoreInfo, StoreState
from cairn.wire.messages import Conflict as ConflictInfo


@dataclass(frozen=True)
class StoreRef:
    node_id: str
    store_id: str


@dataclass(frozen=True)
class Claim:
    """One signed request's claim on the shared state: its nonce and its rate-limit hit.

    The nonce is remembered until `nonce_expires` (past it the timestamp check rejects the request
    anyway). A rate-limit hit counts in the fixed window starting at `window_start`.
    """

    node_id: str
    nonce: str
    nonce_expires: int
    window_start: int
    window_seconds: int
    rate_limit: int  # requests per window; 0 = unlimited


@dataclass(frozen=True)
class ObjectSummary:
    key: str
    version: int
    size: int


@dataclass(frozen=True)
class ServerStats:
    stores: int
    objects: int
    bytes: int


@dataclass(frozen=True)
class BatchApplied:
    generation: int
    versions: dict[str, int]


class BackendError(Exception):
    """A request the shared state refuses; the API maps each subclass to one answer.

    Refusals cross from the writer process to a worker as pickles: each subclass that takes
    arguments of its own says how it is rebuilt (`__reduce__`), since the default would call
    it with its message.
    """


class Replayed(BackendError):
    """The nonce was seen before (by any instance)."""


class RateLimited(BackendError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after} s")
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[RateLimited], tuple[int]]:
        return RateLimited, (self.retry_after,)


class Conflict(BackendError):
    def __init__(self, info: ConflictInfo, detail: str) -> None:
        super().__init__(detail)
        self.info = info
        self.detail = detail

    def __reduce__(self) -> tuple[type[Conflict], tuple[ConflictInfo, str]]:
        return Conflict, (self.info, self.detail)


class ResyncRequired(BackendError):
    """A change feed asked from before the compaction point: tombstones may be gone."""

    def __init__(self, state: StoreState, compacted: int) -> None:
        super().__init__(f"changes before generation {compacted} were compacted")
        self.state = state
        self.compacted = compacted

    def __reduce__(self) -> tuple[type[ResyncRequired], tuple[StoreState, int]]:
        return ResyncRequired, (self.state, self.compacted)


class QuotaExceeded(BackendError):
    def __init__(self, used: int, quota: int) -> None:
        super().__init__(f"the store would hold {used} bytes; its quota is {quota} bytes")
        self.used = used
        self.quota = quota

    def __reduce__(self) -> tuple[type[QuotaExceeded], tuple[int, int]]:
        return QuotaExceeded, (self.used, self.quota)


# An export reads a page of at most this many rows and (beyond its first object) bytes, so a
# restore of a large store streams in bounded memory on both backends.
EXPORT_PAGE_ROWS = 256
EXPORT_PAGE_BYTES = 4 * 1024 * 1024


def export_page_end(sizes: Sequence[tuple[str, int]]) -> str:
    """The last key of the next page, given the (key, size) of the candidate rows in order."""
    total = 0
    last = sizes[0][0]
    for key, size in sizes:
        if total and total + size > EXPORT_PAGE_BYTES:
            break
        total += size
        last = key
    return last


class Export(Protocol):
    """A consistent snapshot of one store, read in pages so memory stays bounded."""

    @property
    def generation(self) -> int: ...

    @property
    def incarnation(self) -> str | None: ...

    def objects(self) -> AsyncIterator[StoredObject]: ...

    def pages(self) -> AsyncIterator[list[StoredObject]]:
        """The same objects a page at a time: one await per page, not per object."""
        ...

    async def close(self) -> None: ...


class Backend(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the database cannot answer."""

    async def claim(self, claim: Claim) -> None:
        """Record a request's nonce and rate-limit hit; raises Replayed or RateLimited."""

    async def apply_batch(
        self, store: StoreRef, batch: Batch, *, quota: int, claim: Claim | None = None
    ) -> BatchApplied:
        """Apply every item or none (the rules of `batch.plan_batch`); durable when it returns.

        Raises Replayed/RateLimited (claim), Conflict or QuotaExceeded.
        """

    async def get_object(self, store: StoreRef, key: str) -> StoredObject | None:
        """A live object (tombstones are not objects)."""

    async def list_objects(self, store: StoreRef, after: str, limit: int) -> list[ObjectSummary]:
        """Up to `limit` live keys strictly greater than `after`, ascending."""

    async def changes(self, store: StoreRef, since: int, limit: int) -> FeedPage | None:
        """Objects and tombstones with a version above `since`, whole generations, in order.

        None when the store does not exist; ResyncRequired when `since` is below the store's
        compaction point.
        """

    async def open_export(self, store: StoreRef) -> Export | None:
        """A snapshot of the store's live objects, or None when the store does not exist."""

    async def store_info(self, store: StoreRef) -> StoreInfo | None: ...

    async def delete_store(self, store: StoreRef) -> bool:
        """Erase every object and tombstone, keeping the generation; False when absent."""

    async def compact(self, older_than: int) -> int:
        """Drop tombstones written before unix time `older_than`; the number dropped."""

    async def stats(self) -> ServerStats: ...

    async def purge_expired(self, now: int) -> None:
        """Forget nonces and rate-limit windows that can no longer matter."""


def feed_cut(versions: Sequence[int], limit: int) -> int:
    """How many of up to `limit + 1` candidate rows (in version order) a feed page keeps.

    A page never splits a generation: rows of the generation that the limit would cut are left
    for the next page. 0 means the first generation alone exceeds the limit: the caller reads
    that generation whole (a batch holds at most 1000 items, so it stays bounded).
    """
    if len(versions) <= limit:
        return len(versions)
    first_left = versions[limit]
    keep = limit
    while keep > 0 and versions[keep - 1] == first_left:
        keep -= 1
    return keep
