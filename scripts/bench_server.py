"""Benchmark cairn-backupd: signed single-object PUTs from 64 concurrent clients on loopback.

For each backend (SQLite file; PostgreSQL in a throwaway cluster with fsync on) it starts a real
`cairn-backupd serve` (uvicorn, one worker, default log level), drives it for a fixed time and
prints durable PUT throughput and p50/p99 latency. Every PUT is a protocol v2 batch updating one
of the client's own objects under the store's generation (each client has its own store, as each
wallet does), signed exactly as the wallet signs it, answered only once durable.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio streams: it shares the
machine with the server, so it should spend as little CPU as possible.

    .venv/bin/python scripts/bench_server.py [--seconds 10] [--clients 64] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "app"), str(ROOT)]

from coincurve import PrivateKey  # noqa: E402
from tests.support.postgres import free_port, start_cluster  # noqa: E402

from cairn.wire.addressing import new_incarnation, new_write_id, objects_path  # noqa: E402
from cairn.wire.messages import Batch, PutItem, encode_batch  # noqa: E402
from cairn.wire.signing import sign_request  # noqa: E402

VALUE_BYTES = 1024  # a typical sealed record (a label, a changeset) is well under this
KEYS_PER_CLIENT = 16


@dataclass
class Result:
    backend: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0  # including the warm-up
    server_cpu: float = 0.0  # seconds of CPU the server process used, warm-up included
    database_cpu: float | None = None  # seconds of CPU of the PostgreSQL cluster, likewise
    # The server's own view of PUT latency (from accepting the request to the answer), which
    # leaves out time spent queued in the kernel and in the load generator.
    server_buckets: list[tuple[float, float]] = field(default_factory=list)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.server_cpu / max(1, self.requests) * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it are sequential."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def client(port: int, deadline: float, measure_from: float, result: Result) -> None:
    secret = os.urandom(32)
    node_id = PrivateKey(secret).public_key.format(compressed=True).hex()
    target = objects_path(node_id, "regtest")
    keys = [os.urandom(32).hex() for _ in range(KEYS_PER_CLIENT)]
    versions = dict.fromkeys(keys, 0)
    value = os.urandom(VALUE_BYTES)
    incarnation, generation = new_incarnation(), 0
    conn = await Connection.open(port)
    i = 0
    try:
        while time.monotonic() < deadline:
            key = keys[i % KEYS_PER_CLIENT]
            i += 1
            put = PutItem(key, versions[key], value)
            body = encode_batch(Batch(incarnation, generation, new_write_id(), (put,), ()))
            headers = {
                "Authorization": sign_request(secret, "PUT", target, body),
                "Content-Type": "application/json",
            }
            started = time.monotonic()
            status, answer = await conn.request("PUT", target, headers, body)
            elapsed = time.monotonic() - started
            result.requests += 1
            if status != 200:
                result.errors += 1
                continue
            applied = json.loads(answer)
            versions[key], generation = applied["versions"][key], applied["generation"]
            if started >= measure_from:
                result.latencies.append(elapsed)
    finally:
        conn.close()


async def drive(port: int, clients: int, seconds: float, warmup: float, backend: str) -> Result:
    # The load generator's own garbage-collection pauses would show up as server latency.
    gc.collect()
    gc.freeze()
    start = time.monotonic()
    result = Result(backend=backend, seconds=seconds)
    await asyncio.gather(
        *(client(port, start + warmup + seconds, start + warmup, result) for _ in range(clients))
    )
    return result


def wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    import httpx

    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError("cairn-backupd exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("cairn-backupd did not start")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def put_duration_buckets(port: int) -> list[tuple[float, float]]:
    """(upper bound s, cumulative count) of the server's own PUT latency histogram."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    buckets = []
    for line in text.splitlines():
        if line.startswith("cairn_backupd_request_duration_seconds_bucket{") and (
            'method="PUT"' in line
        ):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(line.rsplit(" ", 1)[1])))
    return buckets


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> str:
    """The histogram bucket bound below which a fraction q of requests finished, as '≤ N ms'."""
    if not buckets:
        return "-"
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return "inf" if bound == float("inf") else f"<={bound * 1000:g}"
    return "-"


def cluster_cpu_seconds(postmaster: int) -> dict[int, float]:
    """CPU seconds of the postmaster and each of its children, by pid."""
    found: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster or int(fields[1]) == postmaster:
            found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def run_backend(
    backend: str,
    db: str,
    args: argparse.Namespace,
    workdir: Path,
    postmaster: int | None = None,
) -> Result:
    port = free_port()
    log = (workdir / f"{backend}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cairn.server",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--rate-limit",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "app")},
    )
    try:
        wait_healthy(port, process)
        cpu_before = process_cpu_seconds(process.pid)
        db_before = cluster_cpu_seconds(postmaster) if postmaster else {}
        result = asyncio.run(drive(port, args.clients, args.seconds, args.warmup, backend))
        result.server_cpu = process_cpu_seconds(process.pid) - cpu_before
        result.server_buckets = put_duration_buckets(port)
        if postmaster:
            db_after = cluster_cpu_seconds(postmaster)
            result.database_cpu = sum(t - db_before.get(pid, 0.0) for pid, t in db_after.items())
        return result
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per backend")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            results.append(run_backend("sqlite", str(workdir / "bench.sqlite"), args, workdir))
        if args.backend in ("postgres", "both"):
            cluster = start_cluster(fsync=True)  # durable: fsync and synchronous_commit on
            try:
                dsn = cluster.create_database("bench")
                pid_file = (cluster.data_dir / "postmaster.pid").read_text()
                postmaster = int(pid_file.split()[0])
                results.append(run_backend("postgres", dsn, args, workdir, postmaster))
            finally:
                cluster.stop()
    print(
        f"{args.clients} clients, signed single-object PUT ({VALUE_BYTES} B value), "
        f"{args.seconds:.0f} s per backend, {os.cpu_count()} CPUs, default server settings"
    )
    print(
        f"{'backend':<10} {'PUT/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
        f"{'errors':>7} {'server CPU ms/PUT':>18} {'db CPU ms/PUT':>14}"
    )
    for r in results:
        mean = statistics.fmean(r.latencies) * 1000 if r.latencies else float("nan")
        db_cpu = (
            "-" if r.database_cpu is None else f"{r.database_cpu / max(1, r.requests) * 1000:.2f}"
        )
        print(
            f"{r.backend:<10} {r.throughput:>8.0f} {r.percentile(50):>8.1f} "
            f"{r.percentile(99):>8.1f} {mean:>8.1f} {r.errors:>7} "
            f"{r.cpu_ms_per_request:>18.2f} {db_cpu:>14}"
        )
    print("in-server PUT latency (histogram buckets, whole run):")
    for r in results:
        p50, p99 = bucket_quantile(r.server_buckets, 0.5), bucket_quantile(r.server_buckets, 0.99)
        print(f"{r.backend:<10} p50 {p50} ms, p99 {p99} ms")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
