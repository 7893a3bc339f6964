"""The per-request log line written by hand is the line the JSON formatter would write."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from cairn.server.observability import (
    JsonFormatter,
    Metrics,
    RequestLines,
    RequestObserver,
    configure_logging,
    log,
)

TEMPLATE = "/v2/stores/{node_id}/{store_id}/objects"


class _Route:
    path = TEMPLATE


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """configure_logging writing into a buffer; every global it touches is put back after."""
    names = ("", "cairn.server", "uvicorn", "uvicorn.error")
    saved = [
        (logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).level)
        for n in names
    ]
    propagate = log.propagate
    hooks = (sys.excepthook, threading.excepthook)
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    configure_logging("info")
    yield buffer
    for logger, handlers, level in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
    log.propagate = propagate
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    scope["route"] = _Route()
    await send({"type": "http.response.start", "status": 409, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _request(observer: RequestObserver, node_id: str) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "PUT", "path_params": {"node_id": node_id}}
    await observer(scope, receive, send)


def test_request_lines_match_the_formatter_and_keep_their_order(stderr: io.StringIO) -> None:
    observer = RequestObserver(_answer, Metrics())
    nodes = ["02" + "ab" * 32, '02"\\x', "03" + "cd" * 32]

    async def run() -> None:
        for node in nodes:
            await _request(observer, node)
        await asyncio.sleep(0)  # the lines of a loop turn are written right after it

    asyncio.run(run())
    lines = [json.loads(line) for line in stderr.getvalue().splitlines()]
    assert [line["node"] for line in lines] == [node[:8] for node in nodes]
    for line in lines:
        record = logging.makeLogRecord(
            {"name": log.name, "levelname": "INFO", "msg": "request", "created": line["ts"]}
        )
        record.fields = {
            "method": "PUT",
            "route": TEMPLATE,
            "status": 409,
            "duration_ms": line["duration_ms"],
            "node": line["node"],
        }
        assert line == json.loads(JsonFormatter().format(record))
        assert list(line) == list(json.loads(JsonFormatter().format(record)))


def test_other_handlers_get_log_records(caplog: pytest.LogCaptureFixture) -> None:
    assert not RequestLines.usable()  # pytest's handlers are not the server's
    observer = RequestObserver(_answer, Metrics())
    with caplog.at_level(logging.INFO, logger=log.name):
        asyncio.run(_request(observer, "02" + "ab" * 32))
    [record] = [r for r in caplog.records if r.getMessage() == "request"]
    assert record.fields["status"] == 409  # type: ignore[attr-defined]
    assert record.fields["node"] == "02ababab"  # type: ignore[attr-defined]
