"""Child process of test_crash: writes records and uploads them until it is SIGKILLed.

Usage: crash_client.py <store path> <server url> <rng seed>. Prints "ready" once the uploader
runs. Every write commits locally first (with its outbox entry), as the wallet's writes do.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from pathlib import Path

from cairn.backup.uploader import Backoff
from tests.integration.backup.helpers import open_store, service_for


async def main(path: Path, url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = open_store(path)
    service = service_for(
        store, url, debounce=0.005, backoff=Backoff(0.02, 0.2), max_items=rng.choice((3, 20, 200))
    )
    await service.start()
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        kind = rng.random()
        if kind < 0.5:
            await store.put(
                f"wallet/changeset/{seed:04d}-{i:05d}", os.urandom(rng.choice((10, 300, 3000)))
            )
        elif kind < 0.8:
            await store.put(f"labels/tx/{rng.randrange(20)}", os.urandom(rng.randrange(1, 100)))
        elif kind < 0.9:
            await store.batch(
                {f"prefs/{rng.randrange(5)}": os.urandom(8), f"payments/{seed}-{i}": b"m"}
            )
        else:
            await store.delete(f"labels/tx/{rng.randrange(20)}")
        service.notify(urgent=rng.random() < 0.5)
        await asyncio.sleep(rng.uniform(0, 0.004))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
