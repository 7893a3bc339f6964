"""The start of an existing wallet: the main window is on screen before the wallet is open, says
it is loading, and fills in (its actions enabled) once the wallet is open."""

from __future__ import annotations

import pytest

from cairn.exitcodes import EXIT_DAMAGED
from cairn.ui.app import CairnApp
from cairn.ui.main.wallet_loading import LOADING_TITLE

from .test_app import existing_wallet
from .wizard_support import data_dir_for, run

pytestmark = pytest.mark.gui


def _state(app: CairnApp) -> dict[str, object]:
    window = app.main_window
    assert window is not None and app.session is not None
    return {
        "visible": window.isVisible(),
        "wallet open": app.session.wallet_is_open,
        "loaded": window.loaded,
        "says": window.wallet_loading.title.text() if not window.loaded else None,
        "refresh": window.refresh_button.isEnabled(),
        "faucet": window.faucet_button.isEnabled(),
        "backup actions": window.backup_actions.isEnabled(),
        "backup status": window.backup_status.isVisible(),
        "tabs": hasattr(window, "tabs"),
    }


def test_the_main_window_shows_before_the_wallet_is_open_and_fills_in_once_it_is(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    app = CairnApp(data_dir)
    at_first_frame: list[dict[str, object]] = []
    loaded: list[dict[str, object]] = []

    def first_frame() -> None:
        at_first_frame.append(_state(app))
        assert app.main_window is not None
        app.main_window.wallet_loaded.connect(lambda: loaded.append(_state(app)))

    app.main_shown.connect(first_frame)
    try:
        with qtbot.waitSignal(app.main_shown, timeout=20_000):
            app.start()
        assert at_first_frame == [
            {
                "visible": True,
                "wallet open": False,
                "loaded": False,
                "says": LOADING_TITLE,
                "refresh": False,
                "faucet": False,
                "backup actions": False,
                "backup status": False,
                "tabs": False,
            }
        ]
        qtbot.waitUntil(lambda: bool(loaded), timeout=30_000)  # the wallet_loaded signal
        assert loaded == [
            {
                "visible": True,
                "wallet open": True,
                "loaded": True,
                "says": None,
                "refresh": True,
                "faucet": True,
                "backup actions": True,
                "backup status": True,
                "tabs": True,
            }
        ]
        window = app.main_window
        assert window is not None
        assert window.pages.currentWidget() is window.tabs and window.tabs.isVisible()
        # The wallet's own figures arrive as they always did: the balance is read, the address
        # shown, the backup status is the running engine's.
        qtbot.waitUntil(
            lambda: window.balance.loaded and bool(window.receive.address), timeout=20_000
        )
        assert window.backup_status.signals.status is app.session.backup_status
    finally:
        run(qtbot, qasync_loop, app.shutdown())


def test_a_wallet_that_cannot_be_opened_is_told_in_the_window_and_as_before(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    # Damaged after the wallet was made: the start finds a seed file, opening it fails.
    (data_dir / "wallets" / "regtest" / "seed").write_text("{ not a seed file")
    app = CairnApp(data_dir, quit_when_ready=True)
    try:
        with qtbot.waitSignal(app.finished, timeout=30_000) as finished:
            app.start()
        assert finished.args == [EXIT_DAMAGED]
        window = app.main_window
        assert window is not None and not window.loaded
        assert window.wallet_loading.title.text() == "The wallet could not be opened"
        assert "seed" in window.wallet_loading.problem.text()
        assert not window.refresh_button.isEnabled()
    finally:
        run(qtbot, qasync_loop, app.shutdown())
