"""Settings against a real cairn-backupd: back up now, export labels (BIP-329), delete the server
backup only after confirmation, show the words only after confirmation, email, and a new backup
server that receives a full backup."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

from cairn.ui.main.seed_dialog import SeedDialog
from cairn.wallet.labels import label_record_name

from .main_support import main_window, screenshot
from .wizard_support import issue_invite, run, server_record_version, server_store_info

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as o:
        o.window.tabs.setCurrentWidget(o.window.settings)
        yield o


def click(qtbot, button: QPushButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def answer(qtbot, box: QMessageBox, confirm: bool) -> None:
    """Click the box's button and return once the box has finished (its answer is handled)."""
    assert box.isVisible()
    button = box.findChild(QPushButton, "confirmButton") if confirm else box.escapeButton()
    with qtbot.waitSignal(box.finished, timeout=5_000):
        button.click()


def test_back_up_now_and_export_labels_to_a_bip329_file(
    opened, qtbot, qasync_loop, devnet, backupd, tmp_path
):
    window, session = opened.window, opened.session
    settings, wallet = window.settings, session.wallet
    qtbot.waitUntil(lambda: window.receive.address != "", timeout=10_000)
    address = window.receive.address
    txid = devnet.faucet(address, 100_000, mine=True)
    run(qtbot, qasync_loop, wallet.set_label("addr", address, "from the faucet"))
    run(qtbot, qasync_loop, wallet.set_label("tx", txid, "test coins, ünïcode ✓"))

    # With the server down, "Back up now" says so beside the button and the status bar agrees.
    backupd.stop()
    # A change made while it is down (with nothing pending there is nothing to fail).
    run(qtbot, qasync_loop, session.set_email("ada@example.org"))
    click(qtbot, settings.back_up_button)
    qtbot.waitUntil(lambda: settings.back_up_button.isEnabled(), timeout=20_000)
    assert "could not be reached" in settings.backup_result.text(), settings.backup_result.text()
    assert settings.backup_result.objectName() == "error"
    assert window.backup_status.text.tone in ("warn", "error")
    backupd.start()

    click(qtbot, settings.back_up_button)
    qtbot.waitUntil(lambda: settings.backup_result.text() == "Backed up.", timeout=20_000)
    # The status bar agrees once the uploader's own round (the wallet's sync of the faucet's
    # payment may have written since) is over too.
    qtbot.waitUntil(lambda: window.backup_status.headline.text() == "Backed up", timeout=10_000)
    assert settings.back_up_button.isEnabled()
    status = session.backup_status.current
    assert status.pending_changes == 0 and status.last_success is not None

    target = tmp_path / "exported" / "labels.jsonl"
    target.parent.mkdir()
    dialog = settings.choose_export_file()
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    dialog.selectFile(str(target))
    dialog.accept()
    qtbot.waitUntil(lambda: "exported" in settings.export_result.text(), timeout=10_000)
    assert settings.export_result.text() == f"2 labels exported to {target}."
    lines = target.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert {(e["type"], e["ref"], e["label"]) for e in entries} == {
        ("addr", address, "from the faucet"),
        ("tx", txid, "test coins, ünïcode ✓"),
    }


