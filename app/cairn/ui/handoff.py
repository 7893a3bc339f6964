"""One app per data dir for payment links: a second launch with a `bitcoin:` link (a click in a
browser) hands the link to the app already running and exits, instead of opening a second
wallet window on the same files."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 1000
MAX_LINK_BYTES = 8192  # a payment link is short; anything longer is not one


def server_name(data_dir: Path) -> str:
    """The local socket name of the app running on ``data_dir`` (one per data dir and user)."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return f"cairn-{digest}"


def hand_over(data_dir: Path, link: str, timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
    """Give ``link`` to the app running on ``data_dir``; False when none is running."""
    socket = QLocalSocket()
    socket.connectToServer(server_name(data_dir))
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(link.encode("utf-8")[:MAX_LINK_BYTES] + b"\n")
    delivered = socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return delivered


def _answers(name: str) -> bool:
    probe = QLocalSocket()
    probe.connectToServer(name)
    alive = probe.waitForConnected(CONNECT_TIMEOUT_MS)
    probe.abort()
    return alive


class LinkReceiver(QObject):
    """Listens for links from later launches; ``received`` carries each one."""

    received = Signal(str)

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        name = server_name(data_dir)
        # Qt replaces a socket file in use without asking, so ask first: an app that answers
        # keeps its links; a file nobody answers on was left by a crash and is taken over.
        if _answers(name):
            log.warning("payment links from other launches go to the other Cairn running")
            return
        QLocalServer.removeServer(name)
        if not self.server.listen(name):
            log.warning("payment links from other launches cannot be received")

    @property
    def listening(self) -> bool:
        return self.server.isListening()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            connection = self.server.nextPendingConnection()
            # The sender writes its one line as soon as it is connected: read it here, briefly
            # blocking, rather than keep per-connection state alive across signals.
            data = bytearray()
            while b"\n" not in data and len(data) <= MAX_LINK_BYTES:
                if not connection.bytesAvailable() and not connection.waitForReadyRead(
                    CONNECT_TIMEOUT_MS
                ):
                    break
                data.extend(bytes(connection.readAll().data()))
            connection.abort()
            connection.setParent(None)  # Python's now: freed with this wrapper, not the server
            line = bytes(data).split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            if line.lower().startswith("bitcoin:"):
                self.received.emit(line)

    def close(self) -> None:
        self.server.close()
