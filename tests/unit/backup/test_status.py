"""BackupStatus notifies on change only, and a failing listener does not stop the others."""

from __future__ import annotations

from cairn.backup.status import BackupState, BackupStatus


def test_listeners_hear_changes_and_only_changes():
    status = BackupStatus("http://server")
    seen = []
    unsubscribe = status.subscribe(seen.append)
    status.update(state=BackupState.UPLOADING, pending_changes=3)
    status.update(state=BackupState.UPLOADING, pending_changes=3)
    status.update(state=BackupState.IDLE, pending_changes=0, last_success=10.0)
    assert [(s.state, s.pending_changes) for s in seen] == [
        (BackupState.UPLOADING, 3),
        (BackupState.IDLE, 0),
    ]
    assert status.current.server_url == "http://server"
    unsubscribe()
    status.update(state=BackupState.OFFLINE)
    assert len(seen) == 2


def test_a_failing_listener_is_logged_and_skipped(caplog):
    status = BackupStatus()
    seen = []

    def broken(_snapshot):
        raise RuntimeError("bug in a listener")

    status.subscribe(broken)
    status.subscribe(seen.append)
    status.update(state=BackupState.ERROR, last_error="server refused")
    assert seen[-1].last_error == "server refused"
    assert "listener failed" in caplog.text