def test_import_labels_from_a_file_merges_them_says_what_was_skipped_and_backs_them_up(
    opened, qtbot, qasync_loop, devnet, backupd, tmp_path
):
    window, session = opened.window, opened.session
    settings, wallet = window.settings, session.wallet
    qtbot.waitUntil(lambda: window.receive.address != "", timeout=10_000)
    address = window.receive.address
    txid = devnet.faucet(address, 100_000, mine=True)
    run(qtbot, qasync_loop, wallet.set_label("tx", txid, "mine already"))
    qtbot.waitUntil(lambda: session.backup_status.current.pending_changes == 0, timeout=20_000)
    label_record = label_record_name("addr", address)
    assert (
        run(qtbot, qasync_loop, server_record_version(backupd.url, opened.words, label_record)) == 0
    )

    sparrow = tmp_path / "sparrow-labels.jsonl"
    sparrow.write_bytes(
        b"\n".join(
            [
                json.dumps({"type": "addr", "ref": address, "label": "from Sparrow"}).encode(),
                json.dumps(
                    {"type": "tx", "ref": txid, "origin": "wpkh([d34db33f/84'/1'/0'])"}
                ).encode(),
                b"{ this is not json",
                json.dumps(
                    {
                        "type": "addr",
                        "ref": "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
                        "label": "m",
                    }
                ).encode(),
                json.dumps({"type": "tx", "ref": txid, "label": "x" * 80_000}).encode(),
            ]
        )
    )
    dialog = settings.choose_import_file()
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    dialog.selectFile(str(sparrow))
    dialog.accept()
    qtbot.waitUntil(lambda: settings.import_button.isEnabled(), timeout=10_000)
    qtbot.waitUntil(lambda: "imported" in settings.import_result.text(), timeout=10_000)
    assert settings.import_result.text() == (
        "2 labels imported. 3 lines skipped (line 3: not valid JSON; line 4: a mainnet "
        "(bitcoin) address, but this wallet is on regtest; line 5: longer than 64 KiB, "
        "not a label)."
    )
    assert settings.import_result.objectName() == "warning"
    assert wallet.label("addr", address) == "from Sparrow"
    assert wallet.label("tx", txid) == "mine already"  # the file had no text for it: kept
    # Shown where the label is shown, and backed up like any label change.
    assert [item.shown_label for item in window.history.model.items] in ([], ["mine already"])
    # Backed up like any label change: the address's label record reaches the server (other
    # records, such as the chain data of the payment, may go up meanwhile too).
    for _ in range(80):
        version = run(
            qtbot, qasync_loop, server_record_version(backupd.url, opened.words, label_record)
        )
        if version:
            break
        qtbot.wait(250)
    assert version > 0

    # A file that cannot be read: said so, nothing changes.
    settings.import_labels(tmp_path / "missing.jsonl")
    qtbot.waitUntil(lambda: "could not be read" in settings.import_result.text(), timeout=5000)
    assert settings.import_result.objectName() == "error"
    assert wallet.label("addr", address) == "from Sparrow"


def test_delete_backup_asks_first_then_removes_the_server_store(
    opened, qtbot, qasync_loop, backupd
):
    settings, words = opened.window.settings, opened.words
    before = run(qtbot, qasync_loop, server_store_info(backupd.url, words))
    assert before.objects > 0

    qtbot.waitUntil(lambda: not settings.tasks.busy, timeout=10_000)
    box = settings.ask_delete_backup()
    screenshot(opened.window, "main-delete-confirmation")
    answer(qtbot, box, confirm=False)
    # A confirmed delete starts (and says "Deleting…") as the box finishes: after Cancel,
    # nothing did.
    assert not settings.tasks.busy
    assert not settings.delete_result.isVisible()
    # Cancel deleted nothing (the store may have grown meanwhile: uploads go on).
    assert run(qtbot, qasync_loop, server_store_info(backupd.url, words)).objects >= before.objects

    box = settings.ask_delete_backup()
    answer(qtbot, box, confirm=True)
    qtbot.waitUntil(lambda: "deleted" in settings.delete_result.text(), timeout=10_000)
    assert settings.delete_result.text() == "The backup on the server was deleted."
    after = run(qtbot, qasync_loop, server_store_info(backupd.url, words))
    # Erased: the old life of the store is gone (whatever this app uploads next starts a new
    # one, which names the erased one so that other devices can tell).
    assert after.state.erased or after.state.incarnation != before.state.incarnation


