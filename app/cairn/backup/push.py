"""The sync engine's push: the outbox as sealed batches under the generation precondition."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from cairn.backup import hlc
from cairn.backup.engine import (
    _MOD,
    MAX_PUSH_ROUNDS,
    PUSH_VIEW_NAMES,
    SEAL_ON_LOOP_BYTES,
    EngineCore,
    PushResult,
    _View,
    log,
)
from cairn.backup.errors import (
    BackupConflict,
    BackupError,
    BackupServerError,
    BackupTooLarge,
    BackupUnreachable,
)
from cairn.backup.localstate import (
    FULL_REQUIRED,
    IN_DOUBT,
    Incarnation,
    InDoubt,
    RoundSummary,
    bookkeeping_records,
    full_reason,
    read_summary,
    remember_sent,
    version_name,
    version_of,
    version_record,
)
from cairn.backup.push_batch import (
    BatchRead,
    Mark,
    PreparedBatch,
    SealedBatch,
    SealWork,
    discard_ahead,
)
from cairn.storage import RecordStore
from cairn.wire import envelope, payload
from cairn.wire.addressing import new_incarnation, new_write_id
from cairn.wire.messages import Batch, DeleteItem, PutItem


class Pushing(EngineCore):
    # -- push ---------------------------------------------------------------------------------

    async def push(
        self,
        on_sent: Callable[[PushResult], None] | None = None,
        *,
        until_empty: bool = True,
        summarize: bool = False,
        on_pending: Callable[[int], None] | None = None,
        filling: bool = False,
    ) -> PushResult:
        """Send every pending change, pulling and rebuilding whenever another device wrote first.

        `on_sent` hears about every batch the server accepted (a full backup's progress).
        `until_empty`: also what is written while it runs (a "Back up now"); without it, the
        push ends once it has sent what was pending when its last batch was read, and a later
        write's own notification brings the next round. While
        a full batch is with the server, the next one is read and sealed as if it will be
        accepted (sealing is most of a batch's client work); it is thrown away unsent if not.
        `summarize` (with `until_empty` False): a push that ends on a batch the server accepted
        reads the round's summary in the same trip as that batch's bookkeeping.
        `on_pending`: the first read also reads whether a full backup is required (then nothing
        is sent: `PushResult.full_required`) and hears how many changes are pending, if any.
        `filling`: the push of a full backup; its manifests name this device as still filling
        the store until `end_filling` (PROTOCOL.md 11.5).
        """
        mark = Mark.ADD if filling else Mark.KEEP
        total = PushResult()
        conflicts = 0
        checking = on_pending is not None
        ahead: asyncio.Future[PreparedBatch | None] | None = None
        try:
            while True:
                if ahead is not None:
                    prepared, ahead = await ahead, None
                else:
                    got = await self._read_next(None, checks=checking)
                    if checking and on_pending is not None:
                        checking = False
                        if got.full_required:
                            return PushResult(full_required=True)
                        if got.waiting:
                            on_pending(got.waiting)
                    prepared = await self._prepare(got, None, mark) if got.names else None
                if prepared is None:
                    return total
                last = summarize and not until_empty and not prepared.full
                sending = asyncio.ensure_future(self._send(prepared, summarize=last))
                if prepared.sealed is not None and prepared.full:
                    ahead = asyncio.ensure_future(self._prepare_next(prepared, mark))
                try:
                    sent = await sending
                except BackupConflict:
                    discard_ahead(ahead)
                    ahead = None
                    conflicts += 1
                    if conflicts > MAX_PUSH_ROUNDS:
                        raise BackupConflict(
                            "other devices keep writing to this backup; will retry"
                        ) from None
                    await self.pull()  # raises BackupErased if the store was erased elsewhere
                    total = PushResult(
                        total.records, total.bytes_sent, total.generation, pulled=True
                    )
                    if await self.local.full_required():
                        return total
                    continue
                except BackupTooLarge:
                    if not self._take_smaller_batches(prepared):
                        raise
                    discard_ahead(ahead)
                    ahead = None
                    continue
                total = PushResult(
                    total.records + sent.records,
                    total.bytes_sent + sent.bytes_sent,
                    sent.generation,
                    total.pulled,
                    sent.summary,
                )
                if on_sent is not None:
                    on_sent(total)
                if not until_empty and ahead is None and not prepared.full:
                    # It took every entry there was: a write since has woken the uploader.
                    return total
        finally:
            discard_ahead(ahead)

    def _take_smaller_batches(self, refused: PreparedBatch) -> bool:
        """A batch of several records was over the limits of the server or a proxy in front of
        it (413): from now on, send half as many at a time. False for a batch of one record,
        which no smaller batch can carry (the server's limits are not advertised: PROTOCOL.md 8).
        """
        sealed = refused.sealed
        records = 0 if sealed is None else len(sealed.puts) + len(sealed.deletes) - 1
        if records <= 1:
            return False
        self.max_items = records // 2
        log.info(
            "the backup server refused a batch of %d records as too large; sending %d at a time",
            records,
            self.max_items,
        )
        return True

    async def end_filling(self) -> bool:
        """This device's full backup has put everything up: send the manifest alone, without
        this device among those still filling the store. False if it was not among them.

        Another device's write first (409): pull, and try again on what it left.
        """
        for _ in range(MAX_PUSH_ROUNDS + 1):
            found = await self.store.get_many(PUSH_VIEW_NAMES)
            view = await self._view_of(found, with_older=False)
            if view.device.hex() not in view.manifest.filling:
                return False
            got = BatchRead([], {}, {}, found)
            try:
                await self._send(await self._prepare(got, None, Mark.REMOVE))
            except BackupConflict:
                await self.pull()
                continue
            log.info("full backup: the server's manifest no longer names this device as filling")
            return True
        raise BackupConflict("other devices keep writing to this backup; will retry")

    async def _prepare_next(self, after: PreparedBatch | None, mark: Mark) -> PreparedBatch | None:
        """The next batch from the outbox, sealed; None if nothing is pending.

        `after`: a batch still with the server. The next one follows it as if it is accepted:
        its view is the one that batch leaves, and its entries are the ones after it.
        """
        got = await self._read_next(after)
        return await self._prepare(got, after, mark) if got.names else None

    async def _read_next(self, after: PreparedBatch | None, *, checks: bool = False) -> BatchRead:
        """What the next batch is built from (no names: nothing is pending). `checks`: also
        the full-backup requirement and the number of pending changes."""
        skip = set() if after is None else set(after.seqs)
        limit, wire_key = self.max_items, self.wire_key

        def read(store: RecordStore) -> BatchRead:
            # One trip to the store's thread: the entries, the view, the entries' pending
            # state, values and server versions. Pending state before values: a write after
            # this read gets a new seq, which stays pending (read the other way round, an old
            # value could be sent and the new entry acknowledged).
            full, waiting = None, 0
            if checks:
                full = full_reason(store.get(FULL_REQUIRED))
                if full is not None:
                    return BatchRead([], {}, {}, {}, full)
                waiting = store.outbox_stats().count
            entries = store.outbox_pending(limit + len(skip))
            names = [e.name for e in entries if e.seq not in skip][:limit]
            if not names:
                return BatchRead([], {}, {}, {}, full, waiting)
            keys = {n: wire_key(n) for n in names}
            pending = store.pending_for(names)
            wanted = [*PUSH_VIEW_NAMES, *names, *(version_name(k) for k in keys.values())]
            return BatchRead(names, keys, pending, store.get_many(wanted), full, waiting)

        return await self.store.call(read)

    async def _prepare(
        self, got: BatchRead, after: PreparedBatch | None, mark: Mark
    ) -> PreparedBatch:
        names, all_keys, pending, found = got.names, got.keys, got.pending, got.found
        view = await self._view_of(found, with_older=False) if after is None else after.view_after()
        values = {n: found[n] for n in names if n in found}
        chosen: list[str] = []
        size = 0
        for name in names:
            value_size = len(values.get(name, b""))
            if chosen and size + value_size > self.max_bytes:
                break
            chosen.append(name)
            size += value_size
        seqs = [pending[n].seq for n in chosen if n in pending]
        keys = {n: all_keys[n] for n in chosen}
        known = {k: version_of(found.get(version_name(k))) for k in keys.values()}
        if after is not None:
            known.update(after.versions_after(keys.values()))
        incarnation = view.incarnation or await self._new_incarnation(view)
        generation = view.generation + 1
        spare, self._spare_write_id = self._spare_write_id, None  # used at most once
        # The spare is the newest id remembered, so among the recent ones (all a push reads).
        remembered = spare in view.sent.recent and incarnation == view.incarnation
        write_id = spare if remembered and spare is not None else new_write_id()
        binding = (bytes.fromhex(write_id), bytes.fromhex(incarnation.id))
        filling = mark.applied(view.manifest.filling, view.device.hex())
        work = SealWork(
            chosen, keys, known, pending, values, view, incarnation, generation, filling
        )
        if size > SEAL_ON_LOOP_BYTES:
            # Compressing and sealing megabytes takes tens of milliseconds: off the loop.
            sealed = await asyncio.to_thread(self._seal, work, binding)
        else:
            sealed = self._seal(work, binding)
        full = len(names) >= self.max_items or len(chosen) < len(names)
        return PreparedBatch(
            view, incarnation, generation, write_id, seqs, sealed, full, remembered
        )

    async def _send(self, prepared: PreparedBatch, *, summarize: bool = False) -> PushResult:
        """Send one prepared batch and record what the server accepted."""
        view, incarnation, generation = prepared.view, prepared.incarnation, prepared.generation
        sealed, seqs, write_id = prepared.sealed, prepared.seqs, prepared.write_id
        if sealed is None:
            await self.store.outbox_ack(seqs)
            return PushResult(generation=view.generation)
        puts, deletes, bookkeeping, forget = (
            sealed.puts,
            sealed.deletes,
            dict(sealed.bookkeeping),
            sealed.forget,
        )
        clock = sealed.clock
        batch = Batch(incarnation.id, view.generation, write_id, tuple(puts), tuple(deletes))
        # In doubt until its answer comes: if it never does (a kill, a lost connection), the
        # next pull asks the manifest whether it went in (PROTOCOL.md 11.3).
        doubt = InDoubt(write_id, generation, tuple(seqs))
        if not prepared.remembered:
            # Remembered before sending: if the answer is lost, the feed shows the write as
            # ours (and the store's new incarnation as the one this device started).
            new_life = incarnation if view.incarnation != incarnation else None

            def remember(store: RecordStore) -> None:
                store.batch(
                    {
                        **bookkeeping_records(incarnation=new_life, in_doubt=doubt),
                        **remember_sent(store, [write_id]),
                    }
                )

            await self.store.call(remember)
        try:
            result = await self.client.put_batch(batch)
        except (BackupUnreachable, BackupServerError):
            # No answer, or a proxy's 5xx after the server may have applied it: the next pull
            # asks the manifest whether this batch went in (PROTOCOL.md 11.3).
            await self.store.batch(bookkeeping_records(in_doubt=doubt))
            raise
        except BackupConflict:
            raise  # the pull that follows a 409 finds the store past the batch's generation
        except BackupError:
            # Refused (401, 413, 507...): not applied, and nothing for every pull to ask about.
            if not prepared.remembered:
                await self.store.batch(deletes=[IN_DOUBT])
            raise
        if result.generation != generation:
            raise BackupServerError("the server applied a batch at an unexpected generation")
        # The next batch's write id, remembered now with this one's bookkeeping: that batch
        # needs no local write before it goes out.
        spare = new_write_id()
        bookkeeping.update(
            bookkeeping_records(
                manifest=prepared.manifest_after(),
                generation=generation,
                incarnation=incarnation,
                clock=clock.encode(),
                protocol_current=True,
                synced_at=self._clock(),
            )
        )

        def record(store: RecordStore) -> RoundSummary | None:
            bookkeeping.update(remember_sent(store, [spare]))
            # A batch in doubt before this one is settled: this one carried what it still owed.
            store.apply_synced(bookkeeping, [*forget, IN_DOUBT], expect={}, ack=seqs)
            return read_summary(store) if summarize else None

        summary = await self.store.call(record)
        self._spare_write_id = spare
        if not incarnation.confirmed:
            await self.local.set_incarnation(incarnation.as_confirmed())
        sent_bytes = sum(len(p.value) for p in puts) + sum(len(d.value) for d in deletes)
        return PushResult(len(puts) + len(deletes) - 1, sent_bytes, generation, summary=summary)

    def _seal(self, work: SealWork, binding: tuple[bytes, bytes]) -> SealedBatch | None:
        """Seal one batch and compute the manifest it carries; None if nothing is to be sent."""
        with self._sealers.borrowed() as sealer:
            return self._seal_with(sealer, work, binding)

    def _seal_with(
        self, sealer: envelope.Sealer, work: SealWork, binding: tuple[bytes, bytes]
    ) -> SealedBatch | None:
        view, generation, incarnation = work.view, work.generation, work.incarnation
        clock = view.clock
        mirror = view.manifest
        digest, objects = mirror.digest, mirror.objects
        # Every envelope of one batch is bound to its write id and the store's incarnation.
        write_id, bound_to = binding
        seal = functools.partial(
            sealer.seal,
            self._store_id,
            write_id=write_id,
            incarnation=bound_to,
        )
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
                digest = (digest - self._set_term(key, old)) % _MOD
                objects -= 1
            body = payload.encode_record(
                name, view.device, value or b"", reading, deleted=value is None
            )
            blob = seal(key, generation, body)
            if value is None:
                deletes.append(DeleteItem(key, old, blob))
                forget.append(version_name(key))
            else:
                puts.append(PutItem(key, old, blob))
                digest = (digest + self._set_term(key, generation)) % _MOD
                objects += 1
                kept_name, kept_version = version_record(key, generation)
                bookkeeping[kept_name] = kept_version
        if not puts and not deletes and work.filling == mirror.filling:
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
                filling=work.filling,
                recent_writes=mirror.recent,
            )
        )
        blob = seal(self._manifest_key, generation, manifest_body)
        puts.append(PutItem(self._manifest_key, mirror.version, blob))
        return SealedBatch(
            puts, deletes, bookkeeping, forget, clock, digest, objects, work.filling, mirror.recent
        )

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
