"""Signed durable PUTs against a real `cairn-backupd serve` process, from many clients.

Every PUT is a protocol v2 batch updating one of the client's own objects (each client has its
own store, as each wallet does), signed exactly as the wallet signs it and answered only once
durable. The requests are built and signed before the timed window: a store's generation grows
by one per applied batch, so each client knows every version it will write in advance. The
load generator is a minimal keep-alive HTTP/1.1 client on asyncio protocols, since it shares
the machine with the server and should take as little of its CPU as possible.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.support.postgres import free_port

from cairn.backup.protocol import (
    Batch,
    PutItem,
    encode_batch,
    new_incarnation,
    new_write_id,
    objects_path,
    sign_request,
)

ROOT = Path(__file__).resolve().parents[2]
VALUE_BYTES = 1024  # a typical sealed record (a label, a changeset) is well under this
KEYS_PER_CLIENT = 16


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    exhausted: int = 0  # clients that used up their pre-signed requests before the end
    requests: int = 0  # every request answered, warm-up included
    server_cpu: float = 0.0  # CPU seconds of every server process, warm-up included

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / max(1, self.requests)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def signed_requests(count: int) -> list[bytes]:
    """`count` consecutive PUT requests of one new store, as raw HTTP/1.1 bytes."""
    secret = os.urandom(32)
    from coincurve import PrivateKey

    node_id = PrivateKey(secret).public_key.format(compressed=True).hex()
    target = objects_path(node_id, "regtest")
    keys = [os.urandom(32).hex() for _ in range(KEYS_PER_CLIENT)]
    versions = dict.fromkeys(keys, 0)
    value = os.urandom(VALUE_BYTES)
    incarnation = new_incarnation()
    requests = []
    for generation in range(count):
        key = keys[generation % KEYS_PER_CLIENT]
        put = PutItem(key, versions[key], value)
        body = encode_batch(Batch(incarnation, generation, new_write_id(), (put,), ()))
        versions[key] = generation + 1  # the generation this batch will make
        auth = sign_request(secret, "PUT", target, body)
        head = (
            f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: {auth}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


def sign_all(clients: int, per_client: int) -> list[list[bytes]]:
    """Every client's requests, signed on all cores before anything is timed."""
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(signed_requests, [per_client] * clients))


class _Exchange(asyncio.Protocol):
    """One keep-alive connection: send a request, wait for its whole answer, repeat."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        head = bytes(self._buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if b"\r\n" in head[at:] else None])
        if len(self._buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        del self._buffer[: end + 4 + length]
        waiter, self._waiter = self._waiter, None
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("the server closed the connection"))

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


async def _client(
    port: int, requests: list[bytes], deadline: float, measure_from: float, result: LoadResult
) -> None:
    loop = asyncio.get_running_loop()
    transport, exchange = await loop.create_connection(_Exchange, "127.0.0.1", port)
    exchange.transport = transport  # uvloop may call connection_made only on the next turn
    try:
        for request in requests:
            if time.monotonic() >= deadline:
                return
            started = time.monotonic()
            status = await exchange.send(request)
            elapsed = time.monotonic() - started
            result.requests += 1
            if status != 200:
                result.errors += 1
                return  # the pre-signed sequence assumed this one applied
            if started >= measure_from:
                result.latencies.append(elapsed)
        result.exhausted += 1
    finally:
        transport.close()


def drive(port: int, requests: list[list[bytes]], seconds: float, warmup: float) -> LoadResult:
    """Send each client's requests for `warmup + seconds`; only the last `seconds` count."""
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # the plain loop works too, at a little more CPU per request
        run = asyncio.run

    async def main() -> LoadResult:
        # The load generator's own collection pauses would show up as server latency.
        gc.collect()
        gc.freeze()
        start = time.monotonic()
        result = LoadResult(clients=len(requests), seconds=seconds)
        await asyncio.gather(
            *(_client(port, r, start + warmup + seconds, start + warmup, result) for r in requests)
        )
        return result

    return run(main())


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and every process it started (its workers)."""
        total = 0.0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            total += _cpu_seconds(pid)
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(
    db: str, log: Path, workers: int = 1, extra: tuple[str, ...] = ()
) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "cairn.server", "serve", "--db", db, "--port", str(port)]
    # Default settings but the rate limit (one node sends far more than a wallet would).
    command += ["--rate-limit", "0", "--workers", str(workers), *extra]
    process = subprocess.Popen(
        command,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "app")},
    )
    server = ServerProcess(process, port)
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"cairn-backupd exited during start-up: see {log}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"cairn-backupd did not start: see {log}")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    server: ServerProcess, clients: int, seconds: float, warmup: float, max_rate: float
) -> LoadResult:
    """Pre-sign enough for `max_rate` PUT/s, then drive the server and count its CPU."""
    per_client = int(max_rate * (seconds + warmup) / clients) + 10
    requests = sign_all(clients, per_client)
    before = server.cpu_seconds()
    result = drive(server.port, requests, seconds, warmup)
    result.server_cpu = server.cpu_seconds() - before
    return result
