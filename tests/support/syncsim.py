"""A seeded, reproducible simulation of several devices on one seed, checked by an oracle.

Each device is a real SQLite record store with a real BackupService against a real
cairn-backupd. Steps, chosen by a seeded RNG: puts, deletes and re-creates over names every
device shares and names only one device writes; syncs; syncs whose answer is lost; batches sent
twice; syncs cut off at a random point (the device then comes back from its file, as after a
kill); clock skew; a compaction of the server's tombstones; and once, when every device has
synced, an erase of the store followed by a new backup from one device.

The oracle keeps the full history. Every write knows the write its device held for that name
when it was made (its parent), so the history is a causal graph. At the end, after every
device has synced in quiet, it checks:

* every device holds the same records, equal to what a restore from the server brings back;
* no acknowledged write is lost: every write that no later write descends from is the live
  value or a value kept in `conflicts/<name>`; a name whose only such writes are deletes is gone;
* conflicts exist only where two writes were genuinely concurrent and different;
* versions strictly increase per key and the generation never drops, as every device saw them;
* no device ever raised a rollback alarm.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from cairn.backup.client import BackupConflict, BackupError, BackupNotFound, RemoteBackupClient
from cairn.backup.conflicts import list_conflicts
from cairn.backup.service import BackupService
from cairn.backup.sync import BackupErased
from cairn.backup.uploader import Backoff
from cairn.keys import BackupKeys
from cairn.storage import AsyncRecordStore, SqliteStore
from cairn.wire.messages import Batch, BatchResult, FeedPage

NETWORK = "regtest"
SHARED = [f"labels/tx/{i:064x}" for i in range(4)] + ["prefs/fiat", "prefs/unit"]


@dataclass
class Write:
    id: int
    device: int
    name: str
    value: bytes | None  # None: a delete
    parent: int | None  # the write this device held for the name when it wrote


@dataclass
class Observations:
    """What the devices' clients saw of the server: generations and versions per key."""

    problems: list[str] = field(default_factory=list)
    generation: dict[int, int] = field(default_factory=dict)  # per device
    versions: dict[str, tuple[int, str | None]] = field(default_factory=dict)

    def saw_generation(self, device: int, generation: int) -> None:
        if generation < self.generation.get(device, 0):
            self.problems.append(f"device {device} saw the generation drop to {generation}")
        self.generation[device] = max(generation, self.generation.get(device, 0))

    def saw_version(self, key: str, version: int, write_id: str | None) -> None:
        last = self.versions.get(key)
        if last is not None and (version < last[0] or (version == last[0] and write_id != last[1])):
            self.problems.append(f"a key's version went from {last[0]} to {version}")
        if last is None or version > last[0]:
            self.versions[key] = (version, write_id)


class SimClient(RemoteBackupClient):
    """The real client, with the faults the simulation injects and the checks it makes."""

    def __init__(self, url: str, keys: BackupKeys, device: int, seen: Observations) -> None:
        super().__init__(url, keys, NETWORK, timeout=10.0)
        self.device = device
        self.seen = seen
        self.lose_next_answer = False
        self.send_next_twice = False

    async def put_batch(self, batch: Batch) -> BatchResult:
        result = await super().put_batch(batch)
        self.seen.saw_generation(self.device, result.generation)
        if self.send_next_twice:
            self.send_next_twice = False
            # The same batch again (signed anew, as a retrying proxy would): refused, not applied.
            with contextlib.suppress(BackupConflict):
                await super().put_batch(batch)
                self.seen.problems.append("a duplicated batch was applied twice")
        if self.lose_next_answer:
            self.lose_next_answer = False
            from cairn.backup.client import BackupUnreachable

            raise BackupUnreachable("the answer was lost")
        return result

    async def changes(self, since: int, *, limit: int | None = None) -> FeedPage:
        page = await super().changes(since, limit=limit)
        self.seen.saw_generation(self.device, page.state.generation)
        for item in page.items:
            self.seen.saw_version(item.key, item.version, item.write_id)
        return page


