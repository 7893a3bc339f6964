"""Restoring a wallet from its words and its backup: the one restore of the app and the CLI.

    check the server → stretch the words once → set aside what is in the way → restore the
    record store → seed file, format file and config.json → or put everything back

The words are stretched (BIP39's PBKDF2) once, here; the seed comes back with the outcome so
whoever opens the wallet next does not stretch them again. How the record store is restored is
the caller's choice (`run`): in this process (the CLI), or in a child process so that a window
stays responsive (`cairn.backup.restore_worker`, chosen by the session). Either way the engine's
`RestoreProgress` reaches the caller's `progress` unchanged, byte counts included.

One program at a time restores or creates a network's wallet in a data dir
(`cairn.walletlock`): another one at the same moment is refused (`WalletBusy`) and changes
nothing. A restore that does not happen leaves the data dir as it was: a wallet it replaced (only when
asked to, `replace=True`) is set aside whole first and put back; the folders it made are
removed. A wallet it did replace is kept beside the restored one.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cairn.backup.client import BackupError, RemoteBackupClient
from cairn.backup.restore import (
    ProgressCallback,
    RestoreJob,
    RestoreOutcome,
    RestoreResult,
    discard_staging,
    restore_store,
)
from cairn.config import AppConfig, save_config, wallet_dir
from cairn.files import fsync_dir, make_private_dir
from cairn.keys import BackupKeys, Network, derive_backup_keys, mnemonic_to_seed
from cairn.seedfile import save_seed, seed_exists
from cairn.serverurl import normalise_server_url, server_url_problem
from cairn.storage.sqlite_file import changes_waiting
from cairn.upgrade import CURRENT_FORMAT, write_format
from cairn.usererrors import UserError
from cairn.walletlock import WalletBusy, WalletExists, take_for_making

__all__ = [
    "RECORDS_NAME",
    "ChangesWouldBeLeftBehind",
    "NoBackupServer",
    "RestoreRunner",
    "WalletBusy",
    "WalletExists",
    "WalletRestore",
    "check_room",
    "checked_server",
    "restore_in_process",
    "restore_wallet",
]

RECORDS_NAME = "records.sqlite"

# (what to restore, progress) → the engine's result.
RestoreRunner = Callable[[RestoreJob, ProgressCallback], Awaitable[RestoreResult]]


class NoBackupServer(UserError):
    """No backup server is set, or its address is refused; the message says which and why."""


class ChangesWouldBeLeftBehind(UserError):
    """The wallet a restore would replace has changes its backup does not have yet."""

    def __init__(self, message: str, waiting: int) -> None:
        super().__init__(message)
        self.waiting = waiting


@dataclass(frozen=True)
class WalletRestore:
    """What a restore did: the engine's result, config.json now, and what it set aside."""

    result: RestoreResult
    config: AppConfig
    # The stretched seed, for opening the restored wallet; never shown or logged.
    seed: bytes = field(repr=False)
    replaced: Path | None = None  # the wallet it replaced, kept beside the restored one

    @property
    def restored(self) -> bool:
        return self.result.outcome is RestoreOutcome.RESTORED


def restore_in_process(timeout: float = 15.0) -> RestoreRunner:
    """Restore in this process (the CLI: nothing else needs the CPU meanwhile)."""

    async def run(job: RestoreJob, progress: ProgressCallback) -> RestoreResult:
        async with RemoteBackupClient(job.url, job.keys, job.store_id, timeout=timeout) as client:
            return await restore_store(
                client,
                job.keys,
                job.target,
                progress=progress,
                accept_incomplete=job.accept_incomplete,
            )

    return run


def _ignore(_progress: object) -> None:
    return None


async def restore_wallet(
    data_dir: Path,
    config: AppConfig,
    phrase: str,
    passphrase: str = "",
    *,
    network: Network | None = None,
    server: str | None = None,
    replace: bool = False,
    leave_changes: bool = False,
    accept_incomplete: bool = False,
    progress: ProgressCallback = _ignore,
    run: RestoreRunner | None = None,
) -> WalletRestore:
    """Restore the wallet of `phrase` (validated by the caller) into `data_dir`.

    `network` and `server` override config.json's; NoBackupServer when there is none or its
    address is refused, WalletExists when a wallet is there and `replace` is false,
    ChangesWouldBeLeftBehind when it has changes not backed up and `leave_changes` is false,
    WalletBusy when another program is creating or restoring this wallet right now.
    A backup a device has not finished filling is INCOMPLETE unless `accept_incomplete`. An
    outcome other than RESTORED changes nothing on disk.
    """
    network = network or config.network
    url = checked_server(server or config.backup_server_url)
    wallet = wallet_dir(data_dir, network)
    lock = await take_for_making(wallet)
    try:
        return await _restore_locked(
            data_dir,
            config,
            phrase,
            passphrase,
            network=network,
            url=url,
            replace=replace,
            leave_changes=leave_changes,
            accept_incomplete=accept_incomplete,
            progress=progress,
            run=run,
        )
    finally:
        await asyncio.to_thread(lock.release)


