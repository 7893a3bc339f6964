"""Feedback in the main window that must not mislead: stale errors cleared, "Copied" cleared,
buttons that stay put, error wording, Activity headings, the plain-seed banner, a loading state
instead of a false empty wallet, and a window that fits the screen and keeps its size."""

from __future__ import annotations

import json

import keyring
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, Qt
from PySide6.QtGui import QGuiApplication

from cairn.keys import Network, generate_mnemonic, mnemonic_to_seed
from cairn.storage import MemoryStore
from cairn.ui.main.formatting import btc
from cairn.ui.main.history import AMOUNT, COLUMNS, DIRECTION, EMPTY_TEXT
from cairn.ui.main.local_state import LOCAL_STATE_NAME
from cairn.ui.main.window import MainWindow
from cairn.wallet import CairnWallet

from .main_support import main_window, open_session, review, screenshot, wait_synced
from .test_main_seed_warning import MemoryKeyring
from .wizard_support import data_dir_for, run

pytestmark = pytest.mark.gui

FUNDS = 2_000_000
MAINNET = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


@pytest.fixture
def opened(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as o:
        qtbot.waitUntil(lambda: o.window.receive.address != "", timeout=10_000)
        yield o


@pytest.fixture
def funded(opened, qtbot, devnet):
    devnet.faucet(opened.window.receive.address, FUNDS, mine=True)
    wait_synced(qtbot, opened.window)
    return opened


@pytest.fixture
def elsewhere(devnet):
    seed = mnemonic_to_seed(generate_mnemonic())
    wallet = CairnWallet.open(MemoryStore(), seed, Network.REGTEST, esplora_url=devnet.url)
    yield str(wallet.next_receive_address_blocking().address)
    wallet.close()


def new_window(qtbot, session) -> MainWindow:
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    return window


def close(qtbot, window: MainWindow) -> None:
    window.close()
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=10_000)


