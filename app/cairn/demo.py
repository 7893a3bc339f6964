"""`cairn demo`: a local devnet and backup server as child processes, on loopback.

Their state lives in `<data dir>/demo/`; the ports they got last time are reused when free so
the demo wallet keeps talking to the same backup server URL across runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from cairn.config import AppConfig, load_config, save_config
from cairn.files import make_private_dir
from cairn.keys import Network

log = logging.getLogger(__name__)

PORTS_FILE = "ports.json"
DEFAULT_PORTS = {"devnet": 3002, "backupd": 8470}
START_TIMEOUT = 30.0


class DemoError(RuntimeError):
    """A demo service did not start; the message says which and where its log is."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _any_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def choose_ports(demo_dir: Path) -> dict[str, int]:
    """Last run's ports if still free, else the defaults, else any free port."""
    try:
        previous = json.loads((demo_dir / PORTS_FILE).read_text())
    except (OSError, ValueError):
        previous = {}
    chosen: dict[str, int] = {}
    for name, default in DEFAULT_PORTS.items():
        candidates = [previous.get(name), default]
        port = next(
            (
                p
                for p in candidates
                if isinstance(p, int) and p not in chosen.values() and _port_free(p)
            ),
            None,
        )
        chosen[name] = port if port is not None else _any_free_port()
    (demo_dir / PORTS_FILE).write_text(json.dumps(chosen))
    return chosen


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
