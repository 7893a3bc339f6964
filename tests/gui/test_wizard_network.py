"""The network as an advanced choice on the welcome screen: the wallet is made on it, its first
backup goes to that network's store, and config.json keeps it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cairn.backup.client import BackupNotFound, RemoteBackupClient
from cairn.config import load_config, save_config, wallet_dir
from cairn.keys import Network, derive_backup_keys, mnemonic_to_seed
from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.wizard.welcome import WelcomePage

from .wizard_support import data_dir_for, run, wait_for_main_window

pytestmark = pytest.mark.gui


async def objects_in_store(url: str, words: str, network: Network) -> int:
    client = RemoteBackupClient(url, derive_backup_keys(mnemonic_to_seed(words)), network.value)
    try:
        return (await client.store_info()).objects
    except BackupNotFound:
        return 0
    finally:
        await client.aclose()


def choose_network(qtbot, page: WelcomePage, network: Network) -> None:
    assert not page.advanced.isVisible()  # folded away until asked for
    qtbot.mouseClick(page.advanced_button, Qt.MouseButton.LeftButton)
    assert page.advanced.isVisible()
    page.network_box.setCurrentIndex(page.network_box.findData(network.value))


def test_a_wallet_created_on_testnet_is_kept_as_testnet(qasync_loop, qtbot, tmp_path, backupd):
    data = data_dir_for(tmp_path / "data", backupd.url, "http://127.0.0.1:9")
    save_config(data, load_config(data).with_changes(network=Network.BITCOIN))
    app = CairnApp(data)
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window, wizard = app.wizard_window, app.wizard
    welcome = window.current_page
    assert isinstance(welcome, WelcomePage)
    assert not window.network_badge.isVisible()
    choose_network(qtbot, welcome, Network.TESTNET)
    assert wizard.state.network is Network.TESTNET
    assert window.network_badge.text() == "testnet · test coins only"

    qtbot.mouseClick(welcome.create_button, Qt.MouseButton.LeftButton)
    words = wizard.state.words
    wizard.next()
    wizard.update(confirm_answers=tuple(words[p] for p in wizard.state.confirm_positions))
    wizard.next()
    wizard.update(acknowledged=True)
    wizard.next()
    qtbot.mouseClick(window.skip_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)

    assert View.MAIN in app.wizard.history
    saved = load_config(data)
    assert saved.network is Network.TESTNET
    assert saved.backup_server_url == backupd.url
    assert (wallet_dir(data, Network.TESTNET) / "seed").exists()
    assert not (wallet_dir(data, Network.BITCOIN) / "seed").exists()
    phrase = " ".join(words)
    assert run(qtbot, qasync_loop, objects_in_store(backupd.url, phrase, Network.TESTNET)) >= 2
    assert run(qtbot, qasync_loop, objects_in_store(backupd.url, phrase, Network.BITCOIN)) == 0
    run(qtbot, qasync_loop, app.shutdown())


def test_back_to_welcome_shows_the_network_chosen(qasync_loop, qtbot, tmp_path):
    app = CairnApp(data_dir_for(tmp_path / "data", "https://backup.example.com", "http://x:9"))
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window = app.wizard_window
    welcome = window.current_page
    # The data dir is set up for regtest: the choice starts there, and the brand bar says so.
    assert window.network_badge.text() == "regtest · test coins only"
    assert welcome.network_box.currentData() == "regtest"
    welcome.network_box.setCurrentIndex(welcome.network_box.findData("signet"))
    qtbot.mouseClick(welcome.restore_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.back_button, Qt.MouseButton.LeftButton)
    assert window.current_page is welcome
    assert welcome.network_box.currentData() == "signet"
    assert app.wizard.state.network is Network.SIGNET
    run(qtbot, qasync_loop, app.shutdown())
