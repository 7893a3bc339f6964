"""SyncEngine: the backup as the channel between every device on one seed (docs/PROTOCOL.md §11).

Pull before push. `pull` reads the server's change feed from the generation this device has
applied, opens and verifies every item, merges it with the local records by kind of record
(merge.py) and moves the cursor, page by page, each page in one local transaction. `push`
sends the outbox as one batch under a store-wide precondition: the generation this device has
seen everything up to. A 409 therefore means "another device wrote first": pull, merge, build
the batch again and resend, never a conflict by itself.

Every batch carries the store's manifest (count and keyed set digest of the live objects,
payload.py), computed from this device's exact knowledge of the server at that generation. After
pulling, the manifest the server holds must equal what this device computed from the feed: a
server that drops, adds, resurrects or replays an object, lowers the generation, or presents an
older incarnation is caught; an honest server never raises an alarm, however devices interleave.

`resync` compares everything: it lists the store (the export), merges every object, deletes
locally only what was synced before and is now gone (when the server is to be trusted about
that), and queues what exists only here. It runs after an upgrade, a new server, a rollback, a
compaction, a new incarnation and the move to protocol v2.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cairn.backup import hlc
from cairn.backup.client import RemoteBackupClient
from cairn.backup.errors import (
    BackupConflict,
    BackupCorrupt,
    BackupErased,
    BackupError,
    BackupNotFound,
    BackupServerError,
    ResyncRequired,
)
from cairn.backup.localstate import (
    CLOCK,
    INCARNATION,
    LAST_GENERATION,
    LEGACY_NAMES,
    MANIFEST,
    PROTOCOL,
    SENT,
    VERSIONS_PREFIX,
    AsyncStore,
    Incarnation,
    LocalBackupState,
    ManifestState,
    Notice,
    bookkeeping_records,
    version_name,
    version_record,
)
from cairn.backup.merge import (
    CHANGESET_PREFIX,
    KEEP,
    ConflictRecord,
    Decision,
    Side,
    conflict_record_name,
    decide,
)
from cairn.keys import BackupKeys
from cairn.storage import Pending, PendingChanged, is_local
from cairn.storage.device import DEVICE_ID_BYTES, DEVICE_RECORD
from cairn.wire import envelope, payload
from cairn.wire.addressing import new_incarnation, new_write_id, wire_key
from cairn.wire.messages import Batch, DeleteItem, PutItem, StoreState

__all__ = [
    "BackupCorrupt",
    "BackupErased",
    "PushResult",
    "SyncEngine",
    "SyncNotice",
]

log = logging.getLogger(__name__)

MAX_PUSH_ROUNDS = 8  # rounds of pull → rebuild → resend before giving up for now
MAX_APPLY_ATTEMPTS = 8  # the user keeps writing the records a pull is merging
SENT_KEPT = 1024  # write ids remembered: our own writes are recognised in the feed by them
MAX_BATCH_ITEMS = 500  # the server allows 1000 per batch; the manifest takes one
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Batches larger than this are sealed on a worker thread (about a millisecond of work here).
SEAL_ON_LOOP_BYTES = 64 * 1024
_MOD = 1 << 256


@dataclass(frozen=True)
class SyncNotice:
    """What the status should tell: a rollback, an erase elsewhere, conflicts, a cloned data dir."""

    kind: str
    reason: str
    at: float | None = None  # unix time it was noticed, for the notices kept until dismissed


@dataclass(frozen=True)
class PushResult:
    records: int = 0
    bytes_sent: int = 0
    generation: int = 0


@dataclass
class _View:
    """This device's knowledge of the server, loaded at the start of a step."""

    generation: int
    incarnation: Incarnation | None
    manifest: ManifestState
    clock: hlc.ClockState
    device: bytes
    sent: list[str]
    current_protocol: bool


@dataclass
class _Opened:
    key: str
    version: int
    write_id: str | None
    record: payload.Record


@dataclass
class _PageResult:
    manifest: payload.Manifest | None = None
    manifest_version: int = 0
    applied: int = 0
    conflicts: int = 0
    clone: bool = False
    clock: hlc.ClockState = field(default_factory=hlc.ClockState)