def test_words_only_after_confirmation_email_and_a_new_server_gets_a_full_backup(
    opened, qtbot, qasync_loop, backupd_factory
):
    window, session, settings = opened.window, opened.session, opened.window.settings

    qtbot.waitUntil(lambda: not settings.tasks.busy, timeout=10_000)
    click(qtbot, settings.show_seed_button)
    box = settings.findChild(QMessageBox, "confirmation")
    assert box is not None and box.isVisible()
    assert settings.findChild(SeedDialog) is None
    answer(qtbot, box, confirm=False)
    # Showing the words starts as the box finishes: after Cancel, no reading of the seed began.
    assert not settings.tasks.busy
    assert settings.findChild(SeedDialog) is None
    box = settings.ask_show_seed()
    answer(qtbot, box, confirm=True)
    qtbot.waitUntil(lambda: settings.findChild(SeedDialog) is not None, timeout=5000)
    dialog = settings.findChild(SeedDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.words == opened.words.split()
    assert all(
        label.textInteractionFlags() == Qt.TextInteractionFlag.NoTextInteraction
        for label in dialog.word_labels
    )
    dialog.accept()

    settings.email_edit.clear()
    qtbot.keyClicks(settings.email_edit, "not an email")
    click(qtbot, settings.save_email_button)
    assert "does not look like an email" in settings.email_result.text()
    settings.email_edit.clear()
    qtbot.keyClicks(settings.email_edit, "ada@example.org")
    click(qtbot, settings.save_email_button)
    qtbot.waitUntil(lambda: settings.email_result.text() == "Email saved.", timeout=5000)
    assert session.email == "ada@example.org"
    screenshot(window, "main-settings")

    # Switching network is the app's job (another wallet dir): the window asks for it.
    settings.network_combo.setCurrentText("regtest")
    click(qtbot, settings.switch_network_button)
    assert settings.network_result.text() == "You are already on regtest."
    settings.network_combo.setCurrentText("testnet")
    with qtbot.waitSignal(window.network_change_requested, timeout=1000) as asked:
        click(qtbot, settings.switch_network_button)
    assert asked.args == ["testnet"]

    settings.server_edit.setText("backup.example.org")
    click(qtbot, settings.change_server_button)
    assert "such as https://" in settings.server_result.text()
    settings.server_edit.setText("http://backup.example.org")
    click(qtbot, settings.change_server_button)
    assert "Use https" in settings.server_result.text()
    assert session.backup_server_url != "http://backup.example.org"

    second = backupd_factory()
    settings.server_edit.setText(second.url + "/")
    click(qtbot, settings.change_server_button)
    qtbot.waitUntil(
        lambda: "Everything is backed up" in settings.server_result.text(), timeout=20_000
    )
    assert session.backup_server_url == second.url
    info = run(qtbot, qasync_loop, server_store_info(second.url, opened.words))
    assert info.objects >= 4  # descriptor, changesets, revealed index, email, …
    assert session.backup_status.current.pending_changes == 0
    # The status bar follows the new engine.
    assert window.backup_status.signals.status is session.backup_status
    assert second.url in window.backup_status.toolTip()
    assert window.backup_status.headline.text() == "Backed up"


def test_moving_to_an_invite_only_server_takes_the_invite_code_typed_in_settings(
    opened, qtbot, qasync_loop, backupd_factory, monkeypatch
):
    monkeypatch.delenv("CAIRN_BACKUP_INVITE", raising=False)
    session, settings = opened.session, opened.window.settings
    server = backupd_factory(env={"CAIRN_BACKUPD_REGISTRATION": "invite"})
    invite = issue_invite(server.db)
    qtbot.waitUntil(lambda: not settings.tasks.busy, timeout=10_000)
    settings.server_edit.setText(server.url)
    click(qtbot, settings.change_server_button)
    qtbot.waitUntil(lambda: settings.change_server_button.isEnabled(), timeout=20_000)
    assert "takes new wallets by invite only" in settings.server_result.text()

    qtbot.keyClicks(settings.invite_edit, "12345")
    click(qtbot, settings.use_invite_button)
    assert "32 characters" in settings.invite_result.text()
    settings.invite_edit.clear()
    qtbot.keyClicks(settings.invite_edit, invite.upper())
    click(qtbot, settings.use_invite_button)
    qtbot.waitUntil(
        lambda: settings.invite_result.text() == "Backed up with the invite code.", timeout=20_000
    )
    assert settings.invite_edit.text() == invite
    assert session.backup_invite == invite
    info = run(qtbot, qasync_loop, server_store_info(server.url, opened.words))
    assert info.objects >= 4
    assert json.loads((opened.data_dir / "config.json").read_text())["backup_invite"] == invite
