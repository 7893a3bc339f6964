"""One open data dir and network: the wallet, its record store, the backup engine, the event bus.

No Qt here. The wizard's loading screen calls `create_wallet`, `run_initial_backup`, `restore`
and `run_full_backup`; the main window uses the rest. Every blocking call (SQLite, the seed
file, BDK) runs in a worker thread, so the event loop never stalls. Opening, starting and
closing the wallet are the part in `cairn.session_lifecycle`, the backup actions the part in
`cairn.session_backups`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.backup.localstate import full_backup_reason
from cairn.backup.staging import discard_staging, staging_path
from cairn.backup.status import BackupStatus
from cairn.config import AppConfig, load_config, save_config, wallet_dir
from cairn.events import Event
from cairn.files import make_private_dir
from cairn.invitecode import invite_problem, normalise_invite
from cairn.keys import Network, mnemonic_to_seed, validate_mnemonic
from cairn.new_wallet_files import NewWalletFiles
from cairn.onboarding import WalletPresence
from cairn.seedfile import keyring_available, load_seed, save_seed, seed_exists, seed_protection
from cairn.serverurl import normalise_server_url, server_url_problem
from cairn.session_backups import BackupProgressCallback, _ignore
from cairn.session_lifecycle import SessionLifecycle, load_wallet_modules
from cairn.upgrade import (
    CURRENT_FORMAT,
    UnknownFormatError,
    UpgradeError,
    upgrade_data_dir,
    write_format,
)
from cairn.usererrors import SessionError
from cairn.wallet.preferences import EMAIL_PREFERENCE
from cairn.walletlock import WalletBusy, WalletExists, WalletLock, take_for_making

if TYPE_CHECKING:
    from cairn.backup.restore import ProgressCallback as RestoreProgressCallback
    from cairn.backup.restore import RestoreJob, RestoreProgress, RestoreResult
    from cairn.wallet import CairnWallet

__all__ = ["Session", "SessionError"]

log = logging.getLogger(__name__)


class Session(SessionLifecycle):
    """The wallet of `config.network` under `data_dir`, and its backups."""

    def __init__(self, data_dir: Path, config: AppConfig, *, backup_timeout: float = 15.0) -> None:
        super().__init__(data_dir, config, backup_timeout=backup_timeout)

    @classmethod
    async def open(cls, data_dir: Path, **kwargs: float) -> Session:
        """Bring the data dir to the current format, then read its settings."""
        data_dir = Path(data_dir)
        try:
            # A wallet from before backups is migrated here; it then owes a full backup,
            # which presence() reports so the wizard runs it before the main window.
            await asyncio.to_thread(upgrade_data_dir, data_dir)
        except (UpgradeError, UnknownFormatError) as exc:
            raise SessionError(f"The wallet in {data_dir} could not be opened: {exc}") from exc
        config = await asyncio.to_thread(load_config, data_dir)
        session = cls(data_dir, config, **kwargs)
        # What a restore interrupted by a crash left behind is never a wallet.
        await asyncio.to_thread(_discard_staging_unless_restoring, session.records_path)
        return session

    def set_backup_server(self, url: str) -> None:
        """Remember `url` in config.json (a running engine is switched by change_backup_server).

        The address gets the wizard's and Settings' check (cairn.serverurl): SessionError if
        it is refused. An empty one forgets the server.
        """
        if url.strip():
            problem = server_url_problem(url)
            if problem is not None:
                raise SessionError(problem)
        self.config = self.config.with_changes(backup_server_url=normalise_server_url(url) or None)
        save_config(self.data_dir, self.config)
        if self._service is None:
            self._status.update(server_url=self.config.backup_server_url or "")

    @property
    def backup_invite(self) -> str | None:
        """The invite code kept for the backup server, if any."""
        return self.config.backup_invite

    def set_backup_invite(self, code: str) -> None:
        """Remember the invite code for a server that takes new wallets by invite only.

        The code gets the wizard's and Settings' check (cairn.invitecode): SessionError if it is
        refused. An empty one forgets it. A running engine sends it with the batch that
        creates this wallet's backup; once that exists, the server needs it no more.
        """
        problem = invite_problem(code)
        if problem is not None:
            raise SessionError(problem)
        self.config = self.config.with_changes(backup_invite=normalise_invite(code) or None)
        save_config(self.data_dir, self.config)
        if self._service is not None:
            self._service.client.use_invite(self.config.backup_invite)

    async def use_backup_server(self, url: str, invite: str = "") -> None:
        """The wizard's server choice and the invite code given with it, if any: remembered,
        and the engine switched if it is running."""
        self.set_backup_invite(invite)
        if self._service is not None or self._wallet is not None:
            await self.change_backup_server(url)
        else:
            self.set_backup_server(url)

    async def use_network(self, network: Network) -> None:
        """The wizard's network choice, made before any wallet is open: kept in config.json."""
        if network is self.config.network:
            return
        if self._wallet is not None:
            raise RuntimeError("the network cannot change under an open wallet")
        if await asyncio.to_thread(seed_exists, wallet_dir(self.data_dir, network)):
            raise SessionError(
                f"There is already a {network.value} wallet in {self.data_dir}. Start Cairn "
                f"again with the network set to {network.value} to open it, or choose another "
                "network."
            )
        await self.close()
        # A chain server set for the old network (the demo's devnet, say) serves another chain:
        # the new network starts from its own default.
        self.config = self.config.with_changes(network=network, esplora_url=None, devnet_url=None)
        await asyncio.to_thread(save_config, self.data_dir, self.config)
        log.info("network chosen in the wizard: %s", network.value)

    async def presence(self) -> WalletPresence:
        """What the start screen should be: none, an existing wallet, or one owing a full backup."""
        if not await asyncio.to_thread(seed_exists, self.wallet_dir):
            return WalletPresence.NONE
        store = await self._open_store()
        reason = await asyncio.to_thread(full_backup_reason, store)
        return WalletPresence.READY if reason is None else WalletPresence.NEEDS_FULL_BACKUP

    # --- the wizard's loading screen -------------------------------------------------------------

    async def create_wallet(
        self,
        words: Sequence[str],
        *,
        email: str | None = None,
        passphrase: str = "",
        save_settings: bool = False,
    ) -> None:
        """A new wallet from `words` and an optional BIP39 `passphrase` (or, by the user's
        choice, a restore without backup); `save_settings`: config.json is written with it.

        A wallet that could not be created (a full disk, say) leaves nothing behind: the
        files and folders it made are removed, whatever was there before stays as it was.
        WalletExists if one is there already, WalletBusy if another Cairn program is creating
        or restoring it right now (cairn.walletlock): either way nothing is changed.
        """
        phrase = validate_mnemonic(" ".join(words))
        if self.config.chain_url is None:
            raise SessionError(
                f"No chain server is set for {self.network}. Set esplora_url in "
                f"{self.data_dir / 'config.json'}, or run `cairn demo`."
            )
        lock = await take_for_making(self.wallet_dir)
        try:
            await self._create_locked(phrase, passphrase, save_settings)
        finally:
            await asyncio.to_thread(lock.release)
        if email:
            await self.require_wallet().set_preference(EMAIL_PREFERENCE, email)

    async def _create_locked(self, phrase: str, passphrase: str, save_settings: bool) -> None:
        """`create_wallet` while it holds the wallet's lock: no other program creates or
        restores this wallet meanwhile, so what it removes after a failure is its own."""
        if await asyncio.to_thread(seed_exists, self.wallet_dir):
            raise WalletExists(
                f"A {self.network} wallet already exists in {self.data_dir}; nothing was changed."
            )
        made = NewWalletFiles.before(self.wallet_dir, self.records_path)
        try:
            make_private_dir(self.wallet_dir)
            await asyncio.to_thread(save_seed, self.wallet_dir, phrase, passphrase)
            await self._open_wallet(phrase, passphrase)
            await asyncio.to_thread(write_format, self.wallet_dir, CURRENT_FORMAT)
            if save_settings:
                # Without its settings the app would not find the new wallet: one step.
                await asyncio.to_thread(save_config, self.data_dir, self.config)
        except BaseException:
            await self.close()
            await asyncio.to_thread(made.remove)
            raise

    async def restore(
        self,
        words: Sequence[str],
        progress: RestoreProgressCallback = _ignore,
        *,
        passphrase: str = "",
        accept_incomplete: bool = False,
    ) -> RestoreResult:
        """Restore the wallet from the backup server (`cairn.wallet_restore`); it opens only if
        that worked. `progress` gets the engine's own reports, byte counts included.
        `accept_incomplete`: the user chose to restore a backup a device has not finished.

        The backup's keys come from the words and the passphrase together, as the wallet's do:
        another passphrase finds no backup, never someone else's.
        """
        phrase = validate_mnemonic(" ".join(words))
        # The restore replaces records.sqlite: nothing may hold the old file open.
        await self.close()
        await load_wallet_modules()
        from cairn.wallet_restore import NoBackupServer, restore_wallet

        try:
            done = await restore_wallet(
                self.data_dir,
                self.config,
                phrase,
                passphrase,
                progress=progress,
                accept_incomplete=accept_incomplete,
                run=self._restore_off_loop,
            )
        except (NoBackupServer, WalletExists) as exc:
            raise SessionError(str(exc)) from exc
        log.info(
            "restore finished: %s (%d records)", done.result.outcome.value, done.result.records
        )
        self.config = done.config
        if done.restored:
            # The seed the restore stretched opens the wallet: the words are stretched once.
            await self._open_wallet(phrase, passphrase, seed=done.seed)
        return done.result

    async def _restore_off_loop(
        self, job: RestoreJob, progress: RestoreProgressCallback
    ) -> RestoreResult:
        """Run the restore in a child process, its progress forwarded to this loop in order.

        Decrypting and checking tens of thousands of records is CPU work; in this process it
        would take Python's GIL from the window for noticeable moments (see restore_worker).
        """
        from cairn.backup.restore_worker import RestoreChild  # loaded by restore() already

        window_loop = asyncio.get_running_loop()
        child = RestoreChild()

        def forward(p: RestoreProgress) -> None:
            window_loop.call_soon_threadsafe(progress, p)

        try:
            return await asyncio.to_thread(
                child.run,
                job,
                timeout=self._backup_timeout,
                progress=forward,
            )
        except asyncio.CancelledError:
            child.cancel()
            raise

    async def run_full_backup(self, progress: BackupProgressCallback = _ignore) -> None:
        """Upload every record again (upgrade, server change); returns when the server has all.

        `progress` gets the engine's own reports (nothing known yet while `total` is 0)."""
        await self.open_existing()
        from cairn.backup.fullbackup import FullBackupProgress  # loaded with the engine

        service = self._require_service()
        progress(FullBackupProgress(0, 0, 0))
        service.set_progress(progress)
        try:
            await self._backup_now(service)
        finally:
            service.set_progress(None)

    # --- what the main window uses ---------------------------------------------------------------

    @property
    def wallet_is_open(self) -> bool:
        return self._wallet is not None

    @property
    def wallet(self) -> CairnWallet:
        return self.require_wallet()

    @property
    def backup_status(self) -> BackupStatus:
        return self._status

    @property
    def email(self) -> str | None:
        return self.require_wallet().preference(EMAIL_PREFERENCE)

    def subscribe_events(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(callback)

    async def change_backup_server(self, url: str) -> None:
        """Switch servers: the engine sees the new URL and uploads everything there."""
        self.set_backup_server(url)
        was_started = self._started
        await self._stop_backup()
        phrase, passphrase = await asyncio.to_thread(load_seed, self.wallet_dir)
        seed = await asyncio.to_thread(mnemonic_to_seed, phrase, passphrase)
        await self._build_backup(seed)
        if was_started and self._service is not None:
            self._service.uploader.start()
            self._started = True

    async def set_email(self, email: str | None) -> None:
        await self.require_wallet().set_preference(EMAIL_PREFERENCE, email or None)

    def seed_words(self) -> list[str]:
        phrase, _ = load_seed(self.wallet_dir)
        return phrase.split()

    async def protect_seed(self) -> bool:
        """Encrypt a plain seed file under a new key in the system keyring, if one works now.

        True when the seed file is protected afterwards; a plain file stays as it was otherwise.
        """

        def protect() -> bool:
            if not keyring_available():
                return False
            phrase, passphrase = load_seed(self.wallet_dir)
            return save_seed(self.wallet_dir, phrase, passphrase) == "keyring"

        return await asyncio.to_thread(protect)

    @property
    def has_passphrase(self) -> bool:
        """Whether the wallet's seed is extended with a BIP39 passphrase (never the passphrase)."""
        return bool(load_seed(self.wallet_dir)[1])

    @property
    def seed_is_plain(self) -> bool:
        """Whether the seed file is unencrypted (no usable system keyring): the app warns."""
        return seed_exists(self.wallet_dir) and seed_protection(self.wallet_dir) == "plain"

    @property
    def explorer_template(self) -> str | None:
        """This network's block explorer URL template ({txid}), or None (regtest by default)."""
        return self.config.explorer_template

    @property
    def can_use_faucet(self) -> bool:
        return self.config.network is Network.REGTEST and bool(self.config.devnet_url)

    async def faucet(self, address: str, amount: int) -> str:
        """Ask the devnet for `amount` sats to `address`, mined at once; the txid."""
        if not self.can_use_faucet:
            raise SessionError("The faucet exists only on the local devnet.")
        await load_wallet_modules()  # the HTTP client comes with the backup engine
        import httpx

        from cairn import httpclient

        async with httpclient.async_client(15.0) as http:
            try:
                response = await http.post(
                    f"{self.config.devnet_url}/devnet/faucet",
                    json={"address": address, "amount_sat": amount, "mine": True},
                )
            except httpx.HTTPError as exc:
                raise SessionError(f"The devnet could not be reached ({exc}).") from exc
        if response.status_code != 200:
            raise SessionError(f"The devnet faucet refused: {response.text[:200]}")
        txid: str = response.json()["txid"]
        return txid


def _discard_staging_unless_restoring(records: Path) -> None:
    """Remove a restore's staging file, unless a restore running now is filling it."""
    if not staging_path(records).exists():
        return
    try:
        lock = WalletLock.take(records.parent)
    except WalletBusy:
        return
    with lock:
        discard_staging(records)