class SyncEngine:
    """Pull, merge and push for one wallet store against one server store."""

    def __init__(
        self,
        store: AsyncStore,
        client: RemoteBackupClient,
        keys: BackupKeys,
        *,
        on_notice: Callable[[SyncNotice], None] | None = None,
        clock: Callable[[], float] = time.time,
        max_items: int = MAX_BATCH_ITEMS,
        max_bytes: int = MAX_BATCH_BYTES,
        on_applied: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self._on_applied = on_applied
        self.client = client
        self.local = LocalBackupState(store)
        self._data_key = keys.data_key
        self._name_key = keys.key_name_key
        self._mac_key = payload.manifest_key(keys.key_name_key)
        self._manifest_key = payload.manifest_wire_key(keys.key_name_key)
        self._store_id = client.store_id
        self._on_notice = on_notice
        self._clock = clock
        self.max_items = max_items
        self.max_bytes = max_bytes

    def wire_key(self, name: str) -> str:
        return wire_key(self._name_key, name)

    # -- state --------------------------------------------------------------------------------

    async def _view(self) -> _View:
        names = [LAST_GENERATION, INCARNATION, MANIFEST, CLOCK, SENT, PROTOCOL, DEVICE_RECORD]
        found = await self.store.get_many(names)
        device = found.get(DEVICE_RECORD)
        if device is None or len(device) != DEVICE_ID_BYTES:
            device = os.urandom(DEVICE_ID_BYTES)
            await self.store.put(DEVICE_RECORD, device)
        return _View(
            generation=int(found.get(LAST_GENERATION, b"0")),
            incarnation=Incarnation.decode(found.get(INCARNATION)),
            manifest=ManifestState.decode(found.get(MANIFEST)),
            clock=hlc.ClockState.decode(found.get(CLOCK)),
            device=device,
            sent=json.loads(found[SENT]) if SENT in found else [],
            current_protocol=found.get(PROTOCOL) == b"2",
        )

    def _notify(self, kind: str, reason: str, at: float | None = None) -> None:
        if self._on_notice is not None:
            self._on_notice(SyncNotice(kind, reason, at))

    async def _raise_notice(self, kind: str, reason: str) -> None:
        notice = Notice(kind, reason, self._clock())
        await self.local.raise_notice(notice)
        self._notify(kind, reason, notice.at)

    async def rollback(self, reason: str) -> None:
        """The server lost or rolled back data: compare everything and upload what it lacks."""
        log.warning("backup server rollback detected: %s", reason)
        await self.local.require_full(f"the backup server went back in time: {reason}")
        await self._raise_notice("rollback", reason)

    # -- opening ------------------------------------------------------------------------------

    def _open(
        self, key: str, version: int, write_id: str | None, blob: bytes, incarnation: str | None
    ) -> payload.Record | payload.Manifest:
        binding: dict[str, bytes | None] = {"write_id": None, "incarnation": None}
        if write_id is not None:
            if incarnation is None:
                raise BackupCorrupt("an object names a write but the store has no incarnation")
            binding = {
                "write_id": bytes.fromhex(write_id),
                "incarnation": bytes.fromhex(incarnation),
            }
        try:
            body = envelope.unseal(self._data_key, self._store_id, key, version, blob, **binding)
            if key == self._manifest_key:
                return payload.decode_manifest(body)
            record = payload.decode_record(body)
        except (envelope.DecryptionError, payload.PayloadError) as exc:
            raise BackupCorrupt(f"an object on the server is damaged or forged: {exc}") from None
        if self.wire_key(record.name) != key or is_local(record.name):
            raise BackupCorrupt("an object on the server is stored under a key not its name's")
        return record

    # -- pull ---------------------------------------------------------------------------------

    async def pull(self) -> int:
        """Apply every change other devices made since the cursor; the records changed here."""
        view = await self._view()
        start = since = view.generation
        applied = 0
        latest: tuple[int, payload.Manifest] | None = None
        final: StoreState | None = None
        while True:
            try:
                page = await self.client.changes(since)
            except ResyncRequired:
                await self.local.require_full(
                    "the server compacted old deletions: comparing everything once",
                    trust_server=True,
                )
                return applied
            except BackupNotFound:
                if view.generation > 0 or view.manifest.version > 0:
                    await self.rollback("the backup store is missing on the server")
                return applied
            final = page.state
            if not await self._store_is_ours(final, view):
                return applied
            if final.generation < since:
                await self.rollback(
                    f"store generation went back from {since} to {final.generation}"
                )
                return applied
            incarnation = final.incarnation
            opened = []
            manifest: tuple[int, payload.Manifest] | None = None
            for item in page.items:
                if not since < item.version <= final.generation:
                    await self.rollback("the change feed returned an object out of order")
                    return applied
                content = self._open(item.key, item.version, item.write_id, item.value, incarnation)
                if isinstance(content, payload.Manifest):
                    manifest = (item.version, content)
                    continue
                if content.deleted != item.deleted:
                    raise BackupCorrupt("a tombstone and its payload disagree")
                opened.append(_Opened(item.key, item.version, item.write_id, content))
            cursor = page.next if page.next is not None else final.generation
            result = await self._apply(opened, view, cursor, manifest)
            applied += result.applied
            latest = manifest or latest
            view = await self._view()
            since = cursor
            if page.next is None:
                break
        if final is not None and final.generation > start:
            await self._verify_manifest(final.generation, latest)
        if applied and self._on_applied is not None:
            self._on_applied(applied)
        return applied

    async def _store_is_ours(self, state: StoreState, view: _View) -> bool:
        """Check the server's incarnation against ours; False when nothing may be applied."""
        ours = view.incarnation.id if view.incarnation else None
        if state.incarnation == ours:
            return True
        if state.erased or state.incarnation is None:
            if ours is None or not view.incarnation or not view.incarnation.confirmed:
                return True  # nothing joined yet, a store from before protocol v2, or ours to start
            if state.erased:
                await self._raise_notice(
                    "erased",
                    "your backup was deleted from another device: back up again here, or stop",
                )
                raise BackupErased("the backup was deleted from another device")
            await self.rollback("the server forgot this store's incarnation")
            return False
        if ours is None or (view.incarnation is not None and not view.incarnation.confirmed):
            # The life this device meant to start never reached the server: join the one there.
            # What this device knew of an earlier life says nothing about this one: forget it,
            # so the comparison deletes nothing here and uploads what the store lacks.
            await self.local.clear_server_state()
            await self.local.require_full("joining the backup of another device", trust_server=True)
            return False
        try:
            obj = await self.client.get_object(self._manifest_key)
            content = self._open(obj.key, obj.version, obj.write_id, obj.value, state.incarnation)
        except (BackupNotFound, BackupCorrupt):
            content = None  # no manifest of that life a device with the seed wrote
        if (
            isinstance(content, payload.Manifest)
            and content.incarnation == state.incarnation
            and content.previous_incarnation == ours
        ):
            # Only a device with the seed can write that manifest. How far the erased life had
            # got (`previous_generation`) is as its eraser knew it, which may be behind us.
            await self._raise_notice(
                "erased",
                "your backup was deleted from another device and started again there; "
                "this device's records were added to it",
            )
            await self.local.require_full("the backup was started again on another device")
            return False
        await self.rollback(
            "the server presents another life of this store that does not follow ours"
        )
        return False

    async def _verify_manifest(
        self, generation: int, latest: tuple[int, payload.Manifest] | None
    ) -> None:
        """The server's manifest at its generation must describe exactly what the feed gave."""
        mirror = await self.local.manifest()
        if latest is None:
            await self.rollback("the store changed without its manifest")
            return
        version, found = latest
        if (
            version != generation
            or found.objects != mirror.objects
            or found.digest != mirror.digest
        ):
            await self.rollback(
                "the server's objects do not match its manifest: objects are missing, added "
                "or older than they should be"
            )

    async def _apply(
        self,
        items: Sequence[_Opened],
        view: _View,
        cursor: int,
        manifest: tuple[int, payload.Manifest] | None,
    ) -> _PageResult:
        """Merge one page into the local store in one transaction, with the new cursor."""
        names = [o.record.name for o in items]
        conflict_names = [conflict_record_name(n) for n in names]
        for _ in range(MAX_APPLY_ATTEMPTS):
            # Pending entries first: a write landing after this read changes its seq, which
            # `expect` then catches; read the other way round, a stale value could be settled.
            pending = await self.store.pending_for(names)
            values = await self.store.get_many([*names, *conflict_names])
            mirror = await self.local.manifest()
            known = await self.local.versions(o.key for o in items)
            result = _PageResult()
            changes = _Changes(values, result)
            puts, deletes, acks = changes.puts, changes.deletes, changes.acks
            clock = view.clock
            now_ms = int(self._clock() * 1000)
            digest, objects = mirror.digest, mirror.objects
            for item in items:
                record = item.record
                clock = hlc.observe(clock, record.clock, now_ms)
                old = known[item.key]
                if old:
                    digest = (digest - payload.set_term(self._mac_key, item.key, old)) % _MOD
                    objects -= 1
                if record.deleted:
                    deletes.append(version_name(item.key))
                else:
                    digest = (
                        digest + payload.set_term(self._mac_key, item.key, item.version)
                    ) % _MOD
                    objects += 1
                    kept_name, kept_version = version_record(item.key, item.version)
                    puts[kept_name] = kept_version
                own = item.write_id is not None and item.write_id in view.sent
                if record.writer == view.device and not own and item.write_id is not None:
                    result.clone = True
                if own:
                    # Our own write (its answer was lost): the base of anything still pending.
                    entry = pending.get(record.name)
                    if entry is not None and _same(values.get(record.name), record):
                        acks.append(entry.seq)
                    continue
                entry = pending.get(record.name)
                local_side = None
                if entry is not None:
                    reading, _ = hlc.stamp(clock, entry.at_ms, view.device)
                    local_side = Side(values.get(record.name), reading)
                remote = Side(None if record.deleted else record.value, record.clock)
                decision = decide(record.name, local_side, remote)
                _settle(record.name, decision, entry.seq if entry else None, changes)
            result.clock = clock
            new_mirror = ManifestState(
                manifest[0] if manifest is not None else mirror.version, objects, digest
            )
            puts.update(
                bookkeeping_records(generation=cursor, clock=clock.encode(), manifest=new_mirror)
            )
            if manifest is not None:
                result.manifest, result.manifest_version = manifest[1], manifest[0]
            expect = {n: (pending[n].seq if n in pending else None) for n in names}
            _reconcile(changes)
            try:
                await self.store.apply_synced(
                    puts, deletes, expect=expect, ack=acks, queue=changes.queue
                )
            except PendingChanged:
                continue
            if result.clone:
                await self._rotate_device()
            if result.conflicts:
                self._notify(
                    "conflicts", f"{result.conflicts} concurrent edits kept for you to settle"
                )
            return result
        raise BackupError("the records being synced keep changing; will try again")

    async def _rotate_device(self) -> None:
        """Another copy of this data dir writes under our device id: take a new one."""
        log.warning("backup: another copy of this wallet's data writes as this device; new id")
        await self.store.put(DEVICE_RECORD, os.urandom(DEVICE_ID_BYTES))
        self._notify("clone", "this wallet's data was copied to another machine; told apart now")

    # -- push ---------------------------------------------------------------------------------

    async def push(self, on_sent: Callable[[PushResult], None] | None = None) -> PushResult:
        """Send every pending change, pulling and rebuilding whenever another device wrote first.

        `on_sent` hears about every batch the server accepted (a full backup's progress).
        """
        total = PushResult()
        conflicts = 0
        while True:
            entries = await self.store.outbox_pending(self.max_items)
            if not entries:
                return total
            try:
                sent = await self._push_once([e.name for e in entries])
            except BackupConflict:
                conflicts += 1
                if conflicts > MAX_PUSH_ROUNDS:
                    raise BackupConflict(
                        "other devices keep writing to this backup; will retry"
                    ) from None
                await self.pull()  # raises BackupErased if the store was erased elsewhere
                if await self.local.full_required():
                    return total
                continue
            total = PushResult(
                total.records + sent.records, total.bytes_sent + sent.bytes_sent, sent.generation
            )
            if on_sent is not None:
                on_sent(total)

    async def _push_once(self, names: Sequence[str]) -> PushResult:
        view = await self._view()
        # Pending entries first: a write after this read gets a new seq, which stays pending
        # (read the other way round, an old value could be sent and the new entry acknowledged).
        pending = await self.store.pending_for(names)
        values = await self.store.get_many(names)
        chosen: list[str] = []
        size = 0
        for name in names:
            value_size = len(values.get(name, b""))
            if chosen and size + value_size > self.max_bytes:
                break
            chosen.append(name)
            size += value_size
        seqs = [pending[n].seq for n in chosen if n in pending]
        keys = {n: self.wire_key(n) for n in chosen}
        known = await self.local.versions(keys.values())
        incarnation = view.incarnation or await self._new_incarnation(view)
        generation = view.generation + 1
        write_id = new_write_id()
        binding = _Binding(bytes.fromhex(write_id), bytes.fromhex(incarnation.id))
        work = _SealWork(chosen, keys, known, pending, values, view, incarnation, generation)
        if size > SEAL_ON_LOOP_BYTES:
            # Compressing and sealing megabytes takes tens of milliseconds: off the loop.
            sealed = await asyncio.to_thread(self._seal, work, binding)
        else:
            sealed = self._seal(work, binding)
        if sealed is None:
            await self.store.outbox_ack(seqs)
            return PushResult(generation=view.generation)
        puts, deletes, bookkeeping, forget = (
            sealed.puts,
            sealed.deletes,
            sealed.bookkeeping,
            sealed.forget,
        )
        clock, digest, objects = sealed.clock, sealed.digest, sealed.objects
        batch = Batch(incarnation.id, view.generation, write_id, tuple(puts), tuple(deletes))
        # Remembered before sending: if the answer is lost, the feed shows the write as ours
        # (and the store's new incarnation as the one this device started).
        remembered = bookkeeping_records(
            sent=[*view.sent, write_id][-SENT_KEPT:],
            incarnation=incarnation if view.incarnation != incarnation else None,
        )
        await self.store.batch(remembered)
        result = await self.client.put_batch(batch)
        if result.generation != generation:
            raise BackupServerError("the server applied a batch at an unexpected generation")
        bookkeeping.update(
            bookkeeping_records(
                manifest=ManifestState(generation, objects, digest),
                generation=generation,
                incarnation=incarnation,
                clock=clock.encode(),
                protocol_current=True,
                synced_at=self._clock(),
            )
        )
        await self.store.apply_synced(bookkeeping, forget, expect={}, ack=seqs)
        if not incarnation.confirmed:
            confirmed = Incarnation(
                incarnation.id, incarnation.previous, incarnation.previous_generation
            )
            await self.local.set_incarnation(confirmed)
        sent_bytes = sum(len(p.value) for p in puts) + sum(len(d.value) for d in deletes)
        return PushResult(len(puts) + len(deletes) - 1, sent_bytes, generation)

    def _seal(self, work: _SealWork, binding: _Binding) -> _Sealed | None:
        """Seal one batch and compute the manifest it carries; None if nothing is to be sent."""
        view, generation, incarnation = work.view, work.generation, work.incarnation
        clock = view.clock
        mirror = view.manifest
        digest, objects = mirror.digest, mirror.objects
        puts: list[PutItem] = []
        deletes: list[DeleteItem] = []
        bookkeeping: dict[str, bytes] = {}
        forget: list[str] = []
        for name in work.chosen:
            key = work.keys[name]
            old = work.known[key]
            entry = work.pending.get(name)
            at_ms = entry.at_ms if entry is not None else int(self._clock() * 1000)
            reading, clock = hlc.stamp(clock, at_ms, view.device)
            value = work.values.get(name)
            if value is None and not old:
                continue  # never reached the server: nothing to delete
            if old:
                digest = (digest - payload.set_term(self._mac_key, key, old)) % _MOD
                objects -= 1
            body = payload.encode_record(
                name, view.device, value or b"", reading, deleted=value is None
            )
            blob = binding.seal(self._data_key, self._store_id, key, generation, body)
            if value is None:
                deletes.append(DeleteItem(key, old, blob))
                forget.append(version_name(key))
            else:
                puts.append(PutItem(key, old, blob))
                digest = (digest + payload.set_term(self._mac_key, key, generation)) % _MOD
                objects += 1
                kept_name, kept_version = version_record(key, generation)
                bookkeeping[kept_name] = kept_version
        if not puts and not deletes:
            return None
        manifest_body = payload.encode_manifest(
            payload.Manifest(
                objects,
                digest,
                int(self._clock()),
                view.device,
                generation=generation,
                incarnation=incarnation.id,
                previous_incarnation=incarnation.previous,
                previous_generation=incarnation.previous_generation,
            )
        )
        blob = binding.seal(
            self._data_key, self._store_id, self._manifest_key, generation, manifest_body
        )
        puts.append(PutItem(self._manifest_key, mirror.version, blob))
        return _Sealed(puts, deletes, bookkeeping, forget, clock, digest, objects)

    async def _new_incarnation(self, view: _View) -> Incarnation:
        """This device starts the store's first life (as far as it knows)."""
        return Incarnation(new_incarnation(), confirmed=False)

    async def start_again(self) -> None:
        """After an erase elsewhere, the user chose to back up here: a new life of the store.

        Its manifests name the erased life and how far it had got, so other devices that knew it
        can tell this from a server replaying or faking an erase.
        """
        view = await self._view()
        await self.prepare_next_life(view.incarnation, view.generation)
        await self.local.dismiss_notice()
        await self.local.require_full(
            "backing up again after the backup was deleted elsewhere", new_incarnation=True
        )

    async def prepare_next_life(self, before: Incarnation | None, generation: int) -> None:
        """The next batch from here starts a new incarnation that follows `before`."""
        if before is not None and not before.confirmed:
            fresh = before  # already prepared: keep the life it follows
        else:
            previous = before.id if before is not None else None
            fresh = Incarnation(new_incarnation(), previous, generation, confirmed=False)
        await self.local.set_incarnation(fresh)

    # -- resync -------------------------------------------------------------------------------

    async def resync(self) -> int:
        """Compare every record with the server's copy and merge; the records changed here.

        Afterwards this device's view of the server is exact, and what exists only here is
        queued for the next push.
        """
        requirement = await self.local.full_requirement()
        trust = requirement.trust_server if requirement is not None else True
        try:
            info = await self.client.store_info()
        except BackupNotFound:
            info = None
        view = await self._view()
        may_restart = requirement is not None and requirement.new_incarnation
        if (
            info is not None
            and info.state.erased
            and view.incarnation is not None
            and not may_restart
        ):
            await self._store_is_ours(info.state, view)
        server: dict[str, int] = {}
        applied = 0
        generation, incarnation, manifest_version = 0, None, 0
        manifest: payload.Manifest | None = None
        if info is not None and info.objects > 0:
            async with self.client.export() as stream:
                generation, incarnation = stream.generation, stream.incarnation
                ours = view.incarnation.id if view.incarnation else None
                if incarnation != ours:
                    # Versions of another life of the store say nothing about this one: what
                    # differs from the server's copy is kept beside it, never overwritten.
                    await self.local.forget_versions()
                checker = _SetChecker(self._mac_key)
                async for objects in stream.batches():
                    opened = []
                    for obj in objects:
                        content = self._open(
                            obj.key, obj.version, obj.write_id, obj.value, incarnation
                        )
                        if isinstance(content, payload.Manifest):
                            manifest, manifest_version = content, obj.version
                            continue
                        checker.add(obj.key, obj.version)
                        opened.append(_Opened(obj.key, obj.version, obj.write_id, content))
                        server[content.name] = obj.version
                    applied += await self._merge_listed(opened, view)
                if manifest is None or not checker.matches(manifest):
                    raise BackupCorrupt(
                        "the backup on the server does not match its manifest: objects are "
                        "missing, added or older than they should be"
                    )
        elif info is not None:
            generation, incarnation = info.state.generation, info.state.incarnation
        applied += await self._queue_local_only(server, trust)
        life = None
        if incarnation is not None:
            # The life it follows comes with it: every manifest this device writes names it too.
            follows = manifest if info is not None and info.objects > 0 else None
            life = Incarnation(
                incarnation,
                follows.previous_incarnation if follows is not None else None,
                follows.previous_generation if follows is not None else 0,
            )
        await self._reset_view(server, (generation, manifest_version), life, view)
        if applied and self._on_applied is not None:
            self._on_applied(applied)
        return applied

    async def _merge_listed(self, items: list[_Opened], view: _View) -> int:
        """Merge listed objects as a pull would, but also against what this device synced before."""
        if not items:
            return 0
        names = [o.record.name for o in items]
        for _ in range(MAX_APPLY_ATTEMPTS):
            pending = await self.store.pending_for(names)  # first, as in `_apply`
            values = await self.store.get_many([*names, *(conflict_record_name(n) for n in names)])
            known = await self.local.versions(o.key for o in items)
            result = _PageResult()
            changes = _Changes(values, result)
            queue = changes.queue
            for item in items:
                record, name = item.record, item.record.name
                entry = pending.get(name)
                local_value = values.get(name)
                remote = Side(record.value, record.clock)
                seen = known[item.key]
                if item.write_id is not None and item.write_id in view.sent:
                    # Our own write (its answer was lost): the base of anything still pending.
                    if entry is not None and _same(local_value, record):
                        changes.acks.append(entry.seq)
                    continue
                if entry is None and seen and item.version < seen:
                    # The server holds an older version than we synced: ours goes up again.
                    if local_value is not None:
                        queue[name] = local_value
                    continue
                if entry is None and seen and item.version == seen:
                    continue
                if entry is not None and seen and item.version <= seen:
                    continue  # the pending change is based on this version (or a later one)
                local_side = None
                if entry is not None:
                    reading, _ = hlc.stamp(view.clock, entry.at_ms, view.device)
                    local_side = Side(local_value, reading)
                elif not seen and local_value is not None and local_value != record.value:
                    # Never synced with this server: both copies count, the server's first.
                    local_side = Side(local_value, payload.Clock(0, 0, view.device))
                decision = decide(name, local_side, remote)
                _settle(name, decision, entry.seq if entry else None, changes)
            expect = {n: (pending[n].seq if n in pending else None) for n in names}
            _reconcile(changes)
            try:
                await self.store.apply_synced(
                    changes.puts,
                    changes.deletes,
                    expect=expect,
                    ack=changes.acks,
                    queue=queue,
                )
            except PendingChanged:
                continue
            return result.applied
        raise BackupError("the records being synced keep changing; will try again")

    async def _queue_local_only(self, server: dict[str, int], trust: bool) -> int:
        """Records the server does not hold: deleted elsewhere (trust), or to be uploaded."""
        snapshot = await self.store.snapshot()
        local_only = [(n, v) for n, v in snapshot.records if n not in server]
        if not local_only:
            return 0
        names = [n for n, _ in local_only]
        pending = await self.store.pending_for(names)
        # One MAC per record: tens of milliseconds for a large wallet, so off the loop.
        keys = await asyncio.to_thread(lambda: {n: self.wire_key(n) for n in names})
        known = await self.local.versions(keys.values())
        removed: list[str] = []
        again: dict[str, bytes] = {}
        for name, value in local_only:
            if name in pending:
                continue  # goes up with the next push
            if trust and known[keys[name]]:
                removed.append(name)  # synced before, gone now: another device deleted it
            else:
                again[name] = value
        await self.store.apply_synced({}, removed, expect={n: None for n in removed}, queue=again)
        return len(removed)

    async def _reset_view(
        self,
        server: dict[str, int],
        versions_at: tuple[int, int],
        life: Incarnation | None,
        view: _View,
    ) -> None:
        """The exact view of the server after a resync: versions, manifest, cursor, incarnation.

        `versions_at` is the store's generation and its manifest's version (0: none).
        """
        generation, manifest_version = versions_at
        old = [n for n, _ in await self.store.scan(VERSIONS_PREFIX)]
        # Two MACs per record: tens of milliseconds for a large wallet, so off the loop.
        versions, digest = await asyncio.to_thread(self._server_view, server)
        puts: dict[str, bytes] = {
            **versions,
            **bookkeeping_records(
                manifest=ManifestState(manifest_version, len(server), digest),
                generation=generation,
                protocol_current=True,
                synced_at=self._clock(),
            ),
        }
        deletes = [n for n in old if n not in versions] + list(LEGACY_NAMES)
        current = view.incarnation
        if life is not None:
            keep = current if current is not None and current.id == life.id else None
            puts.update(bookkeeping_records(incarnation=keep or life))
        elif current is not None and current.confirmed:
            # The store was erased and this device may start it again: the new life names the
            # one it follows, so the other devices can tell.
            fresh = Incarnation(new_incarnation(), current.id, view.generation, confirmed=False)
            puts.update(bookkeeping_records(incarnation=fresh))
        # else: no life yet, or one this device is about to start (it names the erased one)
        await self.store.apply_synced(puts, deletes, expect={})

    def _server_view(self, server: dict[str, int]) -> tuple[dict[str, bytes], int]:
        """The version records and the set digest of the listed objects."""
        versions: dict[str, bytes] = {}
        digest = 0
        for name, version in server.items():
            key = self.wire_key(name)
            kept_name, kept_version = version_record(key, version)
            versions[kept_name] = kept_version
            digest = (digest + payload.set_term(self._mac_key, key, version)) % _MOD
        return versions, digest

    async def clear_full_requirement(self, flag: bytes | None) -> bool:
        """Clear the full-backup flag if it is still the one `flag` was read as."""
        if flag is not None and await self.local.full_flag() == flag:
            await self.local.clear_full_flag()
            return True
        return False


@dataclass
class _SealWork:
    """What one batch is built from."""

    chosen: list[str]
    keys: dict[str, str]
    known: dict[str, int]
    pending: dict[str, Pending]
    values: dict[str, bytes]
    view: _View
    incarnation: Incarnation
    generation: int


@dataclass
class _Sealed:
    puts: list[PutItem]
    deletes: list[DeleteItem]
    bookkeeping: dict[str, bytes]
    forget: list[str]
    clock: hlc.ClockState
    digest: int
    objects: int


@dataclass
class _Changes:
    """What merging one page does to the local store, gathered for one transaction."""

    values: dict[str, bytes]
    result: _PageResult
    puts: dict[str, bytes] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    queue: dict[str, bytes] = field(default_factory=dict)
    acks: list[int] = field(default_factory=list)


def _settle(name: str, decision: Decision, seq: int | None, changes: _Changes) -> None:
    """Turn one merge decision into local writes (applied, queued, acknowledged)."""
    values, result = changes.values, changes.result
    if decision.settled and seq is not None:
        changes.acks.append(seq)
    if decision.queue is not None:
        changes.queue[name] = decision.queue
    elif decision.local is not KEEP:
        if decision.local is None:
            if name in values:
                changes.deletes.append(name)
        elif values.get(name) != decision.local:
            assert isinstance(decision.local, bytes)
            changes.puts[name] = decision.local
        result.applied += 1
    if decision.resave is not None:
        changes.queue[_resaved_name(name)] = decision.resave
    if decision.conflict:
        where = conflict_record_name(name)
        existing = changes.queue.get(where, values.get(where))
        record = ConflictRecord(name, ())
        if existing is not None:
            try:
                record = ConflictRecord.decode(existing)
            except (ValueError, KeyError, TypeError):
                record = ConflictRecord(name, ())
        changes.queue[where] = record.merged(*decision.conflict).encode()
        result.conflicts += 1


def _reconcile(changes: _Changes) -> None:
    """A conflict record both brought by the page and extended here: one merged, queued write."""
    for name in set(changes.queue) & set(changes.puts):
        brought = changes.puts.pop(name)
        try:
            ours = ConflictRecord.decode(changes.queue[name])
            changes.queue[name] = ours.merged(*ConflictRecord.decode(brought).candidates).encode()
        except (ValueError, KeyError, TypeError):
            changes.queue[name] = brought
    changes.deletes[:] = [n for n in changes.deletes if n not in changes.queue]


@dataclass(frozen=True)
class _Binding:
    """The write id and incarnation every envelope of one batch is bound to."""

    write_id: bytes
    incarnation: bytes

    def seal(self, data_key: bytes, store_id: str, key: str, version: int, body: bytes) -> bytes:
        return envelope.seal(
            data_key,
            store_id,
            key,
            version,
            body,
            write_id=self.write_id,
            incarnation=self.incarnation,
        )


class _SetChecker:
    """Counts the listed objects and sums their set-digest terms, to check against the manifest."""

    def __init__(self, mac_key: bytes) -> None:
        self._mac_key = mac_key
        self.count = 0
        self.digest = 0

    def add(self, key: str, version: int) -> None:
        self.count += 1
        self.digest += payload.set_term(self._mac_key, key, version)

    def matches(self, manifest: payload.Manifest) -> bool:
        return manifest.objects == self.count and manifest.digest == self.digest % _MOD


def _same(value: bytes | None, record: payload.Record) -> bool:
    return (value is None) if record.deleted else value == record.value


def _resaved_name(name: str) -> str:
    """A new name for a changeset another copy of this data dir also wrote under `name`."""
    suffix = os.urandom(4).hex()
    return f"{CHANGESET_PREFIX}resaved/{suffix}/{name.removeprefix(CHANGESET_PREFIX)}"
