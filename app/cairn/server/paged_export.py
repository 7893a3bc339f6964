"""What every backend's export shares: the store's state as read when it began, and its objects
one by one from the pages the backend reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

from cairn.server.batch import StoreRow
from cairn.wire.messages import StoredObject


class PagedExport:
    """The part of `backend.Export` a backend does not read itself; it provides `pages()`."""

    _row: StoreRow

    @property
    def generation(self) -> int:
        return self._row.generation

    @property
    def incarnation(self) -> str | None:
        return self._row.incarnation

    def pages(self) -> AsyncIterator[list[StoredObject]]:
        raise NotImplementedError

    async def objects(self) -> AsyncIterator[StoredObject]:
        async for page in self.pages():
            for obj in page:
                yield obj
