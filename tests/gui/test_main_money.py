"""Money as a user reads it, on the devnet: the balance after a send, address labels on the
payments to them, amounts typed by the locale and in the chosen unit, payment links, the
description that becomes a label, and a transaction's details."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QLocale, QObject, Qt, QUrl, Slot
from PySide6.QtGui import QContextMenuEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication

from cairn.keys import Network, generate_mnemonic, mnemonic_to_seed
from cairn.storage import MemoryStore
from cairn.ui.main.formatting import btc, sats_text
from cairn.ui.main.history import AMOUNT, FROM_ADDRESS, LABEL
from cairn.ui.main.window import MainWindow
from cairn.wallet import CairnWallet

from .main_support import main_window, review, screenshot, wait_synced
from .wizard_support import run

pytestmark = pytest.mark.gui

FUNDS = 2_000_000


@pytest.fixture
def opened(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as o:
        qtbot.waitUntil(lambda: o.window.receive.address != "", timeout=10_000)
        yield o


@pytest.fixture
def funded(opened, qtbot, devnet):
    devnet.faucet(opened.window.receive.address, FUNDS, mine=True)
    wait_synced(qtbot, opened.window)
    assert opened.window.balance.spendable.text() == btc(FUNDS)
    return opened


@pytest.fixture
def second_wallet(devnet):
    seed = mnemonic_to_seed(generate_mnemonic())
    wallet = CairnWallet.open(MemoryStore(), seed, Network.REGTEST, esplora_url=devnet.url)
    yield wallet
    wallet.close()


def other_address(qtbot, loop, wallet: CairnWallet) -> str:
    return run(qtbot, loop, wallet.next_receive_address()).address


def send_reviewed(qtbot, window: MainWindow) -> str:
    qtbot.mouseClick(window.send.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.send.result.isVisible, timeout=10_000)
    return window.send.last_txid


def test_after_a_send_the_change_is_spendable_not_pending(
    funded, second_wallet, qtbot, qasync_loop, devnet
):
    window = funded.window
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, other_address(qtbot, qasync_loop, second_wallet), "0.005")
    plan = window.send.plan
    assert plan is not None, window.send.error.text()
    send_reviewed(qtbot, window)

    # What is left is the user's at once: the whole coin spent is not "gone", and the change
    # is not shown as an incoming payment.
    left = FUNDS - 500_000 - plan.fee_sat
    qtbot.waitUntil(lambda: window.balance.spendable.text() == btc(left), timeout=10_000)
    assert window.balance.incoming.text() == "Nothing incoming"
    wait_synced(qtbot, window)  # the devnet's mempool says the same
    assert window.balance.spendable.text() == btc(left)
    assert window.balance.incoming.text() == "Nothing incoming"
    assert "change" in window.balance.spendable.toolTip()
    assert "What you can send now" in window.balance.caption.toolTip()

    # For the recipient the same payment is incoming until it is mined.
    run(qtbot, qasync_loop, second_wallet.sync())
    assert (second_wallet.balance().spendable_sat, second_wallet.balance().incoming_sat) == (
        0,
        500_000,
    )
    devnet.mine()
    wait_synced(qtbot, window)
    assert window.balance.spendable.text() == btc(left)
    window.tabs.setCurrentWidget(window.history)
    screenshot(window, "main-balance-after-send")


def test_an_address_label_is_shown_on_the_payments_to_that_address(opened, qtbot, devnet):
    window, wallet = opened.window, opened.session.wallet
    receive = window.receive
    address = receive.address
    qtbot.keyClicks(receive.label_edit, "rent from Bob")
    qtbot.mouseClick(receive.save_label_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: receive.label_status.text().startswith("Label saved"), timeout=5000)

    txid = devnet.faucet(address, 150_000)
    wait_synced(qtbot, window)
    model = window.history.model
    cell = model.index(model.row_of(txid), LABEL)
    assert cell.data() == "rent from Bob"
    assert cell.data(Qt.ItemDataRole.ForegroundRole) == FROM_ADDRESS  # borrowed, in grey
    assert "address" in cell.data(Qt.ItemDataRole.ToolTipRole)

    # The transaction's own label comes first; removed, the address's label shows again.
    assert model.setData(cell, "April rent")
    qtbot.waitUntil(lambda: wallet.label("tx", txid) == "April rent", timeout=5000)
    assert model.index(model.row_of(txid), LABEL).data() == "April rent"
    assert model.setData(model.index(model.row_of(txid), LABEL), "")
    qtbot.waitUntil(lambda: wallet.label("tx", txid) is None, timeout=5000)
    qtbot.waitUntil(
        lambda: model.index(model.row_of(txid), LABEL).data() == "rent from Bob", timeout=5000
    )
    window.tabs.setCurrentWidget(window.history)
    screenshot(window, "main-address-label")


def test_a_comma_is_never_dropped_from_an_amount(funded, second_wallet, qtbot, qasync_loop):
    window = funded.window
    to = other_address(qtbot, qasync_loop, second_wallet)
    send = window.send
    window.tabs.setCurrentWidget(send)
    # With "." as the decimal point, "0,5" was read as 5 BTC; now it is refused with the fix.
    review(qtbot, send, to, "0,5")
    assert send.error.isVisible()
    assert "Did you mean 0.5?" in send.error.text()
    assert send.plan is None and not send.review_box.isVisible()
    send.fee_rate.setText("2,5")
    review(qtbot, send, to, "0.5")
    assert "Did you mean 2.5?" in send.error.text()

    # Where the locale writes "0,5", amount and fee alike are read with a decimal comma.
    QLocale.setDefault(QLocale(QLocale.Language.German, QLocale.Country.Germany))
    german = MainWindow(funded.session)
    qtbot.addWidget(german)
    german.show()
    german.tabs.setCurrentWidget(german.send)
    try:
        qtbot.waitUntil(lambda: german.balance.loaded, timeout=10_000)
        assert german.balance.spendable.text() == "0,02000000 BTC"
        german.send.fee_rate.setText("2,5")
        review(qtbot, german.send, to, "0,005")
        plan = german.send.plan
        assert plan is not None, german.send.error.text()
        assert (plan.amount_sat, plan.fee_rate_sat_vb) == (500_000, 2.5)
        assert german.send.review_amount.text() == "0,00500000 BTC"
        review(qtbot, german.send, to, "0.005")  # "." groups thousands here: refused, not 5
        assert "Did you mean 0,005?" in german.send.error.text()
    finally:
        QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))
        german.close()
        qtbot.waitUntil(lambda: not german.tasks.busy, timeout=10_000)


def test_amounts_follow_the_unit_preference(funded, second_wallet, qtbot, qasync_loop):
    window, session = funded.window, funded.session
    settings = window.settings
    window.tabs.setCurrentWidget(settings)
    settings.unit_combo.setFocus()
    qtbot.keyClick(settings.unit_combo, Qt.Key.Key_Down)  # BTC -> sat, as a user picks it
    qtbot.waitUntil(lambda: session.wallet.preference("unit") == "sat", timeout=5000)
    assert window.balance.spendable.text() == sats_text(FUNDS) == "2,000,000 sat"
    assert window.history.model.index(0, AMOUNT).data() == "+2,000,000 sat"
    assert window.send.unit_label.text() == "sat"
    # Backed up like every preference: it is queued, then acknowledged by the server.
    qtbot.waitUntil(lambda: session.backup_status.current.pending_changes == 0, timeout=10_000)

    to = other_address(qtbot, qasync_loop, second_wallet)
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, to, "0.005")
    assert "whole numbers" in window.send.error.text()
    review(qtbot, window.send, to, "500,000")
    assert window.send.plan is not None, window.send.error.text()
    assert window.send.plan.amount_sat == 500_000
    assert window.send.review_amount.text() == "500,000 sat"
    screenshot(window, "main-send-in-sat")

    again = MainWindow(session)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.balance.loaded, timeout=10_000)
    assert again.balance.spendable.text() == "2,000,000 sat"
    assert again.settings.unit_combo.currentData() == "sat"
    again.close()
    qtbot.waitUntil(lambda: not again.tasks.busy, timeout=10_000)


def test_a_payment_link_fills_send_and_its_description_labels_the_payment(
    funded, second_wallet, qtbot, qasync_loop
):
    window, wallet = funded.window, funded.session.wallet
    send = window.send
    window.tabs.setCurrentWidget(send)
    to = other_address(qtbot, qasync_loop, second_wallet)
    QGuiApplication.clipboard().setText(
        f"bitcoin:{to}?amount=0.004&label=Carol&message=Invoice%2042"
    )
    send.recipient.setFocus()
    qtbot.keyClick(send.recipient, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert send.recipient.text() == to
    assert send.amount.text() == "0.00400000"
    assert send.description.text() == "Carol — Invoice 42"
    assert send.filled_from_link.isVisible()
    qtbot.mouseClick(send.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(send.review_box.isVisible, timeout=10_000)
    assert send.plan.amount_sat == 400_000
    txid = send_reviewed(qtbot, window)
    assert wallet.label("tx", txid) == "Carol — Invoice 42"
    # After the send, its txid has the history's actions: copy it, open its details.
    assert send.result_actions.isVisible()
    qtbot.mouseClick(send.copy_txid_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == txid
    qtbot.mouseClick(send.details_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.details_dialog is not None, timeout=5000)
    assert window.details_dialog.txid_label.text() == txid
    assert window.details_dialog.label.text() == "Carol — Invoice 42"
    window.details_dialog.close()
    qtbot.waitUntil(lambda: window.details_dialog is None, timeout=5000)
    model = window.history.model
    qtbot.waitUntil(lambda: model.row_of(txid) is not None, timeout=10_000)
    assert model.index(model.row_of(txid), LABEL).data() == "Carol — Invoice 42"

    # A link asking for something Cairn cannot do is refused, not half-used.
    send.recipient.clear()
    QGuiApplication.clipboard().setText(f"bitcoin:{to}?amount=1&req-pop=1")
    qtbot.keyClick(send.recipient, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert send.error.isVisible() and "does not support" in send.error.text()


def test_transaction_details_from_the_history_menu(funded, second_wallet, qtbot, qasync_loop):
    window = funded.window
    to = other_address(qtbot, qasync_loop, second_wallet)
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, to, "0.003")
    plan = window.send.plan
    txid = send_reviewed(qtbot, window)
    model = window.history.model
    qtbot.waitUntil(lambda: model.row_of(txid) is not None, timeout=10_000)
    window.tabs.setCurrentWidget(window.history)

    table = window.history.table
    cell = table.visualRect(model.index(model.row_of(txid), AMOUNT))
    # What the platform delivers for a right-click on the row (QTest has no context click).
    viewport = table.viewport()
    QApplication.sendEvent(
        viewport,
        QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, cell.center(), viewport.mapToGlobal(cell.center())
        ),
    )
    qtbot.waitUntil(
        lambda: window.history.menu is not None and window.history.menu.isVisible(), timeout=5000
    )
    menu = window.history.menu
    actions = {action.text(): action for action in menu.actions()}
    menu.close()
    # An unconfirmed payment of ours can also have its fee bumped (RBF).
    assert set(actions) == {"Details…", "Copy transaction ID", "Edit label", "Bump fee…"}
    actions["Copy transaction ID"].trigger()
    assert QGuiApplication.clipboard().text() == txid
    actions["Details…"].trigger()
    qtbot.waitUntil(lambda: window.details_dialog is not None, timeout=5000)
    dialog = window.details_dialog
    assert dialog.isVisible()
    assert dialog.txid_label.text() == txid
    assert dialog.fee.text().startswith(btc(plan.fee_sat))
    assert "sat/vB" in dialog.fee.text()
    assert dialog.status.text().startswith("Pending")
    outputs = [
        [dialog.outputs.topLevelItem(i).text(c) for c in range(4)]
        for i in range(dialog.outputs.topLevelItemCount())
    ]
    assert [to, btc(300_000), "", ""] in outputs
    assert any(row[2] == "Your change" and row[1] == btc(plan.change_sat) for row in outputs)
    [spent] = [
        [dialog.inputs.topLevelItem(i).text(c) for c in range(3)]
        for i in range(dialog.inputs.topLevelItemCount())
    ]
    assert spent[1:] == [btc(FUNDS), "Yours"]
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert dialog.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: dialog.copy_button.text() == "Copy", timeout=5000)
    assert dialog.explorer_button.isHidden()  # no public explorer knows a local regtest
    dialog.close()
    qtbot.waitUntil(lambda: window.details_dialog is None, timeout=5000)

    # With an explorer configured for regtest, the details open the transaction there.
    session = funded.session
    session.config = session.config.with_changes(
        explorer_urls={"regtest": "http://127.0.0.1:5000/tx/{txid}"}
    )
    opened_urls = UrlCatcher()
    QDesktopServices.setUrlHandler("http", opened_urls, "open")
    try:
        window.show_details(txid)
        qtbot.waitUntil(lambda: window.details_dialog is not None, timeout=5000)
        dialog = window.details_dialog
        assert dialog.explorer_button.isVisible()
        qtbot.mouseClick(dialog.explorer_button, Qt.MouseButton.LeftButton)
        assert opened_urls.urls == [f"http://127.0.0.1:5000/tx/{txid}"]
    finally:
        QDesktopServices.unsetUrlHandler("http")
    dialog.close()
    qtbot.waitUntil(lambda: window.details_dialog is None, timeout=5000)


class UrlCatcher(QObject):
    """Where QDesktopServices sends a URL instead of the system's browser."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def test_the_address_list_shows_receive_and_change_with_balances_and_labels(
    funded, second_wallet, qtbot, qasync_loop
):
    from cairn.ui.main.addresses import ADDRESS, BALANCE, KIND, USED
    from cairn.ui.main.addresses import LABEL as ADDRESS_LABEL

    window, wallet = funded.window, funded.session.wallet
    paid = window.history.model.items[0]
    first = wallet.addresses()[0].address
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, other_address(qtbot, qasync_loop, second_wallet), "0.005")
    plan = window.send.plan
    send_reviewed(qtbot, window)
    panel = window.addresses
    window.tabs.setCurrentWidget(panel)
    model = panel.model
    # (Building the payment already reserved the change address: wait until it is paid.)
    qtbot.waitUntil(
        lambda: any(r.keychain == "change" and r.used for r in model.rows), timeout=10_000
    )

    row = model.row_of(first)
    assert model.index(row, KIND).data() == "Receive"
    assert model.index(row, USED).data() == "Used · 1 payment"
    assert model.index(row, BALANCE).data() == ""  # its coin was spent by the send
    [change] = [n for n, r in enumerate(model.rows) if r.keychain == "change"]
    assert model.index(change, BALANCE).data() == btc(plan.change_sat)
    unused = [n for n, r in enumerate(model.rows) if not r.used]
    assert unused and all(model.index(n, USED).data() == "Unused" for n in unused)

    # A label given here is the address's label everywhere, including its payment.
    assert model.setData(model.index(row, ADDRESS_LABEL), "from the faucet")
    qtbot.waitUntil(lambda: wallet.label("addr", first) == "from the faucet", timeout=5000)
    history = window.history.model
    qtbot.waitUntil(
        lambda: history.index(history.row_of(paid.txid), LABEL).data() == "from the faucet",
        timeout=5000,
    )
    panel.filter.setCurrentIndex(2)  # change only
    assert {model.index(n, KIND).data() for n in range(model.rowCount())} == {"Change"}
    assert model.index(0, ADDRESS).data() == model.rows[0].address
    screenshot(window, "main-addresses")


