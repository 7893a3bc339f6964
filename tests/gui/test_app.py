"""The app's start: an existing wallet opens straight into the main window."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from cairn.config import load_config
from cairn.keys import Network
from cairn.session import Session
from cairn.ui.app import CairnApp
from cairn.ui.handoff import LinkReceiver, hand_over

from .wizard_support import RESTORE_WORDS, data_dir_for, run, wait_for_main_window

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
    wait_for_main_window(qtbot, app, timeout=20_000)
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


def test_a_payment_link_given_at_start_or_later_opens_in_send(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    address = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"
    receiver = LinkReceiver(data_dir)  # what `run` listens with
    app = CairnApp(data_dir, payment_link=f"bitcoin:{address}?amount=0.25")
    receiver.received.connect(app.open_payment_link)
    try:
        app.start()
        wait_for_main_window(qtbot, app, timeout=20_000)
        send = app.main_window.send
        assert app.main_window.tabs.currentWidget() is send
        assert (send.recipient.text(), send.amount.text()) == (address, "0.25000000")
        # A later launch's link (a click in the browser) reaches this window.
        assert hand_over(data_dir, f"bitcoin:{address}?amount=0.5&label=Dana")
        qtbot.waitUntil(lambda: send.description.text() == "Dana", timeout=5000)
        assert send.amount.text() == "0.50000000"
    finally:
        receiver.close()
        run(qtbot, qasync_loop, app.shutdown())
