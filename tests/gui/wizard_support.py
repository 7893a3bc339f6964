"""Helpers for the app and wizard GUI tests: data dirs, coroutines from the test body."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import Qt

from cairn.backup.client import RemoteBackupClient
from cairn.backup.errors import BackupError, BackupNotFound
from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.localstate import FULL_REQUIRED
from cairn.backup.service import BackupService
from cairn.config import AppConfig, save_config, wallet_dir
from cairn.keys import Network, derive_backup_keys, mnemonic_to_seed
from cairn.session import Session
from cairn.storage import AsyncRecordStore, SqliteStore
from cairn.wire.addressing import wire_key
from cairn.wire.messages import StoreInfo
from tests.support.words import PHRASE

T = TypeVar("T")

RESTORE_WORDS = PHRASE


def run(
    qtbot: Any, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: int = 30_000
) -> T:
    """Run `coro` on the shared qasync loop while pytest-qt spins the Qt loop."""
    task = loop.create_task(coro)
    try:
        qtbot.waitUntil(task.done, timeout=timeout)
    except Exception:
        report_stuck(loop)
        raise
    return task.result()


def report_stuck(loop: asyncio.AbstractEventLoop) -> None:
    """Print where every task and thread waits: what a hang in CI leaves to go on."""
    for pending in asyncio.all_tasks(loop):
        pending.print_stack(file=sys.stderr)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


def data_dir_for(tmp: Path, backup_url: str | None, devnet_url: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    save_config(
        tmp,
        AppConfig(
            network=Network.REGTEST,
            backup_server_url=backup_url,
            esplora_url=devnet_url,
            devnet_url=devnet_url,
        ),
    )
    return tmp


async def server_store_info(url: str, words: str) -> StoreInfo:
    keys = derive_backup_keys(mnemonic_to_seed(words))
    client = RemoteBackupClient(url, keys, Network.REGTEST.value)
    try:
        return await client.store_info()
    finally:
        await client.aclose()


async def server_record_version(url: str, words: str, name: str) -> int:
    """The server's version of the record `name` of the wallet of `words` (0: not there)."""
    keys = derive_backup_keys(mnemonic_to_seed(words))
    client = RemoteBackupClient(url, keys, Network.REGTEST.value)
    try:
        return (await client.get_object(wire_key(keys.key_name_key, name))).version
    except BackupNotFound:
        return 0
    finally:
        await client.aclose()


async def make_backed_up_wallet(data_dir: Path, words: str) -> tuple[str, str]:
    """A wallet with a received payment, a label and an email, fully backed up.

    Returns (txid, address)."""
    session = await Session.open(data_dir)
    try:
        await session.create_wallet(words.split(), email="alice@example.com")
        await session.run_initial_backup()
        address = (await session.wallet.next_receive_address()).address
        await session.wallet.set_label("addr", address, "savings from the faucet")
        txid = await session.faucet(address, 250_000)
        await session.wallet.sync()
        await session.wallet.set_label("tx", txid, "first coins")
        await session.back_up_now()
        assert session.backup_status.current.pending_changes == 0
        return txid, address
    finally:
        await session.close()


async def cut_full_backup(data_dir: Path, server: Any, words: str) -> None:
    """The wallet in `data_dir` starts its full backup to `server` (another server than its
    own) and `server` dies after the first few records: a full backup cut off partway."""
    store = AsyncRecordStore(SqliteStore(wallet_dir(data_dir, Network.REGTEST) / "records.sqlite"))
    keys = derive_backup_keys(mnemonic_to_seed(words))
    service = BackupService(store, keys, "regtest", server.url, max_items=3, timeout=5.0)

    def kill_early(progress: FullBackupProgress) -> None:
        if progress.done >= 3 and server.process.poll() is None:
            server.kill()

    service.set_progress(kill_early)
    try:
        await service.prepare()
        with contextlib.suppress(BackupError):
            await service.backup_now()
        assert await store.get(FULL_REQUIRED) is not None, "the full backup was not cut off"
    finally:
        await service.stop()
        await store.aclose()


def wait_for_main_window(qtbot: Any, app: Any, timeout: int = 30_000) -> Any:
    """Wait, as a user waits for "Loading wallet…" to go, until the app's main window is up
    with its wallet open and every part of it usable; the window."""
    qtbot.waitUntil(lambda: app.main_window is not None and app.main_window.loaded, timeout=timeout)
    return app.main_window


def issue_invite(db: str) -> str:
    """One invite from `cairn-backupd invite`, as an operator hands it out."""
    done = subprocess.run(
        [sys.executable, "-m", "cairn.server", "invite", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def create_past_the_email(qtbot: Any, app: Any) -> tuple[str, ...]:
    """Start the app's wizard and take the create path up to the page after the email (skipped);
    the new wallet's words."""
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window, wizard = app.wizard_window, app.wizard
    qtbot.mouseClick(window.current_page.create_button, Qt.MouseButton.LeftButton)
    words: tuple[str, ...] = wizard.state.words
    wizard.next()
    wizard.update(confirm_answers=tuple(words[p] for p in wizard.state.confirm_positions))
    wizard.next()
    wizard.update(acknowledged=True)
    wizard.next()
    qtbot.mouseClick(window.skip_button, Qt.MouseButton.LeftButton)  # no email
    return words
