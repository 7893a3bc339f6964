"""Without a system keyring the seed file is plain, and the main window says so plainly."""

from __future__ import annotations

import keyring
import keyring.backend
import pytest

from .main_support import main_window, screenshot

pytestmark = pytest.mark.gui


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = -1  # type: ignore[assignment]  # only when a test sets it

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


def test_a_plain_seed_file_shows_a_warning(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as opened:
        assert opened.session.seed_is_plain
        assert opened.window.seed_warning.isVisible()
        assert "unencrypted" in opened.window.seed_warning.text_shown()
        screenshot(opened.window, "main-plain-seed")


def test_a_seed_under_a_keyring_key_shows_no_warning(qasync_loop, qtbot, tmp_path, backupd, devnet):
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        with main_window(qtbot, qasync_loop, tmp_path / "data", backupd.url, devnet.url) as o:
            assert not o.session.seed_is_plain
            assert not o.window.seed_warning.isVisible()
    finally:
        keyring.set_keyring(previous)
