"""The sync engine's pull: the change feed from the cursor, verified, merged page by page."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cairn.backup import hlc
from cairn.backup.changes import _Changes, _PageResult, _reconcile, _same, _settle
from cairn.backup.engine import _MOD, MAX_APPLY_ATTEMPTS, EngineCore, _Opened, _View, log
from cairn.backup.errors import (
    BackupCorrupt,
    BackupErased,
    BackupError,
    BackupNotFound,
    ResyncRequired,
)
from cairn.backup.localstate import (
    ManifestState,
    bookkeeping_records,
    version_name,
    version_record,
)
from cairn.backup.merge import (
    Side,
    conflict_record_name,
    decide,
)
from cairn.storage import PendingChanged
from cairn.storage.device import DEVICE_ID_BYTES, DEVICE_RECORD
from cairn.wire import payload
from cairn.wire.messages import StoreState


class Pulling(EngineCore):
    # -- pull ---------------------------------------------------------------------------------

    async def pull(self) -> int:
        """Apply every change other devices made since the cursor; the records changed here."""
        view = await self._view()
        await self._settle_in_doubt(view)
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
            manifest_write: str | None = None
            for item in page.items:
                if not since < item.version <= final.generation:
                    await self.rollback("the change feed returned an object out of order")
                    return applied
                content = self._open(item.key, item.version, item.write_id, item.value, incarnation)
                if isinstance(content, payload.Manifest):
                    manifest, manifest_write = (item.version, content), item.write_id
                    continue
                if content.deleted != item.deleted:
                    raise BackupCorrupt("a tombstone and its payload disagree")
                opened.append(_Opened(item.key, item.version, item.write_id, content))
            cursor = page.next if page.next is not None else final.generation
            result = await self._apply(opened, view, cursor, manifest, manifest_write)
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
        manifest_write: str | None = None,
    ) -> _PageResult:
        """Merge one page into the local store in one transaction, with the new cursor.

        `manifest`: the page's manifest and its version; `manifest_write`: the write id of the
        batch that wrote it."""
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
                    digest = (digest - self._set_term(item.key, old)) % _MOD
                    objects -= 1
                if record.deleted:
                    deletes.append(version_name(item.key))
                else:
                    digest = (digest + self._set_term(item.key, item.version)) % _MOD
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
                    reading = hlc.pending_reading(entry.at_ms, view.device)
                    local_side = Side(values.get(record.name), reading)
                remote = Side(None if record.deleted else record.value, record.clock)
                decision = decide(record.name, local_side, remote)
                _settle(record.name, decision, entry.seq if entry else None, changes)
            result.clock = clock
            if manifest is not None:
                version, content = manifest
                recent = payload.following(manifest_write, content.recent_writes)
                new_mirror = ManifestState(version, objects, digest, content.filling, recent)
            else:
                new_mirror = ManifestState(
                    mirror.version, objects, digest, mirror.filling, mirror.recent
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
