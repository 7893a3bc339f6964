"""Gauges computed when /metrics is scraped, never per request.

Stores, objects and bytes come from one aggregate query (`Backend.stats`), the database size
from the file system (SQLite) or `pg_database_size` (PostgreSQL), the queue and pool figures
from the worker threads and the connection pool. A scrape refreshes them at most once per
`MIN_INTERVAL` seconds, and concurrent scrapes share one refresh, so scraping harder costs the
database nothing more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cairn.server.backend import Backend
from cairn.server.dbhealth import DatabaseHealth

MIN_INTERVAL = 1.0


@dataclass(frozen=True)
class Sample:
    name: str
    help: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


class ScrapeGauges(Collector):
    """A collector whose samples are refreshed by `refresh` before each scrape."""

    def __init__(self) -> None:
        self._samples: list[Sample] = []
        self._refreshed = -MIN_INTERVAL
        self._lock = asyncio.Lock()

    async def refresh(self, backend: Backend, health: DatabaseHealth | None = None) -> None:
        async with self._lock:
            if time.monotonic() - self._refreshed < MIN_INTERVAL:
                return
            samples = local_samples(backend)
            try:
                samples += await database_samples(backend)
            except Exception as exc:  # the database is down: the other gauges still report
                if health is None or not health.is_database_error(exc):
                    raise
                health.report(exc)
            self._samples = samples
            self._refreshed = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for sample in self._samples:
            family = families.get(sample.name)
            if family is None:
                family = GaugeMetricFamily(
                    sample.name, sample.help, labels=[k for k, _ in sample.labels]
                )
                families[sample.name] = family
            family.add_metric([v for _, v in sample.labels], sample.value)
        yield from families.values()


async def database_samples(backend: Backend) -> list[Sample]:
    """Figures that need a query: stores, objects, stored bytes and the database's size."""
    stats = await backend.stats()
    samples = [
        Sample(
            "cairn_backupd_stores", "Stores that hold a backup (erased ones excluded)", stats.stores
        ),
        Sample("cairn_backupd_objects", "Live objects in every store", stats.objects),
        Sample(
            "cairn_backupd_stored_bytes",
            "Decoded value bytes held by every store (what quotas count)",
            stats.bytes,
        ),
    ]
    size = await database_size(backend)
    if size is not None:
        samples.append(
            Sample(
                "cairn_backupd_database_size_bytes",
                "Size of the database on disk (SQLite: file and WAL; PostgreSQL: the database)",
                size,
            )
        )
    return samples


async def database_size(backend: Backend) -> int | None:
    sqlite_path = _sqlite_path(backend)
    if sqlite_path is not None:
        return sum(_size(Path(f"{sqlite_path}{suffix}")) for suffix in ("", "-wal"))
    pool = _postgres_pool(backend)
    if pool is not None:
        return int(await pool.fetchval("SELECT pg_database_size(current_database())"))
    return None


def local_samples(backend: Backend) -> list[Sample]:
    """Figures the process knows without asking the database."""
    from cairn.server.sqlite_backend import SqliteBackend

    if isinstance(backend, SqliteBackend) and backend.is_open:
        return [
            Sample(
                "cairn_backupd_sqlite_queue_depth",
                "Database jobs waiting for a SQLite worker thread (writer: the group-commit writer)",
                backend.writer.pending,
                (("worker", "writer"),),
            ),
            Sample(
                "cairn_backupd_sqlite_queue_depth",
                "Database jobs waiting for a SQLite worker thread (writer: the group-commit writer)",
                backend.readers.pending,
                (("worker", "readers"),),
            ),
        ]
    pool = _postgres_pool(backend)
    if pool is None:
        return []
    size, idle = pool.get_size(), pool.get_idle_size()
    help_text = "PostgreSQL pool connections by state (in_use, idle) and the configured max"
    return [
        Sample("cairn_backupd_pg_pool_connections", help_text, size - idle, (("state", "in_use"),)),
        Sample("cairn_backupd_pg_pool_connections", help_text, idle, (("state", "idle"),)),
        Sample(
            "cairn_backupd_pg_pool_connections", help_text, pool.get_max_size(), (("state", "max"),)
        ),
    ]


def _sqlite_path(backend: Backend) -> Path | None:
    from cairn.server.sqlite_backend import SqliteBackend

    return backend.path if isinstance(backend, SqliteBackend) else None


def _postgres_pool(backend: Backend) -> Any:  # asyncpg is untyped
    try:
        from cairn.server.postgres_backend import PostgresBackend
    except ImportError:  # a SQLite-only installation
        return None
    if isinstance(backend, PostgresBackend) and backend.is_open:
        return backend.pool
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
