"""Free loopback ports for the servers tests start.

Asking the kernel for port 0 and closing the socket leaves a window in which another process
may be handed the same port; with the suite running on several workers at once, two of them
did get one port, and a server's readiness check answered from the other worker's server.
So each pytest-xdist worker picks from a range of its own, below the kernel's ephemeral range
(which the kernel hands out for port 0 and outgoing connections), and checks that it binds.
"""

from __future__ import annotations

import os
import random
import socket

_BASE = 10_000
_SPAN = 2_000  # ports per worker; 10 workers fit below the ephemeral range at 32768


def _worker_range() -> range | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not worker[2:].isdigit():
        return None
    start = _BASE + int(worker[2:]) % 10 * _SPAN
    return range(start, start + _SPAN)


def free_port() -> int:
    """A loopback TCP port nobody listens on now (the worker's own range under xdist)."""
    candidates = _worker_range()
    if candidates is not None:
        for port in random.sample(candidates, 50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
