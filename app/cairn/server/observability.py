"""Structured logs and Prometheus metrics for every request.

A request log line holds the method, the route *template* (never the concrete path, which carries
object keys), the status, the duration and at most the first 8 characters of the node id. Values,
keys, signatures and nonces never reach a log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
import time
import traceback
import types
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn import __version__
from cairn.server.metrics import ScrapeGauges
from cairn.server.request_metrics import (
    CounterFamily,
    CounterSeries,
    GaugeFamily,
    HistogramFamily,
    HistogramSeries,
    RequestCounters,
)

log = logging.getLogger("cairn.server")
NODE_PREFIX = 8


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if entry["msg"].startswith(TRACEBACK_START):
            # A traceback formatted into the message (uvicorn does this when start-up fails).
            entry.update(_parsed_traceback(entry["msg"]))
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            # The type and where it happened, never the message: messages can quote data.
            error = record.exc_info[1]
            entry["exception"] = type(error).__name__
            entry["trace"] = [
                f"{frame.filename}:{frame.lineno} {frame.name}"
                for frame in traceback.extract_tb(error.__traceback__)
            ]
        return json.dumps(entry, separators=(",", ":"))


TRACEBACK_START = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<name>.+)$')


def _parsed_traceback(text: str) -> dict[str, Any]:
    """A formatted traceback as the formatter's own fields: the type and the frames only."""
    lines = text.splitlines()
    frames = [
        f"{m['file']}:{m['line']} {m['name']}"
        for m in (_FRAME.match(line) for line in lines)
        if m is not None
    ]
    last = next((line for line in reversed(lines) if line and not line.startswith(" ")), "")
    kind = last.split(":", 1)[0].rsplit(".", 1)[-1].strip() or "unknown"
    return {"msg": "traceback", "exception": kind, "trace": frames}


class JsonLinesHandler(logging.StreamHandler[Any]):
    """The server's stderr handler; request lines are written to it directly (RequestLines)."""


