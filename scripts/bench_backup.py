"""Backup engine numbers on loopback, against a real cairn-backupd (SQLite backend).

    .venv/bin/python scripts/bench_backup.py [--events 300] [--restore-records 20000]

Prints:
  1. event → server acknowledgement latency, p50 / p99 (targets: <= 25 ms / <= 100 ms);
  2. bytes uploaded per event for a wallet of 5,000 transactions, against uploading the whole
     database file after every event (target: at least 100 times fewer);
  3. restore throughput of 20,000 records of 2 KB (about 40 MB) (target: >= 40 MB/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "app"))

from cairn.backup.client import RemoteBackupClient  # noqa: E402
from cairn.backup.restore import RestoreOutcome, restore_store  # noqa: E402
from cairn.backup.service import BackupService  # noqa: E402
from cairn.events import EventBus, LabelChanged  # noqa: E402
from cairn.keys import derive_backup_keys, generate_mnemonic, mnemonic_to_seed  # noqa: E402
from cairn.storage import AsyncRecordStore, SqliteStore  # noqa: E402

NETWORK = "regtest"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "cairn.server", "serve", "--db", str(workdir / "server.sqlite")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    cmd += ["--rate-limit", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("cairn-backupd did not start: see " + str(workdir / "server.log"))


def keys() -> object:
    return derive_backup_keys(mnemonic_to_seed(generate_mnemonic()))


class CountingTransport(httpx.AsyncHTTPTransport):
    """Counts what goes on the wire: request line, headers and body of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        head = f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        self.sent += len(head.encode()) + len(request.content)
        return await super().handle_async_request(request)


def wallet_records(transactions: int) -> dict[str, bytes]:
    """A wallet of `transactions` as records: one BDK changeset and one payment memo each,
    a label on one in five, a few preferences (sizes as the wallet module writes them)."""
    records: dict[str, bytes] = {}
    for i in range(transactions):
        txid = os.urandom(32).hex()
        records[f"wallet/changeset/{i:08d}"] = os.urandom(420)  # tx, anchor, last-seen, index
        records[f"payments/{txid}"] = b'{"memo":"invoice %d","recipient":"bcrt1q..."}' % i
        if i % 5 == 0:
            records[f"labels/tx/{txid}"] = b'{"type":"tx","label":"groceries and things"}'
    for name in ("fiat", "email", "unit", "fee_policy"):
        records[f"prefs/{name}"] = b"value"
    return records


async def bench_latency(url: str, workdir: Path, events: int) -> tuple[float, float, float]:
    store = AsyncRecordStore(SqliteStore(workdir / "latency.sqlite"))
    service = BackupService(store, keys(), NETWORK, url, debounce=2.0)  # type: ignore[arg-type]
    bus = EventBus()
    await service.start()
    service.attach(bus)
    acked = asyncio.Event()
    service.status.subscribe(lambda s: acked.set() if s.pending_changes == 0 else None)
    samples: list[float] = []
    for i in range(events + 10):
        # Cleared before the write: a periodic round may take the change up before the event.
        acked.clear()
        started = time.perf_counter()
        await store.put(f"labels/tx/{i:064x}", b'{"label":"coffee with Ana"}')
        bus.publish(LabelChanged("tx", f"{i:064x}", "coffee with Ana"))
        await acked.wait()
        if i >= 10:  # the first few warm up connections and caches
            samples.append((time.perf_counter() - started) * 1000)
    await service.stop()
    await store.aclose()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.median(samples), p99, samples[-1]


async def bench_bytes(url: str, workdir: Path, events: int) -> tuple[float, int, int]:
    path = workdir / "wallet5000.sqlite"
    sync_store = SqliteStore(path)
    sync_store.batch(wallet_records(5000))
    store = AsyncRecordStore(sync_store)
    transport = CountingTransport()
    http = httpx.AsyncClient(transport=transport, timeout=30)
    service = BackupService(store, keys(), NETWORK, url, http=http)  # type: ignore[arg-type]
    await service.prepare()
    await service.backup_now()  # the initial upload is not what we measure
    before = transport.sent
    for i in range(events):
        # One event: a new transaction arrives (its changeset and memo), or a label changes.
        if i % 2 == 0:
            await store.batch(
                {
                    f"wallet/changeset/{5000 + i:08d}": os.urandom(420),
                    f"payments/{os.urandom(32).hex()}": b'{"memo":"","recipient":"bcrt1q..."}',
                }
            )
        else:
            await store.put(f"labels/tx/{os.urandom(32).hex()}", b'{"label":"rent"}')
        await service.backup_now()
    per_event = (transport.sent - before) / events
    await service.stop()
    await http.aclose()
    await store.aclose()
    # The naive design ships the whole database file (WAL folded in) after every event.
    file_size = path.stat().st_size
    return per_event, file_size, 5000


async def bench_restore(
    url: str, workdir: Path, count: int
) -> tuple[float, float, float, int, float]:
    k = keys()
    store = AsyncRecordStore(SqliteStore(workdir / "big.sqlite"))
    await store.batch({f"wallet/changeset/{i:08d}": os.urandom(2000) for i in range(count)})
    service = BackupService(store, k, NETWORK, url, max_items=900, max_bytes=8 << 20)  # type: ignore[arg-type]
    await service.prepare()
    started = time.perf_counter()
    await service.backup_now()
    upload_s = time.perf_counter() - started
    await service.stop()
    await store.aclose()
    target = workdir / "restored.sqlite"
    async with RemoteBackupClient(url, k, NETWORK, timeout=120) as client:  # type: ignore[arg-type]
        started, cpu = time.perf_counter(), time.process_time()
        result = await restore_store(client, k, target)  # type: ignore[arg-type]
        restore_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu
    if result.outcome is not RestoreOutcome.RESTORED:
        raise SystemExit(f"restore failed: {result}")
    return result.bytes / 1e6, restore_s, upload_s, result.records, cpu_s


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--restore-records", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as tmp:
        workdir = Path(tmp)
        server, url = start_server(workdir)
        load = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        try:
            p50, p99, worst = await bench_latency(url, workdir, args.events)
            print(f"event -> server ack latency ({args.events} urgent events, loopback):")
            print(f"  p50 {p50:6.1f} ms   (target <= 25)")
            print(f"  p99 {p99:6.1f} ms   (target <= 100)   max {worst:.1f} ms")

            per_event, file_size, txs = await bench_bytes(url, workdir, 100)
            print(f"bytes uploaded per event, wallet of {txs} transactions:")
            print(
                f"  incremental backup   {per_event:10.0f} B/event (HTTP request line, headers, body)"
            )
            print(f"  whole database file  {file_size:10d} B/event")
            print(f"  ratio                {file_size / per_event:10.0f}x fewer (target >= 100x)")

            mb, restore_s, upload_s, records, cpu_s = await bench_restore(
                url, workdir, args.restore_records
            )
            print(f"restore of {records} records, {mb:.1f} MB of sealed objects:")
            print(f"  {restore_s:.2f} s = {mb / restore_s:.1f} MB/s   (target >= 40)")
            print(f"  client CPU {cpu_s:.2f} s = {mb / cpu_s:.1f} MB per CPU-second (all threads)")
            print(
                f"  (the full backup that uploaded them took {upload_s:.2f} s = {mb / upload_s:.1f} MB/s)"
            )
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
