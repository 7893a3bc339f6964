"""`cairn demo`: a local devnet and backup server as child processes, on loopback.

Their state lives in `<data dir>/demo/`; the ports they got last time are remembered there and
reused, so the demo wallet keeps talking to the same backup server URL across runs: a wallet
takes a new URL for a new server, and would upload everything again.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from cairn.config import AppConfig, ConfigError, load_config, save_config
from cairn.files import make_private_dir
from cairn.keys import Network

log = logging.getLogger(__name__)

PORTS_FILE = "ports.json"
DEFAULT_PORTS = {"devnet": 3002, "backupd": 8470}
START_TIMEOUT = 30.0
# How long a remembered port may stay taken (a previous demo still shutting down) before the
# demo gives up on it.
PORT_WAIT = 5.0


class DemoError(RuntimeError):
    """A demo service did not start; the message says which and where its log is."""


def _port_free(port: int) -> bool:
    """Free for a server: nothing listens on it. SO_REUSEADDR as the services bind with it, so
    the connections of a demo that just stopped (TIME_WAIT) do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _any_free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in taken:
            return port


def _wait_until_free(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _port_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _remembered_backupd_in_use(demo_dir: Path, port: int) -> bool:
    """True when the demo wallet already backs up to the demo server on `port`."""
    try:
        config = load_config(demo_dir)
    except (ConfigError, OSError):
        return False
    return config.backup_server_url == f"http://127.0.0.1:{port}"


def choose_ports(demo_dir: Path) -> dict[str, int]:
    """The ports remembered in the demo dir, else the defaults, else any free port.

    The backup server's remembered port is never given up while the demo wallet uses it: on
    another port the same server would look like a new one to the wallet.
    """
    try:
        previous = json.loads((demo_dir / PORTS_FILE).read_text())
    except (OSError, ValueError):
        previous = {}
    chosen: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        remembered = previous.get(name)
        if isinstance(remembered, int) and remembered not in chosen.values():
            pinned = name == "backupd" and _remembered_backupd_in_use(demo_dir, remembered)
            if _wait_until_free(remembered, PORT_WAIT if pinned else 0.0):
                chosen[name] = remembered
                continue
            if pinned:
                raise DemoError(
                    f"port {remembered}, where the demo wallet's backup server lives, is in use "
                    "by another program. Stop that program and start the demo again (on another "
                    "port the wallet would take the same server for a new one)."
                )
        if default not in chosen.values() and _port_free(default):
            chosen[name] = default
        else:
            chosen[name] = _any_free_port(set(chosen.values()))
    (demo_dir / PORTS_FILE).write_text(json.dumps(chosen))
    return chosen


def _stop_with_parent() -> None:
    """In the child, before exec: die with the demo, even if it is killed with no chance to
    stop its services (Linux; elsewhere the demo's own stop() is all there is)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _service_command(module: str, subcommand: str) -> list[str]:
    """How to start a service: `python -m module`, or in a bundled app (which has no `-m`) the
    bundle's own executable with a subcommand (packaging/cairn_launcher.py adds `backupd`)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, subcommand]
    return [sys.executable, "-m", module]


@dataclass
class DemoServices:
    """Starts devnet and cairn-backupd; stops them on exit, whatever happens in between."""

    demo_dir: Path
    devnet_url: str = ""
    backupd_url: str = ""
    _children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def __enter__(self) -> DemoServices:
        make_private_dir(self.demo_dir)
        ports = choose_ports(self.demo_dir)
        try:
            self.devnet_url = self._start(
                "devnet",
                ports["devnet"],
                [
                    *_service_command("cairn.devnet", "devnet"),
                    "--port",
                    str(ports["devnet"]),
                    "--state",
                    str(self.demo_dir / "devnet.sqlite"),
                    "--block-interval",
                    "60",
                ],
                "/blocks/tip/height",
            )
            self.backupd_url = self._start(
                "backupd",
                ports["backupd"],
                [
                    *_service_command("cairn.server", "backupd"),
                    "serve",
                    "--port",
                    str(ports["backupd"]),
                    "--db",
                    str(self.demo_dir / "backupd.sqlite"),
                ],
                "/healthz",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self, name: str, port: int, args: list[str], ready_path: str) -> str:
        log_path = self.demo_dir / f"{name}.log"
        with open(log_path, "ab") as log_file:
            child = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # A session of their own: Ctrl+C in the terminal reaches only the demo, which
                # stops the app first and then the services, in that order.
                start_new_session=True,
                preexec_fn=_stop_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )
        self._children.append((name, child))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise DemoError(f"{name} exited at start (code {child.returncode}); see {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                    log.info("%s ready at %s", name, url)
                    return url
            time.sleep(0.1)
        raise DemoError(f"{name} did not answer within {START_TIMEOUT:.0f} s; see {log_path}")

    def stop(self) -> None:
        for name, child in reversed(self._children):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop; killing it", name)
                    child.kill()
                    child.wait()
        self._children.clear()


@contextlib.contextmanager
def stop_on_termination() -> Iterator[None]:
    """SIGTERM (and SIGHUP) end the demo as Ctrl+C does: by an exception that unwinds through
    `DemoServices.__exit__`, never by dying with the services still running."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    handlers: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        handlers[signum] = signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def demo_config(data_dir: Path, services: DemoServices) -> AppConfig:
    """Point the demo data dir at the local services (regtest, faucet enabled)."""
    config = load_config(data_dir).with_changes(
        network=Network.REGTEST,
        backup_server_url=services.backupd_url,
        esplora_url=services.devnet_url,
        devnet_url=services.devnet_url,
    )
    save_config(data_dir, config)
    return config