def test_a_link_handed_over_opens_send_even_from_a_review(
    funded, second_wallet, qtbot, qasync_loop
):
    window = funded.window
    to = other_address(qtbot, qasync_loop, second_wallet)
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, to, "0.001")
    assert window.send.review_box.isVisible()
    window.tabs.setCurrentWidget(window.history)
    window.open_payment_link(f"bitcoin:{to}?amount=0.002&message=Lunch")
    send = window.send
    assert window.tabs.currentWidget() is send
    assert not send.review_box.isVisible() and send.plan is None
    assert (send.recipient.text(), send.amount.text(), send.description.text()) == (
        to,
        "0.00200000",
        "Lunch",
    )


def test_bump_fee_replaces_a_pending_payment_from_its_details(
    funded, second_wallet, qtbot, qasync_loop, devnet
):
    window = funded.window
    to = other_address(qtbot, qasync_loop, second_wallet)
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, to, "0.002")
    original = send_reviewed(qtbot, window)
    model = window.history.model
    qtbot.waitUntil(lambda: model.row_of(original) is not None, timeout=10_000)
    window.tabs.setCurrentWidget(window.history)
    menu = window.history.row_menu(model.row_of(original))
    [bump] = [a for a in menu.actions() if a.text() == "Bump fee…"]
    bump.trigger()
    qtbot.waitUntil(lambda: window.details_dialog is not None, timeout=5000)
    dialog = window.details_dialog
    assert dialog.bump_button.isVisible()

    # A rate that is no higher is refused with the reason, and nothing is sent.
    dialog.bump_rate.clear()
    qtbot.keyClicks(dialog.bump_rate, "1")
    qtbot.mouseClick(dialog.bump_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.bump_result.objectName() == "error", timeout=5000)
    assert "choose at least" in dialog.bump_result.text()

    dialog.bump_rate.clear()
    qtbot.keyClicks(dialog.bump_rate, "25")
    qtbot.mouseClick(dialog.bump_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.bump_button.text() == "Replace payment", timeout=5000)
    assert dialog.bump_result.text().startswith("New fee ")
    assert devnet.get("/mempool/txids").json()[-1] == original  # reviewed, not yet sent
    with qtbot.waitSignal(dialog.fee_bumped, timeout=10_000) as bumped:
        qtbot.mouseClick(dialog.bump_button, Qt.MouseButton.LeftButton)
    replacement = bumped.args[0]
    assert dialog.bump_result.text() == f"Fee bumped: the payment is now {replacement}."
    assert replacement in devnet.get("/mempool/txids").json()
    assert original not in devnet.get("/mempool/txids").json()
    qtbot.waitUntil(lambda: model.row_of(replacement) is not None, timeout=10_000)
    assert model.row_of(original) is None
    dialog.close()
