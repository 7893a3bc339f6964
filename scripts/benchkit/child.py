"""One measured job in a process of its own; prints its figures as one JSON line.

python -m benchkit.child full-backup URL STORE RECORDS VALUE_BYTES
python -m benchkit.child restore URL TARGET
python -m benchkit.child latency URL STORE EVENTS
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from cairn.backup.client import RemoteBackupClient
from cairn.backup.localstate import require_full_backup
from cairn.backup.restore import RestoreOutcome, restore_store
from cairn.backup.service import BackupService
from cairn.events import EventBus, LabelChanged
from cairn.keys import BackupKeys, derive_backup_keys, mnemonic_to_seed
from cairn.storage import AsyncRecordStore, SqliteStore
from cairn.wire.addressing import new_incarnation, new_write_id
from cairn.wire.messages import Batch, PutItem

NETWORK = "regtest"
WORDS = "abandon " * 11 + "about"


OTHER_WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"


def keys() -> BackupKeys:
    return derive_backup_keys(mnemonic_to_seed(WORDS))


def other_keys() -> BackupKeys:
    """Another wallet's keys: its own store on the same server."""
    return derive_backup_keys(mnemonic_to_seed(OTHER_WORDS))


async def full_backup(url: str, path: str, records: int, value_bytes: int) -> dict[str, float]:
    store = SqliteStore(Path(path))
    store.batch({f"wallet/changeset/{i:08d}": os.urandom(value_bytes) for i in range(records)})
    require_full_backup(store, "the benchmark's upgrade")
    async_store = AsyncRecordStore(store)
    service = BackupService(async_store, keys(), NETWORK, url)
    await service.prepare()
    started = time.perf_counter()
    result = await service.full_backup()
    seconds = time.perf_counter() - started
    await service.stop()
    await async_store.aclose()
    if not result.completed:
        raise SystemExit("the full backup did not complete")
    return {"seconds": seconds, "records": result.records}


async def restore(url: str, target: str) -> dict[str, float]:
    k = keys()
    async with RemoteBackupClient(url, k, NETWORK, timeout=120) as client:
        started, cpu = time.perf_counter(), time.process_time()
        result = await restore_store(client, k, Path(target))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if result.outcome is not RestoreOutcome.RESTORED:
        raise SystemExit(f"the restore failed: {result}")
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child of a
    # large parent would report the parent's peak.
    peak_kib = _high_water_kib()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "bytes": result.bytes,
        "records": result.records,
        "peak_mib": peak_kib / 1024,
    }


def _high_water_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


class BarePut:
    """A bare signed PUT: one 200-byte object through the client library, no engine around it."""

    def __init__(self, client: RemoteBackupClient) -> None:
        self.client = client
        self.generation, self.incarnation, self.version = 0, new_incarnation(), 0

    async def round_trip(self) -> float:
        batch = Batch(
            self.incarnation,
            self.generation,
            new_write_id(),
            (PutItem("ab" * 32, self.version, os.urandom(200)),),
            (),
        )
        started = time.perf_counter()
        applied = await self.client.put_batch(batch)
        took = time.perf_counter() - started
        self.generation = applied.generation
        self.version = applied.versions["ab" * 32]
        return took


async def latency(url: str, path: str, events: int) -> dict[str, float]:
    k = keys()
    store = AsyncRecordStore(SqliteStore(Path(path)))
    service = BackupService(store, k, NETWORK, url)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    acked = asyncio.Event()
    service.status.subscribe(lambda s: acked.set() if s.pending_changes == 0 else None)
    samples: list[float] = []
    bare: list[float] = []
    # The bare PUTs go to another wallet's store, one before each event: a request sent after
    # a pause costs more than one sent straight after another (the machine's cores and caches
    # have cooled down), so both are measured at the same pace, in the same state of the machine.
    async with RemoteBackupClient(url, other_keys(), NETWORK) as client:
        bare_put = BarePut(client)
        for i in range(events + 10):
            took = await bare_put.round_trip()
            acked.clear()  # before the write: a periodic round may take the change up first
            started = time.perf_counter()
            await store.put(f"labels/tx/{i:064x}", b'{"label":"coffee with Ana"}')
            bus.publish(LabelChanged("tx", f"{i:064x}", "coffee with Ana"))
            await asyncio.wait_for(acked.wait(), 30)
            if i >= 10:  # the first few warm up connections and caches
                samples.append(time.perf_counter() - started)
                bare.append(took)
    await service.stop()
    await store.aclose()
    p50, p99 = _quantiles(samples)
    bare_p50, bare_p99 = _quantiles(bare)
    return {"p50": p50, "p99": p99, "bare_p50": bare_p50, "bare_p99": bare_p99}


def main() -> None:
    command, *args = sys.argv[1:]
    if command == "full-backup":
        figures = asyncio.run(full_backup(args[0], args[1], int(args[2]), int(args[3])))
    elif command == "restore":
        figures = asyncio.run(restore(args[0], args[1]))
    elif command == "latency":
        figures = asyncio.run(latency(args[0], args[1], int(args[2])))
    else:
        raise SystemExit(f"unknown job {command!r}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
