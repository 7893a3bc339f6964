"""Upgrade from format 1, in the app: the committed legacy wallet is migrated when the app
starts, the full-backup screen comes first (and waits out a backup server that is down), then the main
window shows the legacy wallet's history, labels and balance, served by the chain it came from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.localstate import full_backup_reason
from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.main.formatting import sats_text
from cairn.ui.wizard.loading import LoadingPage
from cairn.upgrade import FULL_BACKUP_REASON, detect_format
from tests.integration.upgrade.helpers import FIXTURE, INPUTS, REPORT, copy_fixture
from tests.support.devnet import DevnetProcess

from .wizard_support import data_dir_for, run, server_store_info, wait_for_main_window

pytestmark = pytest.mark.gui


@pytest.fixture
def fixture_chain(tmp_path: Path):
    """A devnet serving the chain the legacy fixture was made on."""
    workdir = tmp_path / "chain"
    workdir.mkdir()
    shutil.copy(FIXTURE / "devnet.sqlite", workdir / "devnet.sqlite")
    node = DevnetProcess(workdir)
    node.start()
    yield node
    node.close()


def test_legacy_wallet_gets_its_full_backup_before_the_main_window(
    qasync_loop, qtbot, tmp_path, backupd, fixture_chain
):
    data_dir = tmp_path / "data"
    wallet_dir = copy_fixture(data_dir)
    data_dir_for(data_dir, backupd.url, fixture_chain.url)
    assert detect_format(wallet_dir) == 1
    backupd.stop()

    app = CairnApp(data_dir)
    seen: list[FullBackupProgress] = []
    app.start()
    qtbot.waitUntil(
        lambda: app.wizard_window is not None or app.main_window is not None, timeout=10_000
    )
    assert app.main_window is None, "the main window must wait for the full backup"
    assert detect_format(wallet_dir) == 2  # migrated at start, before anything read it
    assert not (wallet_dir / "seed.txt").exists()
    assert app.wizard.history == (View.LOADING,)
    loading = app.wizard_window.current_page
    assert isinstance(loading, LoadingPage)
    assert loading.heading.text() == "Backing up your wallet"
    loading.progress_changed.connect(seen.append)

    # The server is down: the screen says so and offers to try again; nothing is lost.
    qtbot.waitUntil(lambda: loading.retry_button.isVisible(), timeout=20_000)
    assert "could not be reached" in loading.problem.text()
    assert app.main_window is None
    assert app.session.backup_status.current.full_backup_reason == FULL_BACKUP_REASON

    backupd.start()
    loading.retry_button.click()
    wait_for_main_window(qtbot, app, timeout=30_000)

    # The engine's own reports reach the page, byte counts included.
    assert any(p.total > 0 and p.done == p.total and p.bytes_sent > 0 for p in seen), seen
    session = app.session
    assert session.backup_status.current.full_backup_reason is None
    assert full_backup_reason(session._store) is None
    info = run(qtbot, qasync_loop, server_store_info(backupd.url, INPUTS["mnemonic"]))
    assert info.objects >= 14  # changeset, descriptor, revealed x2, 3 prefs, 7 labels, ...

    window = app.main_window
    txids = REPORT["funding"] + REPORT["payment"] + REPORT["pending"]
    qtbot.waitUntil(
        lambda: {item.txid for item in window.history.model.items} == set(txids), timeout=20_000
    )
    items = {item.txid: item for item in window.history.model.items}
    assert items[REPORT["funding"][0]].label == "Salary"
    assert items[REPORT["payment"][0]].label == "Rent"
    confirmed_sat = REPORT["balance_sat"] - INPUTS["pending_funding"][0]
    # The first release's unit preference ("sat") is carried over and now honoured.
    assert INPUTS["settings"]["unit"] == "sat"
    qtbot.waitUntil(
        lambda: window.balance.spendable.text() == sats_text(confirmed_sat), timeout=20_000
    )
    assert session.email == INPUTS["settings"]["email"]
    run(qtbot, qasync_loop, app.shutdown())
