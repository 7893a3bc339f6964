"""Child process of test_storage_crash: writes to a SqliteStore forever, reporting each write.

Before each write it prints ``I <json>`` (the intent), after the commit returns ``C``. A write
whose ``C`` was printed is durable; the one intent without its ``C`` may or may not be.
Values are not printed: ``value_of(token, reps)`` rebuilds them.
"""

from __future__ import annotations

import json
import random
import sys

from cairn.storage import SqliteStore

NAMES = [
    *(f"labels/tx/{i}" for i in range(12)),
    *(f"wallet/changeset/{i:04}" for i in range(12)),
    *(f"prefs/é{i}" for i in range(4)),
    *(f"local/cache/{i}" for i in range(8)),
]


def value_of(token: str, reps: int) -> bytes:
    return (token + ";").encode() * reps


def report(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def one_write(store: SqliteStore, rng: random.Random, token: str) -> None:
    def reps() -> int:
        # Mostly small values; now and then one that spills into overflow pages.
        return rng.choice((1, 3, 20, 100)) if rng.random() < 0.95 else 2000

    kind = rng.random()
    if kind < 0.4:
        name, n = rng.choice(NAMES), reps()
        report("I " + json.dumps({"k": "put", "name": name, "v": token, "n": n}))
        store.put(name, value_of(token, n))
    elif kind < 0.6:
        name = rng.choice(NAMES)
        report("I " + json.dumps({"k": "del", "name": name}))
        store.delete(name)
    elif kind < 0.9:
        chosen = rng.sample(NAMES, rng.randint(2, 25))
        split = rng.randint(1, len(chosen))
        puts = [(name, f"{token}/{i}", reps()) for i, name in enumerate(chosen[:split])]
        dels = chosen[split:]
        report("I " + json.dumps({"k": "batch", "puts": puts, "dels": dels}))
        store.batch({n: value_of(t, r) for n, t, r in puts}, deletes=dels)
    else:
        entries = store.outbox_pending(limit=30)
        acked = [e for e in entries if rng.random() < 0.7]
        report("I " + json.dumps({"k": "ack", "names": [e.name for e in acked]}))
        store.outbox_ack(e.seq for e in acked)
    report("C")


def main(argv: list[str]) -> None:
    path, seed = argv[1], int(argv[2])
    rng = random.Random(seed)
    store = SqliteStore(path)
    report("ready")
    counter = 0
    while True:
        counter += 1
        one_write(store, rng, f"{seed}.{counter}")


if __name__ == "__main__":
    main(sys.argv)
