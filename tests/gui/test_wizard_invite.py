"""A backup server that takes new wallets by invite only: the new user types the invite code the
operator gave them on the server page, and the first backup goes up with it."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.wizard.loading import LoadingPage
from cairn.ui.wizard.server import BackupServerPage

from .wizard_support import (
    create_past_the_email,
    data_dir_for,
    issue_invite,
    run,
    server_store_info,
    wait_for_main_window,
)

pytestmark = pytest.mark.gui


def test_a_new_wallet_backs_up_to_an_invite_only_server_with_the_code_typed_in(
    qasync_loop, qtbot, tmp_path, backupd_factory, devnet, monkeypatch
):
    monkeypatch.delenv("CAIRN_BACKUP_INVITE", raising=False)
    server = backupd_factory(env={"CAIRN_BACKUPD_REGISTRATION": "invite"})
    invite = issue_invite(server.db)
    data_dir = data_dir_for(tmp_path / "data", None, devnet.url)
    app = CairnApp(data_dir)
    words = create_past_the_email(qtbot, app)
    window, wizard = app.wizard_window, app.wizard

    page = window.current_page
    assert isinstance(page, BackupServerPage)
    assert page.invite_field.isVisible()
    qtbot.keyClicks(page.field, server.url)
    # No invite yet: the server refuses the first backup and the loading page says why.
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    qtbot.waitUntil(lambda: loading.problem.isVisible(), timeout=30_000)
    assert "takes new wallets by invite only" in loading.problem.text()
    assert "Enter the invite code its operator gave you" in loading.problem.text()

    qtbot.mouseClick(loading.change_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, BackupServerPage)
    # A mistyped code is refused on the page, before anything is sent.
    qtbot.keyClicks(page.invite_field, "not-an-invite")
    assert "32 characters" in page.problem.text()
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    assert wizard.view is View.BACKUP_SERVER
    page.invite_field.clear()
    # Pasted as the operator's mail had it: capitals and a space around it are the same code.
    qtbot.keyClicks(page.invite_field, f" {invite.upper()} ")
    assert page.problem.text() == ""
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)

    info = run(qtbot, qasync_loop, server_store_info(server.url, " ".join(words)))
    assert info.objects >= 2
    config = json.loads((data_dir / "config.json").read_text())
    assert config["backup_invite"] == invite
    run(qtbot, qasync_loop, app.shutdown())
