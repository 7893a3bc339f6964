"""Two devices on one seed, on loopback, against a real cairn-backupd (SQLite backend).

    .venv/bin/python scripts/bench_sync.py [--changes 60]

Prints:
  1. how long a label set on device A takes to appear on device B, both running the backup
     engine with its default intervals (targets: p50 <= 2 s, p99 <= 10 s), beside a bare signed
     round trip to the same server measured in the same run;
  2. what one idle pull costs when nothing changed (target: one request, at most 1 KiB on the
     wire both ways);
  3. the machine's load average while it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_backup import keys, start_server  # noqa: E402

from cairn.backup.client import RemoteBackupClient  # noqa: E402
from cairn.backup.service import BackupService  # noqa: E402
from cairn.events import EventBus, LabelChanged  # noqa: E402
from cairn.storage import AsyncRecordStore, SqliteStore  # noqa: E402

NETWORK = "regtest"


class WireCounter(httpx.AsyncHTTPTransport):
    """Counts requests and the bytes of request and answer (line, headers, body)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.bytes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        await response.aread()
        head = f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        back = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
        self.requests += 1
        self.bytes += len(head) + len(request.content) + len(back) + 2 + len(response.content)
        return response


async def device(workdir: Path, name: str, url: str, secret: object) -> BackupService:
    store = AsyncRecordStore(SqliteStore(workdir / f"{name}.sqlite"))
    service = BackupService(store, secret, NETWORK, url)  # type: ignore[arg-type]
    await service.start()
    return service


async def bare_round_trip(url: str, secret: object, samples: int = 30) -> float:
    async with RemoteBackupClient(url, secret, NETWORK) as client:  # type: ignore[arg-type]
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            await client.store_info()
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def main(changes: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cairn-bench-sync-"))
    process, url = start_server(workdir)
    secret = keys()
    try:
        a = await device(workdir, "a", url, secret)
        bus = EventBus()
        a.attach(bus)
        await a.backup_now()
        b = await device(workdir, "b", url, secret)
        await b.backup_now()
        arrived: dict[bytes, float] = {}
        store_b = b.store

        async def watch() -> None:
            while True:
                for _, value in await store_b.scan("labels/"):
                    arrived.setdefault(value, time.perf_counter())
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        delays = []
        for i in range(changes):
            value = f'{{"label":"change {i}"}}'.encode()
            started = time.perf_counter()
            await a.store.put(f"labels/tx/{i:064x}", value)
            bus.publish(LabelChanged("tx", f"{i:064x}", f"change {i}"))
            deadline = started + 30
            while value not in arrived and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            delays.append(arrived.get(value, deadline) - started)
            await asyncio.sleep(0.13 * (i % 7))  # changes at uneven moments of B's poll cycle
        watcher.cancel()
        bare = await bare_round_trip(url, secret)

        counter = WireCounter()
        idle_store = AsyncRecordStore(SqliteStore(workdir / "idle.sqlite"))
        http = httpx.AsyncClient(transport=counter)
        idle = BackupService(idle_store, secret, NETWORK, url, http=http, poll_interval=None)
        await idle.prepare()
        await idle.backup_now()  # catch up first
        counter.requests = counter.bytes = 0
        await idle.engine.pull()
        idle_requests, idle_bytes = counter.requests, counter.bytes
        for service in (a, b, idle):
            await service.stop()
            await service.store.aclose()  # type: ignore[attr-defined]
        await http.aclose()
    finally:
        process.terminate()
        process.wait(10)
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"change on A visible on B ({changes} changes): p50 {p50:.2f} s, p99 {p99:.2f} s "
        f"(targets 2 s / 10 s); a bare signed round trip: {bare:.1f} ms"
    )
    print(f"idle pull: {idle_requests} request(s), {idle_bytes} bytes (target: 1, <= 1024)")
    ok = p50 <= 2 and p99 <= 10 and idle_requests == 1 and idle_bytes <= 1024
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=60)
    asyncio.run(main(parser.parse_args().changes))
