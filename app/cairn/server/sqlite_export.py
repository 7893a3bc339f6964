"""The SQLite backend's export: one store's objects in key order, from one snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator

from cairn.server.backend import EXPORT_PAGE_BYTES, EXPORT_PAGE_ROWS, StoreRef
from cairn.server.batch import StoreRow
from cairn.server.paged_export import PagedExport
from cairn.wire.messages import StoredObject

__all__ = ["SqliteExport"]


class SqliteExport(PagedExport):
    """A read transaction held open on its own connection: a snapshot, read a page at a time.

    One statement walks the store in key order for the whole export: two queries per page
    (sizes, then rows) looked every row up twice. The next page is read on a worker thread
    while the current one is sent (SQLite releases the GIL as it steps), so at most two pages
    and one object are held at once.
    """

    def __init__(self, conn: sqlite3.Connection, store: StoreRef, row: StoreRow) -> None:
        self._conn = conn
        self._store = store
        self._row = row
        self._cursor: sqlite3.Cursor | None = None
        self._carried: StoredObject | None = None  # read, but over the last page's budget
        self._reading: asyncio.Future[list[StoredObject]] | None = None
        self._closed = False

    async def pages(self) -> AsyncIterator[list[StoredObject]]:
        self._reading = asyncio.ensure_future(asyncio.to_thread(self._page))
        while True:
            # Shielded: a response cancelled meanwhile (its client gone) leaves the read running
            # on its thread, and `close` waits for it before closing the connection under it.
            page = await asyncio.shield(self._reading)
            self._reading = None
            if not page:
                return
            self._reading = asyncio.ensure_future(asyncio.to_thread(self._page))
            yield page

    def _page(self) -> list[StoredObject]:
        """The next rows in key order: at most EXPORT_PAGE_ROWS, and EXPORT_PAGE_BYTES beyond
        the first."""
        if self._cursor is None:
            self._cursor = self._conn.execute(
                "SELECT key, version, write_id, value FROM objects "
                "WHERE node_id = ? AND store_id = ? AND deleted = 0 ORDER BY key",
                (self._store.node_id, self._store.store_id),
            )
        page: list[StoredObject] = []
        size = 0
        if self._carried is not None:
            page.append(self._carried)
            size = len(self._carried.value)
            self._carried = None
        for key, version, write_id, value in self._cursor:
            obj = StoredObject(key, version, write_id, value)
            if page and size + len(value) > EXPORT_PAGE_BYTES:
                self._carried = obj
                break
            page.append(obj)
            size += len(value)
            if len(page) >= EXPORT_PAGE_ROWS:
                break
        return page

    async def close(self) -> None:
        """Release the snapshot and the connection; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._reading is not None:
            # A page still being read on its thread: the connection is closed after it.
            reading, self._reading = self._reading, None
            with contextlib.suppress(Exception):
                await reading
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            cursor.close()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()