def position(widget) -> QPoint:
    """Where ``widget`` is once every pending layout request has been handled."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)
    return widget.mapTo(widget.window(), QPoint(0, 0))


def test_the_funds_error_goes_once_the_amount_is_edited_and_buttons_stay_put(
    funded, elsewhere, qtbot
):
    window = funded.window
    send = window.send
    window.tabs.setCurrentWidget(send)
    button_at = position(send.review_button)
    review(qtbot, send, elsewhere, "1")
    # In the user's unit, grouped: never a raw "2000000 sat".
    assert send.error.text().startswith(f"Not enough funds: {btc(FUNDS)} available of the ")
    assert "2000000 sat" not in send.error.text()
    assert position(send.review_button) == button_at  # the message did not push it down
    screenshot(window, "main-send-funds-error")

    send.amount.setFocus()
    qtbot.keyClick(send.amount, Qt.Key.Key_Backspace)
    assert not send.error.isVisible()  # stale the moment the amount changes
    qtbot.keyClicks(send.amount, "0.001")
    qtbot.mouseClick(send.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(send.review_box.isVisible, timeout=10_000)
    assert not send.error.isVisible()

    # A failed send shows its error below "Sign and send", which stays where it was.
    send_at = position(send.send_button)
    send.show_error("The server rejected the payment: test; nothing was sent")
    assert position(send.send_button) == send_at


def test_a_mainnet_address_is_named_as_written(opened, qtbot):
    window = opened.window
    window.tabs.setCurrentWidget(window.send)
    review(qtbot, window.send, MAINNET, "0.001")
    text = window.send.error.text()
    assert text.startswith("This is a mainnet (bitcoin) address, but this wallet is on regtest")
    assert MAINNET in text and "Bc1q" not in text


def test_copied_is_cleared_after_a_moment(opened, qtbot):
    receive = opened.window.receive
    opened.window.tabs.setCurrentWidget(receive)
    qtbot.mouseClick(receive.copy_button, Qt.MouseButton.LeftButton)
    assert receive.copied.text() == "Copied"
    assert QGuiApplication.clipboard().text() == receive.address
    qtbot.waitUntil(lambda: receive.copied.text() == "", timeout=5000)


def test_activity_columns_have_headings_aligned_with_their_text(funded):
    model = funded.window.history.model
    headings = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))]
    assert headings == ["Date", "Type", "Label", "Amount", "Fee", "Status"]
    assert headings[DIRECTION] == "Type"
    horizontal = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignRight
    for column in range(len(COLUMNS)):
        cell = model.index(0, column).data(Qt.ItemDataRole.TextAlignmentRole)
        heading = model.headerData(
            column, Qt.Orientation.Horizontal, Qt.ItemDataRole.TextAlignmentRole
        )
        cell_side = Qt.AlignmentFlag(cell or int(Qt.AlignmentFlag.AlignLeft)) & horizontal
        assert Qt.AlignmentFlag(heading) & horizontal == cell_side, COLUMNS[column]
    assert model.headerData(AMOUNT, Qt.Orientation.Horizontal, Qt.ItemDataRole.TextAlignmentRole)


def test_the_seed_banner_says_how_to_fix_it_and_encrypts_once_a_keyring_works(opened, qtbot):
    window, session = opened.window, opened.session
    banner = window.seed_warning
    assert banner.isVisible()
    assert "keyring" in banner.text_shown() and "Encrypt now" in banner.text_shown()
    qtbot.mouseClick(banner.protect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(banner.result.isVisible, timeout=5000)
    assert "Still no working keyring" in banner.result.text()
    assert session.seed_is_plain  # nothing was rewritten without a keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        qtbot.mouseClick(banner.protect_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not banner.isVisible(), timeout=5000)
        assert not session.seed_is_plain
        assert session.seed_words() == opened.words.split()
    finally:
        keyring.set_keyring(previous)


def test_the_seed_banner_can_be_hidden_on_this_computer(opened, qtbot):
    window, session = opened.window, opened.session
    qtbot.mouseClick(window.seed_warning.dismiss_button, Qt.MouseButton.LeftButton)
    assert not window.seed_warning.isVisible()
    again = new_window(qtbot, session)
    assert not again.seed_warning.isVisible()
    close(qtbot, again)
    # Machine-local: in the data dir's window state, not a (backed-up) record of the wallet.
    state = json.loads((opened.data_dir / LOCAL_STATE_NAME).read_text())
    assert state["dismissed"] == ["plain-seed-warning"]
    assert not [name for name, _ in session._store.scan("prefs/") if "warning" in name]


def test_the_window_loads_and_looks_before_it_says_the_wallet_is_empty(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    session = run(qtbot, qasync_loop, open_session(data_dir, generate_mnemonic()))
    devnet.stop()  # the chain cannot be asked yet: like the first moments after a restore
    try:
        window = new_window(qtbot, session)
        # Before anything is read: loading, not "—" and not "No transactions yet".
        assert window.balance.spendable.text() == "Loading…"
        assert window.history.empty.text() == EMPTY_TEXT["loading"]
        qtbot.waitUntil(lambda: window.history.loaded and not window.syncing, timeout=20_000)
        qtbot.waitUntil(lambda: window.history.chain_state == "offline", timeout=20_000)
        assert window.history.empty.text() == EMPTY_TEXT["offline"]
        assert window.balance.incoming.text() == "Checking the blockchain for your coins…"
        screenshot(window, "main-loading-offline")
        devnet.start()
        wait_synced(qtbot, window)
        assert window.history.empty.text() == EMPTY_TEXT["done"]
        assert window.balance.spendable.text() == btc(0)
        assert window.balance.incoming.text() == "Nothing incoming"
        close(qtbot, window)
    finally:
        devnet.start()
        run(qtbot, qasync_loop, session.close())


def test_the_window_fits_the_screen_and_keeps_the_users_size(opened, qtbot):
    window, session = opened.window, opened.session
    area = window.screen().availableGeometry()
    assert window.frameGeometry().width() <= area.width()
    assert window.height() <= area.height()
    smallest = window.minimumSizeHint()
    chosen = [smallest.width() + 7, smallest.height() + 5]
    assert chosen != [window.width(), window.height()]
    window.resize(*chosen)
    close(qtbot, window)
    state_file = opened.data_dir / LOCAL_STATE_NAME
    assert json.loads(state_file.read_text())["window_size"] == chosen
    again = new_window(qtbot, session)
    assert [again.width(), again.height()] == chosen
    close(qtbot, again)

    # A size from a bigger screen (or another scale) is fitted to this one.
    state_file.write_text(json.dumps({"window_size": [5000, 4000]}))
    big = new_window(qtbot, session)
    assert big.width() <= area.width() and big.height() <= area.height()
    close(qtbot, big)
