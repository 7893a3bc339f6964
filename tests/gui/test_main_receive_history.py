"""Main window on a real devnet wallet: receive (address, QR, copy, label), balance and history
after the faucet and a mined block, history labels, and the backup status going from pending to
backed up."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractItemView

from cairn.ui.main.backup_status import describe
from cairn.ui.main.formatting import btc
from cairn.ui.main.history import AMOUNT, DIRECTION, LABEL, STATUS
from cairn.ui.main.window import FAUCET_AMOUNT, MainWindow

from .main_support import main_window, screenshot, wait_synced
from .wizard_support import run

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as o:
        yield o


def test_receive_shows_an_address_with_its_qr_code_and_stores_a_label(opened, qtbot):
    window, wallet = opened.window, opened.session.wallet
    receive = window.receive
    qtbot.waitUntil(lambda: receive.address != "", timeout=10_000)
    first = receive.address
    assert first.startswith("bcrt1q")
    assert receive.address_label.text() == first
    assert not receive.qr.pixmap().isNull()
    assert wallet.revealed_index() == 0  # handed out, and on disk

    qtbot.mouseClick(receive.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == first

    qtbot.keyClicks(receive.label_edit, "rent from Bob")
    qtbot.mouseClick(receive.save_label_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: receive.label_status.text().startswith("Label saved"), timeout=5000)
    assert wallet.label("addr", first) == "rent from Bob"
    window.tabs.setCurrentWidget(receive)
    screenshot(window, "main-receive")

    # Opened again, the window shows the same unused address with its label.
    again = MainWindow(opened.session)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.receive.address == first, timeout=10_000)
    assert again.receive.label_edit.text() == "rent from Bob"
    again.close()
    qtbot.waitUntil(lambda: not again.tasks.busy, timeout=10_000)

    # Until it is paid, the same address stays on show; "New address" hands out the next one.
    qtbot.mouseClick(receive.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: receive.address not in ("", first), timeout=5000)
    assert wallet.revealed_index() == 1

    # Regtest with a devnet: the demo faucet pays the address on show and a block confirms it.
    assert not window.faucet_button.isHidden()
    qtbot.mouseClick(window.faucet_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.balance.spendable.text() == btc(FAUCET_AMOUNT), timeout=15_000)
    assert window.history.model.items[0].confirmations == 1


def test_balance_and_history_follow_the_faucet_and_a_mined_block(
    opened, qtbot, qasync_loop, devnet
):
    window, session = opened.window, opened.session
    qtbot.waitUntil(lambda: window.receive.address != "", timeout=10_000)
    address = window.receive.address
    assert window.history.empty.isVisible() or not window.history.model.items

    txid = devnet.faucet(address, 1_500_000)  # into the mempool only
    wait_synced(qtbot, window)
    # Someone else's unconfirmed payment is incoming, not yet spendable.
    assert window.balance.incoming.text().startswith(btc(1_500_000, signed=True))
    assert window.balance.spendable.text() == btc(0)
    model = window.history.model
    assert [item.txid for item in model.items] == [txid]
    row = model.row_of(txid)
    assert model.index(row, DIRECTION).data() == "Received"
    assert model.index(row, STATUS).data() == "Pending"
    assert model.index(row, AMOUNT).data() == btc(1_500_000, signed=True)
    assert window.receive.address != address  # the paid address is not shown again

    devnet.mine()
    wait_synced(qtbot, window)
    assert window.balance.spendable.text() == btc(1_500_000)
    assert window.balance.incoming.text() == "Nothing incoming"
    assert model.index(model.row_of(txid), STATUS).data() == "1 confirmation"

    # A label typed in the history is stored on the transaction and backed up.
    qtbot.waitUntil(lambda: session.backup_status.current.pending_changes == 0, timeout=10_000)
    seen: list[str] = []
    # Every snapshot as the engine publishes it, in the words the window shows (the widget
    # itself repaints once for updates that arrive together).
    unsubscribe = session.backup_status.subscribe(lambda s: seen.append(describe(s).headline))
    assert model.setData(model.index(model.row_of(txid), LABEL), "first coins")
    qtbot.waitUntil(lambda: session.wallet.label("tx", txid) == "first coins", timeout=5000)
    # The change shows as waiting or uploading, then as backed up.
    qtbot.waitUntil(lambda: any(text != "Backed up" for text in seen), timeout=10_000)
    qtbot.waitUntil(
        lambda: (
            window.backup_status.headline.text() == "Backed up"
            and session.backup_status.current.pending_changes == 0
        ),
        timeout=10_000,
    )
    unsubscribe()
    assert window.backup_status.detail.text() == "last backup just now"
    assert model.index(model.row_of(txid), LABEL).data() == "first coins"

    # A label being typed survives the reload every sync brings.
    window.tabs.setCurrentWidget(window.history)
    table, index = window.history.table, model.index(model.row_of(txid), LABEL)
    table.setCurrentIndex(index)
    table.edit(index)
    assert table.state() == QAbstractItemView.State.EditingState
    run(qtbot, qasync_loop, window.reload())
    assert table.state() == QAbstractItemView.State.EditingState
    screenshot(window, "main-history")
