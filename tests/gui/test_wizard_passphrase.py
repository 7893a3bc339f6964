"""A BIP39 passphrase as an advanced option: typed twice, kept with the words, and the restore
finds the backup only with it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cairn.backup.client import BackupNotFound, RemoteBackupClient
from cairn.keys import Network, derive_backup_keys, mnemonic_to_seed
from cairn.onboarding import View
from cairn.session import Session
from cairn.ui.app import CairnApp
from cairn.ui.wizard.loading import LoadingPage
from cairn.ui.wizard.seed import ShowWordsPage
from cairn.ui.wizard.welcome import WelcomePage
from tests.support.words import PHRASE

from .wizard_support import data_dir_for, run, wait_for_main_window

pytestmark = pytest.mark.gui

PASSPHRASE = "stone on stone"


async def backed_up_passphrase_wallet(data_dir) -> str:
    session = await Session.open(data_dir)
    try:
        await session.create_wallet(PHRASE.split(), email="pp@example.com", passphrase=PASSPHRASE)
        await session.run_initial_backup()
        return (await session.wallet.next_receive_address()).address
    finally:
        await session.close()


async def objects_in_store(url: str, words: str, passphrase: str) -> int:
    keys = derive_backup_keys(mnemonic_to_seed(words, passphrase))
    client = RemoteBackupClient(url, keys, Network.REGTEST.value)
    try:
        return (await client.store_info()).objects
    except BackupNotFound:
        return 0
    finally:
        await client.aclose()


def open_welcome(qtbot, app: CairnApp) -> WelcomePage:
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    page = app.wizard_window.current_page
    assert isinstance(page, WelcomePage)
    qtbot.mouseClick(page.advanced_button, Qt.MouseButton.LeftButton)
    return page


def test_restore_with_the_passphrase_brings_the_wallet_back(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    first_address = run(
        qtbot,
        qasync_loop,
        backed_up_passphrase_wallet(data_dir_for(tmp_path / "old", backupd.url, devnet.url)),
        timeout=60_000,
    )
    app = CairnApp(data_dir_for(tmp_path / "new", backupd.url, devnet.url))
    welcome = open_welcome(qtbot, app)
    window = app.wizard_window
    assert welcome.passphrase_field.echoMode() == welcome.passphrase_field.EchoMode.Password
    qtbot.keyClicks(welcome.passphrase_field, PASSPHRASE)
    qtbot.keyClicks(welcome.passphrase_again_field, PASSPHRASE + "!")
    qtbot.mouseClick(welcome.restore_button, Qt.MouseButton.LeftButton)
    # A typo in the repetition: refused on the spot, said next to the fields.
    assert app.wizard.view is View.WELCOME
    assert welcome.problem.isVisible()
    assert "passphrases differ" in welcome.problem.text()
    welcome.passphrase_again_field.clear()
    qtbot.keyClicks(welcome.passphrase_again_field, PASSPHRASE)
    assert not welcome.problem.isVisible()
    qtbot.mouseClick(welcome.restore_button, Qt.MouseButton.LeftButton)

    page = window.current_page
    for field, word in zip(page.fields, PHRASE.split(), strict=True):
        qtbot.keyClicks(field, word)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)
    session = app.session
    assert session.has_passphrase
    assert session.email == "pp@example.com"
    # The same keys: the restored wallet's first receive address is the old one's (the window
    # may already have handed it out, and the reservation then moved on to the next).
    run(qtbot, qasync_loop, session.wallet.next_receive_address())
    receive = [a for a in session.wallet.addresses() if a.keychain == "receive"]
    assert min(receive, key=lambda a: a.index).address == first_address
    run(qtbot, qasync_loop, app.shutdown())


def test_the_words_without_the_passphrase_find_no_backup_and_say_why(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    run(
        qtbot,
        qasync_loop,
        backed_up_passphrase_wallet(data_dir_for(tmp_path / "old", backupd.url, devnet.url)),
        timeout=60_000,
    )
    app = CairnApp(data_dir_for(tmp_path / "new", backupd.url, devnet.url))
    welcome = open_welcome(qtbot, app)
    window = app.wizard_window
    for field in (welcome.passphrase_field, welcome.passphrase_again_field):
        qtbot.keyClicks(field, "stone on stones")  # the same twice, but not the right one
    qtbot.mouseClick(welcome.restore_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    for field, word in zip(page.fields, PHRASE.split(), strict=True):
        qtbot.keyClicks(field, word)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    qtbot.waitUntil(loading.problem.isVisible, timeout=30_000)
    assert "No backup was found for these words and this passphrase" in loading.problem.text()
    assert "Check the passphrase" in loading.problem.text()
    assert not app.session.has_wallet
    run(qtbot, qasync_loop, app.shutdown())


def test_creating_with_a_passphrase_says_to_write_it_down_and_keeps_it(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    app = CairnApp(data_dir_for(tmp_path / "data", backupd.url, devnet.url))
    welcome = open_welcome(qtbot, app)
    window, wizard = app.wizard_window, app.wizard
    for field in (welcome.passphrase_field, welcome.passphrase_again_field):
        qtbot.keyClicks(field, PASSPHRASE)
    qtbot.mouseClick(welcome.create_button, Qt.MouseButton.LeftButton)
    show = window.current_page
    assert isinstance(show, ShowWordsPage)
    assert show.passphrase_note.isVisible()
    words = wizard.state.words
    wizard.next()
    wizard.update(confirm_answers=tuple(words[p] for p in wizard.state.confirm_positions))
    wizard.next()
    wizard.update(acknowledged=True)
    wizard.next()
    qtbot.mouseClick(window.skip_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)
    assert app.session.has_passphrase
    assert app.session.seed_words() == list(words)
    # The first backup is under the keys of the words and the passphrase, not the words alone.
    phrase = " ".join(words)
    assert run(qtbot, qasync_loop, objects_in_store(backupd.url, phrase, PASSPHRASE)) >= 2
    assert run(qtbot, qasync_loop, objects_in_store(backupd.url, phrase, "")) == 0
    run(qtbot, qasync_loop, app.shutdown())