async def _restore_locked(
    data_dir: Path,
    config: AppConfig,
    phrase: str,
    passphrase: str,
    *,
    network: Network,
    url: str,
    replace: bool,
    leave_changes: bool,
    accept_incomplete: bool,
    progress: ProgressCallback,
    run: RestoreRunner | None,
) -> WalletRestore:
    """`restore_wallet` while it holds the wallet's lock."""
    wallet = wallet_dir(data_dir, network)
    target = wallet / RECORDS_NAME
    await asyncio.to_thread(discard_staging, target)
    await asyncio.to_thread(
        functools.partial(
            check_room, data_dir, network, replace=replace, leave_changes=leave_changes
        )
    )
    seed = await asyncio.to_thread(mnemonic_to_seed, phrase, passphrase)
    keys = await asyncio.to_thread(derive_backup_keys, seed)
    runner = run or restore_in_process()
    # A wallet it replaces is set aside whole first, so a crash at any later point leaves it
    # intact beside whatever the restore got to.
    kept = await asyncio.to_thread(_set_aside_if_any, wallet)
    made = [p for p in (*reversed(wallet.parents), wallet) if not p.exists()]
    new_config = config.with_changes(network=network, backup_server_url=url)
    try:
        make_private_dir(wallet)
        job = RestoreJob(url, network.value, target, keys, accept_incomplete)
        result = await runner(job, progress)
        if result.outcome is RestoreOutcome.RESTORED:
            await asyncio.to_thread(_finish, data_dir, wallet, phrase, passphrase, new_config)
    except BaseException:
        # A failure anywhere (a full disk, say) leaves the data dir as it was.
        await asyncio.to_thread(_put_back, kept, wallet, made)
        raise
    if result.outcome is not RestoreOutcome.RESTORED:
        await asyncio.to_thread(_put_back, kept, wallet, made)
        if result.outcome is RestoreOutcome.NO_BACKUP:
            result = await _said_where_it_is(result, url, keys, network)
        return WalletRestore(result, config, seed)
    return WalletRestore(result, new_config, seed, kept)


async def _said_where_it_is(
    result: RestoreResult, url: str, keys: BackupKeys, network: Network
) -> RestoreResult:
    """No backup of `network`: one of another network on the server is named, so that a
    wrong network is told as one and not as wrong words."""
    for other in Network:
        if other is network:
            continue
        try:
            async with RemoteBackupClient(url, keys, other.value, timeout=10.0) as client:
                info = await client.store_info()
        except BackupError:
            continue  # none there, or the server cannot say: the answer stays as it was
        if info.objects > 0 and not info.state.erased:
            return replace(
                result,
                detail=f"no {network.value} backup for these words on this server, but there "
                f"is a {other.value} one: restore it as {other.value} (--network {other.value})",
            )
    return result


def check_room(
    data_dir: Path, network: Network, *, replace: bool, leave_changes: bool = False
) -> None:
    """WalletExists if a wallet is in the way and replacing it was not asked for;
    ChangesWouldBeLeftBehind if it has changes not backed up yet, unless `leave_changes`."""
    wallet = wallet_dir(data_dir, network)
    # Records without a seed file are what a restore interrupted after its switch leaves.
    if not seed_exists(wallet):
        return
    if not replace:
        raise WalletExists(
            f"A {network.value} wallet already exists in {data_dir}. Open it, or restore again "
            "choosing to replace it (the wallet it replaces is kept beside it)."
        )
    # The restored wallet is the backup's: what only the replaced one holds would stay in its
    # folder, seen by nothing. A damaged store cannot say; it is replaced, as asked.
    waiting = changes_waiting(wallet / RECORDS_NAME)
    if waiting and not leave_changes:
        raise ChangesWouldBeLeftBehind(
            f"The {network.value} wallet in {data_dir} has {waiting} change(s) that are not "
            "backed up yet, and a restore would leave them behind. Back them up first.",
            waiting,
        )


def checked_server(server: str | None) -> str:
    """The normalised address of the server to restore from; NoBackupServer if it is refused."""
    if not server:
        raise NoBackupServer("No backup server is set. Choose one to restore from.")
    problem = server_url_problem(server)
    if problem is not None:
        raise NoBackupServer(f"The backup server address {server!r} is refused: {problem}")
    return normalise_server_url(server)


def _finish(data_dir: Path, wallet: Path, phrase: str, passphrase: str, config: AppConfig) -> None:
    # The records are in place; the seed file comes after them, so a wallet dir that has one
    # always has its records.
    save_seed(wallet, phrase, passphrase)
    write_format(wallet, CURRENT_FORMAT)
    save_config(data_dir, config)


def _set_aside_if_any(wallet: Path) -> Path | None:
    """Rename a non-empty wallet dir to `<network>.replaced-<UTC time>` beside it."""
    if not wallet.is_dir() or not any(wallet.iterdir()):
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = wallet.with_name(f"{wallet.name}.replaced-{stamp}")
    os.replace(wallet, kept)
    fsync_dir(wallet.parent)
    return kept


def _put_back(kept: Path | None, wallet: Path, made: Sequence[Path]) -> None:
    """Undo `_set_aside_if_any` and whatever the restore made, after one that did not happen."""
    if kept is not None:
        shutil.rmtree(wallet, ignore_errors=True)
        os.replace(kept, wallet)
        fsync_dir(wallet.parent)
    elif made:
        shutil.rmtree(made[0], ignore_errors=True)
    elif wallet.is_dir():
        # The folder was there and empty (else it was set aside): empty it again.
        for leftover in wallet.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