class SimDevice:
    def __init__(self, index: int, path: Path, url: str, keys: BackupKeys, seen: Observations):
        self.index = index
        self.path = path
        self.url = url
        self.keys = keys
        self.seen = seen
        self.skew = 0.0
        self.store: AsyncRecordStore | None = None
        self.service: BackupService | None = None
        self.alarms: list[str] = []

    async def open(self) -> None:
        self.store = AsyncRecordStore(SqliteStore(self.path))
        self.service = BackupService(
            self.store,
            self.keys,
            NETWORK,
            self.url,
            poll_interval=None,
            backoff=Backoff(base=0.01, cap=0.05),
            timeout=10.0,
        )
        client = SimClient(self.url, self.keys, self.index, self.seen)
        await self.service.client.aclose()
        self.service.client = client
        self.service.engine.client = client
        self.service.engine._clock = lambda: time.time() + self.skew
        self.service.status.subscribe(self._watch)
        await self.service.prepare()

    def _watch(self, snapshot: object) -> None:
        if getattr(snapshot, "rollback_detected", False):
            self.alarms.append(str(getattr(snapshot, "notice", "")))

    @property
    def client(self) -> SimClient:
        assert self.service is not None
        client = self.service.client
        assert isinstance(client, SimClient)
        return client

    async def close(self) -> None:
        if self.service is not None:
            await self.service.stop()
        if self.store is not None:
            await self.store.aclose()
        self.service = self.store = None

    async def crash(self) -> None:
        """Drop everything in memory; the device comes back from its file."""
        service, store = self.service, self.store
        self.service = self.store = None
        if service is not None:
            with contextlib.suppress(Exception):
                await service.client.aclose()
        if store is not None:
            await store.aclose()
        await self.open()

    async def sync(self) -> str:
        """One round; what became of it ("ok", or the error's kind and message)."""
        assert self.service is not None
        try:
            await self.service.backup_now()
        except BackupErased:
            await self.service.start_again()
            return "erased elsewhere: started again"
        except BackupError as exc:
            return f"{type(exc).__name__}: {exc}"
        return "ok"


