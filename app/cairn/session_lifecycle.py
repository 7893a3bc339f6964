"""A session's open wallet, from opening to closing: where it lives, its record store, the wallet
on it and the backup engine. A part of `Session` (cairn.session), which adds what the wizard and
the main window ask of it.

Opening a wallet imports BDK, the wallet and the backup engine (`load_wallet_modules`); the app
shows its main window before that, so none of them is imported at module level here.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.backup.status import BackupState, BackupStatus
from cairn.config import AppConfig, wallet_dir
from cairn.events import EventBus
from cairn.files import make_private_dir
from cairn.keys import derive_backup_keys, mnemonic_to_seed
from cairn.seedfile import load_seed, seed_exists
from cairn.session_backups import SessionBackups
from cairn.storage import AsyncRecordStore, SqliteStore, device_id
from cairn.usererrors import SessionError

if TYPE_CHECKING:
    from cairn.backup.service import BackupService
    from cairn.wallet import CairnWallet

log = logging.getLogger("cairn.session")  # the session's one logger, as before the split

RECORDS_NAME = "records.sqlite"
# What opening a wallet needs beyond the first frame: BDK and the wallet (about 28 MiB), the
# backup engine and its HTTP client. The main window shows before they are imported.
WALLET_MODULES = ("cairn.wallet.core", "cairn.backup.service", "cairn.wallet_restore")


def _import_wallet_modules() -> None:
    for name in WALLET_MODULES:
        importlib.import_module(name)


async def load_wallet_modules() -> None:
    """Import what opening a wallet needs, in a worker thread: a tenth of a second or more of
    work during which the window keeps drawing. Quick once they are loaded."""
    if not all(name in sys.modules for name in WALLET_MODULES):
        await asyncio.to_thread(_import_wallet_modules)


class SessionLifecycle(SessionBackups):
    """The wallet of `config.network` under `data_dir`: opened, started and closed."""

    def __init__(self, data_dir: Path, config: AppConfig, *, backup_timeout: float = 15.0) -> None:
        self.data_dir = Path(data_dir)
        self.config = config
        self.bus = EventBus()
        self._backup_timeout = backup_timeout
        self._store: SqliteStore | None = None
        self._async_store: AsyncRecordStore | None = None
        self._wallet: CairnWallet | None = None
        self._service: BackupService | None = None
        self._detach_service: Callable[[], None] | None = None
        self._status = BackupStatus(config.backup_server_url or "")
        self._started = False
        self._reloads: set[asyncio.Task[None]] = set()

    # --- where things are ------------------------------------------------------------------------

    @property
    def network(self) -> str:
        return self.config.network.value

    @property
    def wallet_dir(self) -> Path:
        return wallet_dir(self.data_dir, self.config.network)

    @property
    def records_path(self) -> Path:
        return self.wallet_dir / RECORDS_NAME

    @property
    def has_wallet(self) -> bool:
        return seed_exists(self.wallet_dir)

    @property
    def backup_server_url(self) -> str | None:
        return self.config.backup_server_url

    # --- life cycle ------------------------------------------------------------------------------

    async def open_existing(self) -> None:
        """Open the wallet whose seed is on disk (no-op when it is already open)."""
        if self._wallet is None:
            phrase, passphrase = await asyncio.to_thread(load_seed, self.wallet_dir)
            await self._open_wallet(phrase, passphrase)

    async def start(self) -> None:
        """Start background uploads (the main window is about to show)."""
        await self.open_existing()
        if self._service is not None and not self._started:
            self._service.uploader.start()
            self._started = True

    async def close(self) -> None:
        """Stop the backup engine, let the wallet save (after any sync), then close the store."""
        await self._close_wallet()
        if self._async_store is not None:
            await self._async_store.aclose()
            self._async_store = None
            self._store = None

    async def _open_store(self) -> SqliteStore:
        if self._store is None:
            make_private_dir(self.wallet_dir)
            self._store = await asyncio.to_thread(SqliteStore, self.records_path)
            # The device id exists before the wallet or the backup engine writes anything.
            await asyncio.to_thread(device_id, self._store)
            self._async_store = AsyncRecordStore(self._store)
        return self._store

    async def _open_wallet(
        self, phrase: str, passphrase: str = "", *, seed: bytes | None = None
    ) -> None:
        if self._wallet is not None:
            return
        esplora = self.config.chain_url
        if esplora is None:
            raise SessionError(
                f"No chain server is set for {self.network}. Set esplora_url in "
                f"{self.data_dir / 'config.json'}, or run `cairn demo`."
            )
        await load_wallet_modules()
        from cairn.wallet import CairnWallet

        if seed is None:
            seed = await asyncio.to_thread(mnemonic_to_seed, phrase, passphrase)
        store = await self._open_store()
        self._wallet = await CairnWallet.open_async(
            store, seed, self.config.network, esplora_url=esplora, bus=self.bus
        )
        await self._build_backup(seed)

    async def _build_backup(self, seed: bytes) -> None:
        url = self.backup_server_url
        if not url:
            self._status.update(
                state=BackupState.ERROR, last_error="No backup server is set (see Settings)."
            )
            return
        await load_wallet_modules()
        from cairn import httpclient
        from cairn.backup.roundlock import RoundLock
        from cairn.backup.service import BackupService
        from cairn.wallet.errors import RecordsNotOfThisSeed
        from cairn.wallet.persistence import records_of_another_seed

        store = self._require_async_store()
        # The seed is read again when the server changes: a seed file swapped meanwhile must
        # not back one wallet's records up into another seed's backup.
        problem = await asyncio.to_thread(
            records_of_another_seed, store.store, seed, self.config.network
        )
        if problem is not None:
            raise RecordsNotOfThisSeed(f"{self.records_path}: {problem}")
        keys = await asyncio.to_thread(derive_backup_keys, seed)
        await httpclient.prepare()
        service = BackupService(
            store,
            keys,
            self.network,
            url,
            timeout=self._backup_timeout,
            on_remote_changes=self._remote_changes_applied,
            invite=self.config.backup_invite,
            round_lock=RoundLock.beside(self.records_path),
        )
        await service.prepare()
        # Wallet events → uploader.notify(event.urgent): urgent ones flush at once.
        self._detach_service = service.attach(self.bus)
        self._service = service
        self._status = service.status
        if self._wallet is not None:
            self._wallet.set_address_reserver(functools.partial(_reserve_with, service))

    async def _stop_backup(self) -> None:
        """Detach the backup engine from the wallet's events and stop it (nothing is lost: what
        it had not sent stays in the outbox)."""
        if self._detach_service is not None:
            self._detach_service()
            self._detach_service = None
        if self._service is not None:
            await self._service.stop()
            self._service = None
        self._started = False

    async def _close_wallet(self) -> None:
        for task in list(self._reloads):
            task.cancel()
        await self._stop_backup()
        if self._wallet is not None:
            self._wallet.set_address_reserver(None)
            # A chain sync still running in a worker thread saves the wallet when it ends:
            # wait for it, or it would write to a store closed under it.
            await self._wallet.aclose()
            self._wallet = None

    def require_wallet(self) -> CairnWallet:
        if self._wallet is None:
            raise RuntimeError("the wallet is not open")
        return self._wallet


async def _reserve_with(service: BackupService) -> None:
    """An address reservation: one round the wallet waits on; a round that met other devices'
    writes is told as such, so the wallet tries it again rather than give up on it."""
    from cairn.backup.errors import BackupConflict
    from cairn.wallet.receiving import ReservationBusy

    try:
        await service.sync_now()
    except BackupConflict as exc:
        raise ReservationBusy(str(exc)) from exc
