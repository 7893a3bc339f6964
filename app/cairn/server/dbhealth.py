"""Whether the database answers: one log event when it stops, one when it is back, and counts.

Requests that meet a database error report it here (the 503 and 500 handlers, /healthz, the
purger, the metrics scrape). The first error that means "cannot be reached" turns the state to
unavailable and logs `database unavailable` once; from then on a background probe pings the
database (a request's success is never waited for or recorded, so the request path pays
nothing) and logs `database available again` with the length of the outage when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

log = logging.getLogger("cairn.server")
PROBE_INTERVAL = 1.0


def unavailable_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean the database cannot be reached now (answered 503, not 500)."""
    errors: list[type[Exception]] = [OSError]
    try:
        import asyncpg
    except ImportError:  # a SQLite-only installation
        return tuple(errors)
    # Lost or refused connections, and an administrator shutting the database down.
    errors += [asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError]
    return tuple(errors)


def database_errors() -> tuple[type[Exception], ...]:
    """Every exception that comes from a database driver (for the error counter)."""
    errors: list[type[Exception]] = [sqlite3.Error, *unavailable_errors()]
    try:
        import asyncpg
    except ImportError:
        return tuple(errors)
    errors += [asyncpg.PostgresError, asyncpg.InterfaceError]
    return tuple(errors)


class DatabaseHealth:
    """The server's view of its database; `ping` is the backend's."""

    def __init__(self, ping: Callable[[], Awaitable[None]], errors: Counter) -> None:
        self._ping = ping
        self._errors = errors
        self._unavailable = unavailable_errors()
        self._database = database_errors()
        self.down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.down_since is None

    def is_database_error(self, error: BaseException) -> bool:
        return isinstance(error, self._database)

    def report(self, error: BaseException) -> None:
        """Count a database error; the first that means unreachable starts an outage."""
        if not isinstance(error, self._database):
            return
        self._errors.labels(type(error).__name__).inc()
        if not isinstance(error, self._unavailable):
            return
        if self.down_since is not None:
            log.debug("database still unavailable", extra=_fields(error))
            return
        self.down_since = time.monotonic()
        log.warning("database unavailable", extra=_fields(error))
        with contextlib.suppress(RuntimeError):  # no running loop: the next /healthz notices
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_back())

    def answered(self) -> None:
        """The database answered (a /healthz ping): an outage, if any, is over."""
        if self.down_since is None:
            return
        down = time.monotonic() - self.down_since
        self.down_since = None
        log.info("database available again", extra={"fields": {"down_s": round(down, 1)}})

    async def _probe_until_back(self) -> None:
        while self.down_since is not None:
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                await self._ping()
            except Exception as exc:  # still down; counted, never logged again until back
                if isinstance(exc, self._database):
                    self._errors.labels(type(exc).__name__).inc()
                continue
            self.answered()

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe


def _fields(error: BaseException) -> dict[str, dict[str, str]]:
    # The type only: driver messages can quote connection strings or query values.
    return {"fields": {"exception": type(error).__name__}}
