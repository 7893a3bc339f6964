"""Structured logs and Prometheus metrics for every request.

A request log line holds the method, the route *template* (never the concrete path, which carries
object keys), the status, the duration and at most the first 8 characters of the node id. Values,
keys, signatures and nonces never reach a log.
"""

from __future__ import annotations

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
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn import __version__
from cairn.server.metrics import ScrapeGauges

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


def configure_logging(level: str) -> None:
    """Every line the server writes to stderr is one JSON object, whoever logs it.

    Libraries log through the root logger (asyncpg's pool, for one, logs its reconnection
    failures with a traceback); without a handler there, Python's last-resort handler would
    print them as raw multi-line text into the stream. Uncaught exceptions in threads and at
    the top level, and warnings, are routed through logging too.
    """
    handler = logging.StreamHandler(sys.stderr)
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
        self.requests = Counter(
            "cairn_backupd_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "cairn_backupd_request_duration_seconds",
            "Time to answer a request, by method and route template",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.batches = Counter(
            "cairn_backupd_batches",
            "PUT batches by outcome (applied, conflict, quota_exceeded, ...)",
            ["outcome"],
            registry=self.registry,
        )
        self.objects_written = Counter(
            "cairn_backupd_objects_written",
            "Objects written by applied batches",
            registry=self.registry,
        )
        self.bytes_written = Counter(
            "cairn_backupd_bytes_written",
            "Value bytes written by applied batches",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "cairn_backupd_requests_in_flight",
            "Requests being handled now",
            registry=self.registry,
        )


class RequestObserver:
    """ASGI middleware: one metric sample and one log line per HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # Looking a labelled series up costs a lock and a hash of every label per request;
        # there are only a few dozen (method, route, status) series, so each is looked up once.
        self._known: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        key = (method, template, status)
        series = self._known.get(key)
        if series is None:
            series = (
                self.metrics.requests.labels(method, template, str(status)),
                self.metrics.duration.labels(method, template),
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
        counter, histogram = self._series(method, template, status)
        counter.inc()
        histogram.observe(elapsed)
        if not log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": template,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        node_id = scope.get("path_params", {}).get("node_id")
        if isinstance(node_id, str):
            fields["node"] = node_id[:NODE_PREFIX]
        log.info("request", extra={"fields": fields})
