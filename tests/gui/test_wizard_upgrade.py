"""Upgrade path: a wallet that owes a full backup shows the full-backup screen, with progress,
before the main window opens, and the server holds every record afterwards."""

from __future__ import annotations

import asyncio

import pytest

from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.localstate import full_backup_reason, require_full_backup
from cairn.onboarding import View
from cairn.session import Session
from cairn.ui.app import CairnApp
from cairn.ui.wizard.loading import LoadingPage

from .wizard_support import (
    RESTORE_WORDS,
    data_dir_for,
    run,
    server_store_info,
    wait_for_main_window,
)

pytestmark = pytest.mark.gui


async def wallet_owing_a_full_backup(data_dir) -> int:
    """A wallet made before backups existed: records on disk, nothing on any server."""
    session = await Session.open(data_dir)
    try:
        await session.create_wallet(RESTORE_WORDS.split(), email="bob@example.com")
        for n in range(5):
            address = (await session.wallet.next_receive_address()).address
            await session.wallet.set_label("addr", address, f"label {n}")
        store = session._store
        assert store is not None
        await asyncio.to_thread(
            require_full_backup, store, "upgraded from a version without backups"
        )
        return len(await asyncio.to_thread(store.scan, ""))
    finally:
        await session.close()


def test_upgrade_runs_the_full_backup_before_the_main_window(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, wallet_owing_a_full_backup(data_dir))

    app = CairnApp(data_dir)
    seen: list[FullBackupProgress] = []
    app.start()
    qtbot.waitUntil(
        lambda: app.wizard_window is not None or app.main_window is not None, timeout=10_000
    )
    assert app.main_window is None, "the main window must wait for the full backup"
    window = app.wizard_window
    assert app.wizard.history == (View.LOADING,)
    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    assert loading.heading.text() == "Backing up your wallet"
    loading.progress_changed.connect(seen.append)
    wait_for_main_window(qtbot, app, timeout=30_000)

    # The engine's own reports reach the page, byte counts included.
    assert any(p.total > 0 and p.done == p.total and p.bytes_sent > 0 for p in seen), seen
    session = app.session
    assert session.backup_status.current.full_backup_reason is None
    assert full_backup_reason(session._store) is None
    info = run(qtbot, qasync_loop, server_store_info(backupd.url, RESTORE_WORDS))
    assert info.objects >= 8  # descriptor, changesets, email, five labels, …
    run(qtbot, qasync_loop, app.shutdown())