def configure_logging(level: str) -> None:
    """Every line the server writes to stderr is one JSON object, whoever logs it.

    Libraries log through the root logger (asyncpg's pool, for one, logs its reconnection
    failures with a traceback); without a handler there, Python's last-resort handler would
    print them as raw multi-line text into the stream. Uncaught exceptions in threads and at
    the top level, and warnings, are routed through logging too.
    """
    handler = JsonLinesHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("", "cairn.server", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(
    kind: type[BaseException], error: BaseException, tb: types.TracebackType | None
) -> None:
    log.critical("uncaught exception", exc_info=(kind, error, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    thread = args.thread.name if args.thread is not None else "?"
    log.critical(
        "uncaught exception in a thread",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        extra={"fields": {"thread": thread}},
    )


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (one per app).

    Counters are updated where things happen; everything else (`scrape`, the process's CPU
    and memory) is read when /metrics is scraped.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        Info("cairn_backupd_build", "The running cairn-backupd", registry=self.registry).info(
            {"version": __version__}
        )
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds, start time.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.scrape = ScrapeGauges()
        self.registry.register(self.scrape)
        self.database_errors = Counter(
            "cairn_backupd_database_errors",
            "Errors from the database driver, by exception type",
            ["kind"],
            registry=self.registry,
        )
        # Updated on every request: plain numbers, read when scraped (request_metrics.py).
        counters = RequestCounters()
        self.requests = CounterFamily(
            "cairn_backupd_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
        )
        self.duration = HistogramFamily(
            "cairn_backupd_request_duration_seconds",
            "Time to answer a request, by method and route template",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.batches = CounterFamily(
            "cairn_backupd_batches",
            "PUT batches by outcome (applied, conflict, quota_exceeded, ...)",
            ["outcome"],
        )
        self.objects_written = CounterFamily(
            "cairn_backupd_objects_written", "Objects written by applied batches"
        )
        self.bytes_written = CounterFamily(
            "cairn_backupd_bytes_written", "Value bytes written by applied batches"
        )
        self.in_flight = GaugeFamily(
            "cairn_backupd_requests_in_flight", "Requests being handled now"
        )
        # Batch bodies over 1 MiB are read and applied a few at a time (routes.py).
        self.large_batches_in_slot = GaugeFamily(
            "cairn_backupd_large_batches_in_slot",
            "Batch PUTs over 1 MiB holding a large-body slot (being read or applied)",
        )
        self.large_batches_waiting = GaugeFamily(
            "cairn_backupd_large_batches_waiting",
            "Batch PUTs over 1 MiB, their heads checked, waiting for a large-body slot",
        )
        for family in (
            self.requests,
            self.duration,
            self.batches,
            self.objects_written,
            self.bytes_written,
            self.in_flight,
            self.large_batches_in_slot,
            self.large_batches_waiting,
        ):
            counters.add(family)
        self.registry.register(counters)
        self._outcomes: dict[str, CounterSeries] = {}

    def batch_outcome(self, outcome: str) -> CounterSeries:
        """The `batches` series of one outcome."""
        series = self._outcomes.get(outcome)
        if series is None:
            series = self._outcomes[outcome] = self.batches.labels(outcome)
        return series


class RequestLines:
    """The per-request log lines, formatted by hand and written once per event-loop turn.

    Through `logging`, a request line costs a LogRecord, a formatter call, a json.dumps and a
    write to stderr: about a tenth of a small PUT's CPU. Every part of the line but the time,
    the duration and the node prefix is fixed per (method, route, status), so that part is
    encoded once; the lines of one loop turn go out in one write, in order, right after it.
    The line is the one JsonFormatter would write for `log.info("request", extra=...)`.
    """

    def __init__(self) -> None:
        self._pending: list[str] = []

    @staticmethod
    def usable() -> bool:
        """Whether configure_logging's handler is the only one (tests with their own get records)."""
        handlers = log.handlers
        return (
            len(handlers) == 1
            and type(handlers[0]) is JsonLinesHandler
            and log.isEnabledFor(logging.INFO)
        )

    @staticmethod
    def middle(method: str, template: str, status: int) -> str:
        """The fixed part of a line, from after the time up to the duration's value."""
        fixed = json.dumps(
            {
                "level": "info",
                "logger": log.name,
                "msg": "request",
                "method": method,
                "route": template,
                "status": status,
            },
            separators=(",", ":"),
        )
        return "," + fixed[1:-1] + ',"duration_ms":'

    def add(self, middle: str, elapsed: float, node: str | None) -> None:
        line = f'{{"ts":{round(time.time(), 3)!r}{middle}{round(elapsed * 1000, 2)!r}'
        if node is None:
            line += "}\n"
        elif node.isascii() and node.isalnum():
            line += f',"node":"{node}"}}\n'
        else:  # an unvalidated path parameter (a request refused with 400)
            line += f',"node":{json.dumps(node)}}}\n'
        if not self._pending:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: write at once
                self._pending.append(line)
                self.flush()
                return
        self._pending.append(line)

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        handler = log.handlers[0] if log.handlers else None
        if not lines or not isinstance(handler, JsonLinesHandler):
            return
        handler.acquire()
        try:
            handler.stream.write("".join(lines))
            handler.flush()
        except Exception:  # as logging does: a failing stderr never fails a request
            handler.handleError(logging.makeLogRecord({"msg": "request"}))
        finally:
            handler.release()


class RequestObserver:
    """ASGI middleware: one metric sample and one log line per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # There are only a few dozen (method, route, status) series, so each is looked up
        # once, together with the fixed part of its log line.
        self._known: dict[tuple[str, str, int], tuple[CounterSeries, HistogramSeries, str]] = {}
        self.lines = RequestLines()

    def _series(
        self, method: str, template: str, status: int
    ) -> tuple[CounterSeries, HistogramSeries, str]:
        key = (method, template, status)
        series = self._known.get(key)
        if series is None:
            series = (
                self.metrics.requests.labels(method, template, str(status)),
                self.metrics.duration.labels(method, template),
                RequestLines.middle(method, template, status),
            )
            self._known[key] = series
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if template is None:
            # Framework routes (/openapi.json, /docs) have no template object; their paths are
            # fixed strings. Anything unrouted is one label, whatever its path.
            template = str(scope.get("path", "")) if "endpoint" in scope else "unmatched"
        method = str(scope.get("method", ""))
        counter, histogram, middle = self._series(method, template, status)
        counter.inc()
        histogram.observe(elapsed)
        node_id = scope.get("path_params", {}).get("node_id")
        node = node_id[:NODE_PREFIX] if isinstance(node_id, str) else None
        if self.lines.usable():
            self.lines.add(middle, elapsed, node)
            return
        if not log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": template,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        if node is not None:
            fields["node"] = node
        log.info("request", extra={"fields": fields})
