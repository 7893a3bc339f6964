"""The start resolver picks the first screen from what the data dir holds."""

from __future__ import annotations

from cairn.onboarding import Flow, LoadingTask, View, WalletPresence, Wizard, start_state


def test_no_wallet_starts_at_welcome():
    state = start_state(WalletPresence.NONE, "https://b.example.com")
    assert state.view is View.WELCOME
    assert state.server_configured


def test_existing_wallet_opens_the_main_window():
    assert start_state(WalletPresence.READY, "https://b.example.com").view is View.MAIN


def test_upgrade_runs_the_full_backup_first(context):
    state = start_state(WalletPresence.NEEDS_FULL_BACKUP, "https://b.example.com")
    assert state.view is View.LOADING
    assert state.flow is Flow.UPGRADE
    assert state.loading_task is LoadingTask.UPGRADE_FULL_BACKUP
    wizard = Wizard(state, context=context)
    assert not wizard.can_go_back
    assert wizard.next()
    assert wizard.view is View.MAIN


def test_upgrade_without_a_server_asks_for_one_then_backs_up(context):
    state = start_state(WalletPresence.NEEDS_FULL_BACKUP, None)
    assert state.view is View.BACKUP_SERVER
    wizard = Wizard(state, context=context)
    wizard.update(backup_server_url="https://b.example.com")
    assert wizard.next()
    assert wizard.view is View.LOADING
    assert wizard.state.loading_task is LoadingTask.UPGRADE_FULL_BACKUP
