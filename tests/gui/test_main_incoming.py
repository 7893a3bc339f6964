"""While the main window is open, a payment to its address and the block that confirms it show
up by themselves, within seconds, with a notice: no click on Refresh."""

from __future__ import annotations

import pytest

from cairn.ui.main.formatting import btc

from .main_support import main_window, screenshot

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as o:
        yield o


def test_an_incoming_payment_and_its_block_appear_without_a_click(opened, qtbot, devnet):
    window = opened.window
    qtbot.waitUntil(lambda: window.receive.address != "", timeout=10_000)
    qtbot.waitUntil(lambda: not window.syncing, timeout=20_000)
    assert not window.history.model.items
    assert window.notice.isHidden()

    txid = devnet.faucet(window.receive.address, 100_000)  # from outside the app, unconfirmed
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=10_000)
    assert window.notice.text() == f"Incoming payment: {btc(100_000, signed=True)} (unconfirmed)"
    qtbot.waitUntil(lambda: [i.txid for i in window.history.model.items] == [txid], timeout=5000)
    assert window.balance.incoming.text().startswith(btc(100_000, signed=True))
    assert window.history.model.items[0].confirmations == 0
    screenshot(window, "main-incoming")

    devnet.mine()  # a new block: the window notices it too
    qtbot.waitUntil(lambda: window.history.model.items[0].confirmations == 1, timeout=10_000)
    qtbot.waitUntil(lambda: window.balance.spendable.text() == btc(100_000), timeout=5000)
    qtbot.waitUntil(window.refresh_button.isEnabled, timeout=5000)  # the sync is over


def test_the_notice_adds_up_payments_and_goes_away_after_a_while(opened, qtbot):
    window = opened.window
    window.announce_incoming(50_000, confirmed=False)
    assert window.notice_timer.isActive()
    window.announce_incoming(25_000, confirmed=False)
    assert window.notice.text() == (
        f"2 incoming payments: {btc(75_000, signed=True)} (unconfirmed)"
    )
    window.notice_timer.timeout.emit()  # as when its time is up
    assert window.notice.isHidden()
    window.announce_incoming(10_000, confirmed=True)
    assert window.notice.text() == f"Payment received: {btc(10_000, signed=True)}"
