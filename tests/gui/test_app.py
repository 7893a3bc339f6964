"""The app's start: an existing wallet opens straight into the main window."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from cairn.config import load_config
from cairn.keys import Network
from cairn.session import Session
from cairn.ui.app import CairnApp

from .wizard_support import RESTORE_WORDS, data_dir_for, run

pytestmark = pytest.mark.gui


async def existing_wallet(data_dir) -> None:
    session = await Session.open(data_dir)
    try:
        await session.create_wallet(RESTORE_WORDS.split())
        await session.run_initial_backup()
    finally:
        await session.close()


def test_existing_wallet_opens_the_main_window_and_quit_when_ready_exits_0(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    app = CairnApp(data_dir, quit_when_ready=True)
    with qtbot.waitSignal(app.finished, timeout=60_000) as finished:
        app.start()
    assert finished.args == [0]
    assert app.wizard_window is None
    assert app.main_window is not None
    assert app.main_window.session.can_use_faucet  # regtest with the devnet configured
    run(qtbot, qasync_loop, app.shutdown())


def test_switching_network_reopens_on_the_other_networks_wallet_dir(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    app = CairnApp(data_dir)
    quit_requests: list[int] = []
    app.finished.connect(quit_requests.append)
    QApplication.instance().lastWindowClosed.connect(app.last_window_closed)
    app.start()
    qtbot.waitUntil(lambda: app.main_window is not None, timeout=20_000)
    app.main_window.network_change_requested.emit("signet")
    # No signet wallet yet: the welcome screen, for a wallet under wallets/signet.
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=20_000)
    assert app.main_window is None
    assert app.session.network == "signet"
    assert app.session.wallet_dir == data_dir / "wallets" / "signet"
    assert load_config(data_dir).network is Network.SIGNET
    assert quit_requests == []  # closing the old main window was not taken for quitting
    QApplication.instance().lastWindowClosed.disconnect(app.last_window_closed)
    run(qtbot, qasync_loop, app.shutdown())