class Simulation:
    def __init__(
        self, seed: int, devices: int, url: str, keys: BackupKeys, workdir: Path, db: str
    ) -> None:
        self.rng = random.Random(seed)
        self.url = url
        self.keys = keys
        self.db = db
        self.workdir = workdir
        self.seen = Observations()
        self.devices = [
            SimDevice(i, workdir / f"device{i}.sqlite", url, keys, self.seen)
            for i in range(devices)
        ]
        self.writes: list[Write] = []
        self.by_value: dict[bytes, int] = {}
        self.erased = False
        self.erased_at_write = 0  # writes before an erase are compared with less knowledge
        self.steps = 0
        self.trace: list[str] = []  # what each step did, for the failure's report

    # -- history ------------------------------------------------------------------------------

    async def _held(self, device: SimDevice, name: str) -> int | None:
        """The write whose value the device holds for `name` (a delete when it holds none)."""
        assert device.store is not None
        value = await device.store.get(name)
        if value is not None:
            return self.by_value.get(value)
        deletes = [w.id for w in self.writes if w.name == name and w.value is None]
        return deletes[-1] if deletes else None

    async def write(self, device: SimDevice, name: str, value: bytes | None) -> None:
        assert device.store is not None
        parent = await self._held(device, name)
        if value is None:
            if await device.store.get(name) is None:
                return
            await device.store.delete(name)
        else:
            await device.store.put(name, value)
        write = Write(len(self.writes), device.index, name, value, parent)
        self.writes.append(write)
        kind = "write" if value is not None else "write (a delete)"
        self._note(device, f"{kind} {write.id} to {name} (parent {parent})")
        if value is not None:
            self.by_value[value] = write.id

    def _note(self, device: SimDevice, what: str) -> None:
        self.trace.append(f"step {self.steps} device {device.index}: {what}")

    def history_of(self, problems: list[str]) -> str:
        """The steps that wrote a name `problems` speak of, and every other kind of step."""
        names = {n for n in {w.name for w in self.writes} if any(n in p for p in problems)}
        return "\n".join(t for t in self.trace if " to " not in t or any(n in t for n in names))

    # -- steps --------------------------------------------------------------------------------

    async def step(self) -> None:
        self.steps += 1
        device = self.rng.choice(self.devices)
        roll = self.rng.random()
        if roll < 0.40:
            own = f"labels/addr/own{device.index}-{self.rng.randrange(3)}"
            name = self.rng.choice([*SHARED, own])
            value = f"{name}|d{device.index}|{self.steps}".encode()
            await self.write(device, name, value)
        elif roll < 0.50:
            name = self.rng.choice(SHARED)
            await self.write(device, name, None)
        elif roll < 0.75:
            self._note(device, f"sync: {await device.sync()}")
        elif roll < 0.80:
            device.client.lose_next_answer = True
            self._note(device, f"sync, its answer lost: {await device.sync()}")
        elif roll < 0.85:
            device.client.send_next_twice = True
            self._note(device, f"sync, its batch sent twice: {await device.sync()}")
        elif roll < 0.92:
            self._note(device, "sync cut off, then a restart")
            await self.cut_off(device)
        elif roll < 0.96:
            device.skew = self.rng.choice([-240.0, -30.0, 0.0, 45.0, 3600.0 * 5])
            self._note(device, f"clock skew {device.skew:+.0f} s")
        elif roll < 0.99:
            self._note(device, "compaction")
            await self.compact()
        elif not self.erased:
            self._note(device, "erase and start again")
            await self.erase_and_start_again(device)

    async def cut_off(self, device: SimDevice) -> None:
        """A sync interrupted at a random point, as a kill would; then the device restarts."""
        assert device.service is not None
        task = asyncio.ensure_future(device.service.backup_now())
        await asyncio.sleep(self.rng.random() * 0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, BackupError, Exception):
            await task
        await device.crash()

    async def compact(self) -> None:
        command = [sys.executable, "-m", "cairn.server", "compact", "--db", self.db]
        await asyncio.to_thread(
            subprocess.run, [*command, "--older-than-days", "0"], check=True, capture_output=True
        )

    async def erase_and_start_again(self, device: SimDevice) -> None:
        await self.quiesce()
        assert device.service is not None
        try:
            await device.service.delete_server_backup()
        except BackupNotFound:
            return  # nothing was ever backed up: nothing to erase
        await device.service.start_again()
        await device.sync()
        self.erased = True
        self.erased_at_write = len(self.writes)

    async def quiesce(self) -> None:
        """Sync every device, in quiet, until a whole round leaves nothing pending."""
        for device in self.devices:
            device.skew = 0.0
        for _ in range(6):
            for device in self.devices:
                await device.sync()
            pending = 0
            for device in self.devices:
                assert device.store is not None
                pending += (await device.store.outbox_stats()).count
            if not pending:
                return

    # -- the run ------------------------------------------------------------------------------

    async def run(self, steps: int, min_seconds: float = 0.0) -> None:
        """`steps` steps, and more until `min_seconds` have passed."""
        for device in self.devices:
            await device.open()
        started = time.monotonic()
        while self.steps < steps or time.monotonic() - started < min_seconds:
            await self.step()
        await self.quiesce()
        for _ in range(2):
            for device in self.devices:
                await device.sync()

    async def check(self, restored: dict[str, bytes]) -> list[str]:
        problems = list(self.seen.problems)
        views = []
        for device in self.devices:
            assert device.store is not None
            views.append(dict((await device.store.snapshot()).records))
            problems += [f"device {device.index} alarm: {a}" for a in device.alarms]
        for i, view in enumerate(views[1:], start=1):
            if view != views[0]:
                differing = sorted(set(view.items()) ^ set(views[0].items()))[:5]
                problems.append(f"device {i} differs from device 0: {differing}")
        if restored != views[0]:
            problems.append("the server's state differs from the devices'")
        conflicts = {c.name: c for c in await list_conflicts(self.devices[0].store)}  # type: ignore[arg-type]
        problems += self._lost_writes(views[0], conflicts)
        problems += self._false_conflicts(conflicts)
        return problems

    def _maximal(self) -> dict[str, list[Write]]:
        ancestors: dict[int, set[int]] = {}
        for write in self.writes:
            seen = set()
            if write.parent is not None:
                seen = {write.parent, *ancestors.get(write.parent, set())}
            ancestors[write.id] = seen
        covered: set[int] = set()
        for write in self.writes:
            covered |= ancestors[write.id]
        maximal: dict[str, list[Write]] = defaultdict(list)
        for write in self.writes:
            if write.id not in covered:
                maximal[write.name].append(write)
        self._ancestors = ancestors
        return maximal

    def _lost_writes(self, records: dict[str, bytes], conflicts: dict[str, object]) -> list[str]:
        problems = []
        for name, heads in self._maximal().items():
            kept = {records.get(name)}
            conflict = conflicts.get(name)
            if conflict is not None:
                kept |= {c.value for c in conflict.candidates}  # type: ignore[attr-defined]
            for head in heads:
                if head.value is not None and head.value not in kept:
                    problems.append(f"write {head.id} to {name} was lost")
            if all(h.value is None for h in heads) and name in records:
                problems.append(f"{name} came back after its only remaining writes deleted it")
        return problems

    def _false_conflicts(self, conflicts: dict[str, object]) -> list[str]:
        """Every value a conflict keeps must have been concurrent with another value it keeps.

        A conflict record gathers the values of several conflicts about one name; a kept delete
        stands for any delete of that name.
        """
        problems = []
        for name, conflict in conflicts.items():
            candidates = conflict.candidates  # type: ignore[attr-defined]
            values = [self.by_value.get(c.value) for c in candidates if c.value is not None]
            values = [v for v in values if v is not None]
            others = set(values)
            if any(c.value is None for c in candidates):
                others |= {w.id for w in self.writes if w.name == name and w.value is None}
            kept_delete = any(c.value is None for c in candidates)
            early_deletes = [
                w.id
                for w in self.writes
                if w.name == name and w.value is None and w.id < self.erased_at_write
            ]
            if self.erased and (
                any(v < self.erased_at_write for v in values) or (kept_delete and early_deletes)
            ):
                # After an erase and a new backup from another device, a device cannot tell
                # what its pending edits (deletes too) were based on: both copies are kept, as
                # a conflict.
                continue
            for value in values:
                if not any(self._concurrent(value, other) for other in others):
                    write = self.writes[value]
                    problems.append(
                        f"the conflict about {name} keeps write {value} (device {write.device}, "
                        f"parent {write.parent}), concurrent with none of the others "
                        f"(it keeps writes {sorted(values)})"
                    )
        return problems

    def _concurrent(self, a: int, b: int) -> bool:
        return a != b and a not in self._ancestors[b] and b not in self._ancestors[a]

    async def close(self) -> None:
        for device in self.devices:
            await device.close()
