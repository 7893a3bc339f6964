"""Payment links reach the app already running on a data dir; a crashed app's socket is taken
over, a live one never is."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PySide6.QtCore import QDir

from cairn.cli import build_parser
from cairn.ui.handoff import LinkReceiver, hand_over, server_name

pytestmark = pytest.mark.gui

LINK = "bitcoin:bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk?amount=0.001&label=Carol"


def test_a_second_launch_hands_its_link_to_the_running_app(qtbot, tmp_path):
    assert not hand_over(tmp_path, LINK, timeout_ms=200)  # nothing running yet
    receiver = LinkReceiver(tmp_path)
    try:
        assert receiver.listening
        with qtbot.waitSignal(receiver.received, timeout=5000) as got:
            assert hand_over(tmp_path, LINK)
        assert got.args == [LINK]
        # Another data dir is another app: the link does not go here.
        assert not hand_over(tmp_path / "other", LINK, timeout_ms=200)
    finally:
        receiver.close()


def test_a_live_app_keeps_its_links_and_a_dead_socket_is_taken_over(qtbot, tmp_path):
    first = LinkReceiver(tmp_path)
    second = LinkReceiver(tmp_path)  # a second launch without a link
    try:
        assert first.listening and not second.listening
        with qtbot.waitSignal(first.received, timeout=5000):
            assert hand_over(tmp_path, LINK)
    finally:
        first.close()
        second.close()

    # What a crashed app leaves: a socket file nobody listens on.
    path = Path(QDir.tempPath()) / server_name(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))
    assert path.exists()
    again = LinkReceiver(tmp_path)
    try:
        assert again.listening
        with qtbot.waitSignal(again.received, timeout=5000):
            assert hand_over(tmp_path, LINK)
    finally:
        again.close()


def test_the_command_line_takes_a_link_for_the_app():
    parsed = build_parser().parse_args(["--data-dir", "/tmp/x", LINK])
    assert (parsed.command, parsed.payment_link, parsed.data_dir) == (None, LINK, "/tmp/x")
    assert build_parser().parse_args([]).payment_link is None
