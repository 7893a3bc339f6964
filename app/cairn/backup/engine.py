"""The sync engine's shared core: this device's view of the server, opening what the server
holds, and the notices a sync raises (the engine as a whole: sync.py)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cairn.backup import hlc
from cairn.backup.client import RemoteBackupClient
from cairn.backup.errors import (
    BackupCorrupt,
    BackupNotFound,
)
from cairn.backup.localstate import (
    CLOCK,
    IN_DOUBT,
    INCARNATION,
    LAST_GENERATION,
    MANIFEST,
    PROTOCOL,
    SENT,
    SENT_RECENT,
    AsyncStore,
    Incarnation,
    InDoubt,
    LocalBackupState,
    ManifestState,
    Notice,
    RoundSummary,
    SentIds,
    read_sent,
)
from cairn.keys import BackupKeys
from cairn.storage import is_local
from cairn.storage.device import DEVICE_ID_BYTES, DEVICE_RECORD
from cairn.wire import envelope, payload
from cairn.wire.addressing import WireKeys
from cairn.wire.messages import StoreState

# One logger for the whole engine, whichever part of it writes.
log = logging.getLogger("cairn.backup.sync")

MAX_PUSH_ROUNDS = 8  # rounds of pull → rebuild → resend before giving up for now
MAX_APPLY_ATTEMPTS = 8  # the user keeps writing the records a pull is merging
# Records per batch: a server takes 1000 items by default and the manifest is one of them. Fewer
# batches mean fewer requests and durable commits (a full backup of 100,000 records took about
# an eighth less time than with 500). A server or proxy that takes fewer answers 413, and the
# batches halve (push.py).
MAX_BATCH_ITEMS = 999
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Batches larger than this are sealed on a worker thread (about a millisecond of work here).
SEAL_ON_LOOP_BYTES = 64 * 1024
_MOD = 1 << 256
# The records this device's view of the server is made of (EngineCore._view); a push reads all
# but the older sent write ids (SentIds says why) and the batch in doubt (only a pull settles it).
PUSH_VIEW_NAMES = (
    LAST_GENERATION,
    INCARNATION,
    MANIFEST,
    CLOCK,
    SENT_RECENT,
    PROTOCOL,
    DEVICE_RECORD,
)
VIEW_NAMES = (*PUSH_VIEW_NAMES, SENT, IN_DOUBT)


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
    pulled: bool = False  # another device wrote first: the push pulled and merged
    # The store's round summary as the push's last batch left it (push(summarize=True)).
    summary: RoundSummary | None = None
    full_required: bool = False  # a full backup is required: nothing was sent (push(on_pending))


@dataclass
class _View:
    """This device's knowledge of the server, loaded at the start of a step."""

    generation: int
    incarnation: Incarnation | None
    manifest: ManifestState
    clock: hlc.ClockState
    device: bytes
    sent: SentIds
    current_protocol: bool
    in_doubt: InDoubt | None = None  # read by a pull's view only


@dataclass
class _Opened:
    key: str
    version: int
    write_id: str | None
    record: payload.Record


class EngineCore:
    """The state and the helpers every part of the engine shares."""

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
        self._sealers = envelope.SealerPool(keys.data_key)
        self._name_key = keys.key_name_key
        self._mac_key = payload.manifest_key(keys.key_name_key)
        # Keyed once: a full backup or a resync computes these for every record.
        self._set_term = payload.SetTerms(self._mac_key)
        self._wire_key = WireKeys(keys.key_name_key)
        self._manifest_key = payload.manifest_wire_key(keys.key_name_key)
        self._store_id = client.store_id
        self._on_notice = on_notice
        self._clock = clock
        self.max_items = max_items
        self.max_bytes = max_bytes
        # A write id already remembered among the sent ones (with the last accepted batch's
        # bookkeeping) and not used since, in this process: the next batch can go without
        # writing its id first. Never carried over a restart: after a crash nobody knows
        # whether it went out.
        self._spare_write_id: str | None = None

    def wire_key(self, name: str) -> str:
        return self._wire_key(name)

    # -- state --------------------------------------------------------------------------------

    async def _view(self) -> _View:
        return await self._view_of(await self.store.get_many(VIEW_NAMES), with_older=True)

    async def _view_of(self, found: dict[str, bytes], *, with_older: bool) -> _View:
        """The view from its records as read (`VIEW_NAMES`, or `PUSH_VIEW_NAMES` without
        `with_older`, among others)."""
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
            sent=read_sent(found, with_older=with_older),
            current_protocol=found.get(PROTOCOL) == b"2",
            in_doubt=InDoubt.decode(found.get(IN_DOUBT)),
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

    # -- a batch whose answer never came ------------------------------------------------------

    async def _settle_in_doubt(self, view: _View) -> None:
        """Before merging anything: did the batch in doubt go in? Ask the manifest.

        If the server's manifest was written by that batch or names it among its recent
        writes, the entries it carried are acknowledged now, so that what other devices wrote
        on top of them since is applied as a later change, not kept as a conflict. If the
        manifest speaks of the generation the batch would have made and names another write,
        the batch was not applied: its entries go up again as they are. Anything else (no
        manifest, another life, an error) leaves the doubt for the feed (its items with the
        batch's write id) and the next accepted batch (which carries the entries again).
        """
        doubt = view.in_doubt
        if doubt is None or view.incarnation is None:
            return
        try:
            obj = await self.client.get_object(self._manifest_key)
            content = self._open(obj.key, obj.version, obj.write_id, obj.value, view.incarnation.id)
        except (BackupNotFound, BackupCorrupt):
            return
        if not isinstance(content, payload.Manifest):
            return
        applied = doubt.settled_by(obj.version, obj.write_id, content.recent_writes)
        if applied is None:
            return
        acks = doubt.seqs if applied else ()
        await self.store.apply_synced({}, [IN_DOUBT], expect={}, ack=acks)
        if applied:
            log.info("a batch whose answer was lost had been applied: %d changes", len(acks))

    # -- what one part of the engine asks of another ------------------------------------------

    async def pull(self) -> int:
        raise NotImplementedError

    async def _store_is_ours(self, state: StoreState, view: _View) -> bool:
        raise NotImplementedError
