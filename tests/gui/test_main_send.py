"""Send from the main window on devnet: review (fee, total, change), sign, broadcast; the payment
in the history and in the second wallet; and every error shown inline, never raised."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cairn.keys import Network, generate_mnemonic, mnemonic_to_seed
from cairn.storage import MemoryStore
from cairn.ui.main.formatting import btc
from cairn.ui.main.history import DIRECTION, FEE, LABEL, STATUS
from cairn.wallet import CairnWallet

from .main_support import main_window, review, screenshot, wait_synced
from .wizard_support import run

pytestmark = pytest.mark.gui

FUNDS = 2_000_000


@pytest.fixture
def funded(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as opened:
        window = opened.window
        qtbot.waitUntil(lambda: window.receive.address != "", timeout=10_000)
        devnet.faucet(window.receive.address, FUNDS, mine=True)
        wait_synced(qtbot, window)
        assert window.balance.spendable.text() == btc(FUNDS)
        yield opened


@pytest.fixture
def second_wallet(devnet):
    seed = mnemonic_to_seed(generate_mnemonic())
    wallet = CairnWallet.open(MemoryStore(), seed, Network.REGTEST, esplora_url=devnet.url)
    yield wallet
    wallet.close()


def test_send_from_the_main_window_reaches_the_second_wallet(
    funded, second_wallet, qtbot, qasync_loop, devnet
):
    window = funded.window
    send = window.send
    window.tabs.setCurrentWidget(send)
    devnet.set_fee_estimates({1: 12.0, 6: 4.0, 144: 1.5})
    run(qtbot, qasync_loop, send.load_fee_estimates())
    assert send.fee_preset.currentText() == "Normal · about an hour · 4.0 sat/vB"
    assert send.fee_rate.value() == 4.0

    to = run(qtbot, qasync_loop, second_wallet.next_receive_address()).address
    review(qtbot, send, to, "0.005")
    assert not send.error.isVisible(), send.error.text()
    plan = send.plan
    assert plan.amount_sat == 500_000
    assert plan.fee_sat > 0
    assert send.review_to.text() == to
    assert send.review_amount.text() == btc(500_000)
    assert send.review_fee.text().startswith(btc(plan.fee_sat))
    assert "4.0 sat/vB" in send.review_fee.text()
    assert send.review_total.text() == btc(500_000 + plan.fee_sat)
    assert send.review_change.text() == btc(FUNDS - 500_000 - plan.fee_sat)
    assert not send.recipient.isEnabled()  # the reviewed payment cannot change under the user
    screenshot(window, "main-send-review")

    qtbot.mouseClick(send.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(send.result.isVisible, timeout=10_000)
    txid = send.result.text().rsplit(" ", 1)[-1]
    assert len(txid) == 64
    assert not send.review_box.isVisible()
    assert send.recipient.text() == ""

    model = window.history.model
    qtbot.waitUntil(lambda: model.row_of(txid) is not None, timeout=10_000)
    assert model.index(model.row_of(txid), DIRECTION).data() == "Sent"
    assert model.index(model.row_of(txid), STATUS).data() == "Pending"

    devnet.mine()
    wait_synced(qtbot, window)
    row = model.row_of(txid)
    assert model.index(row, STATUS).data() == "1 confirmation"
    assert model.index(row, FEE).data() == btc(plan.fee_sat)
    assert window.balance.spendable.text() == btc(FUNDS - 500_000 - plan.fee_sat)

    assert model.setData(model.index(row, LABEL), "December rent")
    qtbot.waitUntil(
        lambda: window.session.wallet.label("tx", txid) == "December rent", timeout=5000
    )

    run(qtbot, qasync_loop, second_wallet.sync())
    received = {item.txid: item for item in second_wallet.history()}
    assert received[txid].amount_sat == 500_000
    assert received[txid].confirmations == 1
    window.tabs.setCurrentWidget(window.history)
    screenshot(window, "main-window")


def test_send_errors_are_shown_inline(funded, second_wallet, qtbot, qasync_loop):
    window, wallet = funded.window, funded.session.wallet
    send = window.send
    window.tabs.setCurrentWidget(send)
    mine = run(qtbot, qasync_loop, second_wallet.next_receive_address()).address

    cases = [
        ("not-an-address", "0.001", "is not a valid Bitcoin address"),
        ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "0.001", "this wallet is on regtest"),
        (mine, "1", "Not enough funds"),
        (mine, "0.000001", "too small to send"),
        (mine, "twelve", "is not an amount in BTC"),
        ("", "0.001", "Enter the address to pay"),
    ]
    for recipient, amount, message in cases:
        review(qtbot, send, recipient, amount)
        assert send.error.isVisible(), (recipient, amount)
        assert message in send.error.text(), send.error.text()
        assert not send.review_box.isVisible()
        assert send.recipient.isEnabled() and send.review_button.isEnabled()
    # The fee rate is checked too: by the form (not a number) and by the wallet (out of range).
    for rate, message in (("fast", "is not a fee rate"), ("5000", "out of range")):
        send.fee_rate.setText(rate)
        review(qtbot, send, mine, "0.001")
        assert message in send.error.text(), send.error.text()
    send.fee_rate.setValue(2.0)
    screenshot(window, "main-send-error")

    # A rejected broadcast: the reviewed coins are spent elsewhere before "Sign and send".
    review(qtbot, send, mine, None)
    assert send.review_box.isVisible(), send.error.text()
    elsewhere = wallet.plan_payment(mine, None, 3.0)
    run(qtbot, qasync_loop, wallet.send(elsewhere))
    qtbot.mouseClick(send.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(send.error.isVisible, timeout=10_000)
    assert "rejected the payment" in send.error.text(), send.error.text()
    assert not send.result.isVisible()
    assert send.edit_button.isEnabled()  # the user can go back and change the payment
