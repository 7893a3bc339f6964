"""Many rows written by one SQLite statement, so that the writing thread keeps off the GIL.

`executemany` binds each row's parameters holding Python's GIL and releases it only around
that row's `sqlite3_step`. A store thread writing thousands of rows therefore asks for the GIL
back thousands of times, and while another thread runs Python (a restore decrypting, a full
backup sealing) each of those waits up to the interpreter's switch interval: measured here,
40,000 rows that take 0.33 s alone took 88 s beside one busy thread. Here the rows go in as
three parameters — the names and the values each joined into one blob, and a JSON array of
their offsets — and one `INSERT … SELECT` over `json_each` writes them all in a single step,
without the GIL: 0.66 s beside the same busy thread.

Names travel as their UTF-8 bytes and are cast back to TEXT, so no name is escaped or
re-encoded on the way, and the upsert is the one a single row gets. SQLite before 3.38 (no
`->>`) and small writes go row by row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = [
    "BULK_MIN_ROWS",
    "BULK_WORKS",
    "STATEMENT_BYTES",
    "delete_outbox_entries",
    "enqueue_many",
    "upsert_many",
]

# Below this, `executemany` is as quick and there are few steps to wait for.
BULK_MIN_ROWS = 64
# Values joined into one parameter, at most about this many bytes: far below SQLite's limit
# on one blob (a billion bytes by default), whatever one batch holds, and each statement's
# copies of them (the joined blob, SQLite's own) stay small beside the rows themselves.
STATEMENT_BYTES = 4 * 1024 * 1024
# The `->>` operator came with SQLite 3.38; an older library writes row by row, as before.
BULK_WORKS = sqlite3.sqlite_version_info >= (3, 38, 0)

# A value written again unchanged dirties no page (a full backup queues every record as it is).
_BULK_UPSERT = (
    "INSERT INTO records (name, value)"
    " SELECT CAST(substr(?2, r.value ->> 0, r.value ->> 1) AS TEXT),"
    " substr(?3, r.value ->> 2, r.value ->> 3)"
    " FROM json_each(?1) AS r"
    # `WHERE true`: SQLite's grammar needs it between a SELECT and ON CONFLICT.
    " WHERE true"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value"
)
# REPLACE drops the name's older pending entry and gives the new one a fresh, higher seq.
_BULK_ENQUEUE = (
    "INSERT OR REPLACE INTO outbox (name, op, at)"
    " SELECT CAST(substr(?2, r.value ->> 0, r.value ->> 1) AS TEXT), r.value ->> 2, r.value ->> 3"
    " FROM json_each(?1) AS r"
)
_OPS = frozenset({"put", "delete"})  # the outbox's operations, written into the JSON as they are
_ROW_ENQUEUE = "INSERT OR REPLACE INTO outbox (name, op, at) VALUES (?, ?, ?)"
_ROW_UPSERT = (
    "INSERT INTO records (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value"
)


def upsert_many(conn: sqlite3.Connection, items: Sequence[tuple[str, bytes]]) -> None:
    """Insert or update each (name, value) of `items`, in their order, inside the caller's
    transaction; names are unique and already checked."""
    if len(items) < BULK_MIN_ROWS or not BULK_WORKS:
        conn.executemany(_ROW_UPSERT, items)
        return
    start = size = 0
    for end, (_, value) in enumerate(items, 1):
        size += len(value)
        if size >= STATEMENT_BYTES:
            _upsert_in_one_step(conn, items[start:end])
            start, size = end, 0
    if start < len(items):
        _upsert_in_one_step(conn, items[start:])


def enqueue_many(conn: sqlite3.Connection, entries: Sequence[tuple[str, str, int]]) -> None:
    """Queue each (name, op, at) of `entries` for upload, replacing a name's older entry."""
    if len(entries) < BULK_MIN_ROWS or not BULK_WORKS:
        conn.executemany(_ROW_ENQUEUE, entries)
        return
    if not {op for _, op, _ in entries} <= _OPS:
        raise ValueError("an outbox entry's operation is put or delete")
    names, spans = _joined([name.encode("utf-8") for name, _, _ in entries])
    rows = [
        f'[{start},{size},"{op}",{int(at)}]'
        for (start, size), (_, op, at) in zip(spans, entries, strict=True)
    ]
    conn.execute(_BULK_ENQUEUE, (_array(rows), names))


def delete_outbox_entries(conn: sqlite3.Connection, seqs: Sequence[int]) -> None:
    """Remove the outbox entries numbered `seqs` (checked integers)."""
    if len(seqs) < BULK_MIN_ROWS or not BULK_WORKS:
        conn.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in seqs])
        return
    conn.execute(
        "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))",
        (_array([str(seq) for seq in seqs]),),
    )


def _upsert_in_one_step(conn: sqlite3.Connection, items: Sequence[tuple[str, bytes]]) -> None:
    names, name_spans = _joined([name.encode("utf-8") for name, _ in items])
    values, value_spans = _joined([value for _, value in items])
    rows = [f"[{a},{b},{c},{d}]" for (a, b), (c, d) in zip(name_spans, value_spans, strict=True)]
    conn.execute(_BULK_UPSERT, (_array(rows), names, values))


def _array(members: list[str]) -> str:
    """A JSON array of members already written as JSON.

    Written out rather than by `json.dumps`: that is one C call holding the GIL for the whole
    array (tens of milliseconds for 20,000 rows, a stall of the app's event loop), where a
    comprehension lets other threads run between its steps.
    """
    return "[" + ",".join(members) + "]"


def _joined(pieces: list[bytes]) -> tuple[bytes, list[tuple[int, int]]]:
    """The pieces as one blob, and where each one is in it: (start counted from 1, length)."""
    spans: list[tuple[int, int]] = []
    at = 1  # substr counts from 1
    for piece in pieces:
        spans.append((at, len(piece)))
        at += len(piece)
    return b"".join(pieces), spans
