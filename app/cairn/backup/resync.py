"""The sync engine's resync: compare everything with the server's export and merge."""

from __future__ import annotations

import asyncio
import dataclasses

from cairn.backup import hlc
from cairn.backup.changes import _Changes, _PageResult, _reconcile, _same, _settle
from cairn.backup.engine import _MOD, MAX_APPLY_ATTEMPTS, EngineCore, _Opened, _View
from cairn.backup.errors import (
    BackupCorrupt,
    BackupError,
    BackupNotFound,
)
from cairn.backup.localstate import (
    LEGACY_NAMES,
    VERSIONS_PREFIX,
    Incarnation,
    ManifestState,
    bookkeeping_records,
    version_record,
)
from cairn.backup.merge import (
    REVEALED_PREFIX,
    Side,
    conflict_record_name,
    decide,
)
from cairn.storage import PendingChanged
from cairn.wire import payload
from cairn.wire.addressing import new_incarnation


class Resyncing(EngineCore):
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
        await self._settle_in_doubt(view)
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
        manifest_write: str | None = None
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
                            manifest_write = obj.write_id
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
        filling = manifest.filling if manifest is not None else ()
        recent = payload.following(manifest_write, manifest.recent_writes) if manifest else ()
        if set(filling) - {view.device.hex()}:
            # Another device is still filling this life: what it lacks may yet come, and a
            # record it never uploads must not be lost here. Kept and uploaded, not deleted.
            trust = False
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
        listed = ManifestState(manifest_version, len(server), 0, filling, recent)
        await self._reset_view(server, listed, (generation, life), view)
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
                    reading = hlc.pending_reading(entry.at_ms, view.device)
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
                    queued_at=hlc.COPY_AT_MS,  # copies and merges: neither is a new edit
                )
            except PendingChanged:
                continue
            return result.applied
        raise BackupError("the records being synced keep changing; will try again")

    async def _queue_local_only(self, server: dict[str, int], trust: bool) -> int:
        """Records the server does not hold: deleted elsewhere (trust), or to be uploaded.

        Queued with the value read here, only if nothing wrote them since (PendingChanged:
        read again), so a change made meanwhile is never overwritten by what was read.
        """
        for _ in range(MAX_APPLY_ATTEMPTS):
            snapshot = await self.store.snapshot()
            local_only = [(n, v) for n, v in snapshot.records if n not in server]
            if not local_only:
                return 0
            names = [n for n, _ in local_only]
            pending = await self.store.pending_for(names)
            # One MAC per record: tens of milliseconds for a large wallet, so off the loop.
            keys = await asyncio.to_thread(self._wire_keys, names)
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
            expect: dict[str, int | None] = {n: None for n in [*removed, *again]}
            try:
                await self.store.apply_synced(
                    {},
                    removed,
                    expect=expect,
                    queue=_most_needed_first(again),
                    queued_at=hlc.COPY_AT_MS,
                )
            except PendingChanged:
                continue
            return len(removed)
        raise BackupError("the records being synced keep changing; will try again")

    def _wire_keys(self, names: list[str]) -> dict[str, str]:
        return {n: self.wire_key(n) for n in names}

    async def _reset_view(
        self,
        server: dict[str, int],
        listed: ManifestState,
        at: tuple[int, Incarnation | None],
        view: _View,
    ) -> None:
        """The exact view of the server after a resync: versions, manifest, cursor, incarnation.

        `listed` is the manifest as the export gave it (its version, 0: none; the devices it
        names as filling the store, its recent writes; the digest is computed here), `at` the
        store's generation and the life it is in.
        """
        generation, life = at
        old = [n for n, _ in await self.store.scan(VERSIONS_PREFIX)]
        # Two MACs per record: tens of milliseconds for a large wallet, so off the loop.
        versions, digest = await asyncio.to_thread(self._server_view, server)
        puts: dict[str, bytes] = {
            **versions,
            **bookkeeping_records(
                manifest=dataclasses.replace(listed, digest=digest),
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
            digest = (digest + self._set_term(key, version)) % _MOD
        return versions, digest

    async def clear_full_requirement(self, flag: bytes | None) -> bool:
        """Clear the full-backup flag if it is still the one `flag` was read as."""
        if flag is not None and await self.local.full_flag() == flag:
            await self.local.clear_full_flag()
            return True
        return False


class _SetChecker:
    """Counts the listed objects and sums their set-digest terms, to check against the manifest."""

    def __init__(self, mac_key: bytes) -> None:
        self._set_term = payload.SetTerms(mac_key)
        self.count = 0
        self.digest = 0

    def add(self, key: str, version: int) -> None:
        self.count += 1
        self.digest += self._set_term(key, version)

    def matches(self, manifest: payload.Manifest) -> bool:
        return manifest.objects == self.count and manifest.digest == self.digest % _MOD


# Queued (and so uploaded) before everything else: a full backup that is cut off and then
# restored anyway still knows every address handed out, and hands none out again.
FIRST_UP = (REVEALED_PREFIX,)


def _most_needed_first(queue: dict[str, bytes]) -> dict[str, bytes]:
    first = {n: v for n, v in queue.items() if n.startswith(FIRST_UP)}
    return {**first, **{n: v for n, v in queue.items() if n not in first}}
