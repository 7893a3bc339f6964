"""`cairn demo`: a devnet and a backup server on loopback, and the app; whichever way the demo
ends (window closed, Ctrl+C, SIGTERM), nothing is left running and no port stays taken."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import cairn.demo
from cairn.config import load_config, save_config
from cairn.demo import PORTS_FILE, DemoError, DemoServices, demo_config
from cairn.keys import Network


def _listening(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def test_demo_services_start_answer_and_stop(tmp_path):
    with DemoServices(tmp_path / "demo") as services:
        assert httpx.get(services.backupd_url + "/healthz").json() == {"status": "ok"}
        assert int(httpx.get(services.devnet_url + "/blocks/tip/height").text) >= 0
        config = demo_config(tmp_path / "demo", services)
        children = [child for _name, child in services._children]
    assert all(child.poll() is not None for child in children)
    assert not _listening(services.backupd_url) and not _listening(services.devnet_url)
    assert config == load_config(tmp_path / "demo")
    assert config.network is Network.REGTEST
    assert config.devnet_url == services.devnet_url


def test_a_restart_right_away_keeps_the_backup_server_port(tmp_path):
    demo_dir = tmp_path / "demo"
    with DemoServices(demo_dir) as services:
        demo_config(demo_dir, services)
        # A connection the server closes when it stops leaves the port in TIME_WAIT, which
        # made the next demo move its backup server to another port.
        client = httpx.Client()
        assert client.get(services.backupd_url + "/healthz").status_code == 200
    try:
        with DemoServices(demo_dir) as again:
            assert again.backupd_url == services.backupd_url
            assert again.devnet_url == services.devnet_url
    finally:
        client.close()


def test_taken_default_ports_are_no_reason_to_fail(tmp_path):
    holders = []
    for port in cairn.demo.DEFAULT_PORTS.values():
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past any TIME_WAIT
        with contextlib.suppress(OSError):  # already taken by someone else: just as good
            holder.bind(("127.0.0.1", port))
            holder.listen()
        holders.append(holder)
    try:
        with DemoServices(tmp_path / "demo") as services:
            for url in (services.devnet_url, services.backupd_url):
                assert int(url.rsplit(":", 1)[1]) not in cairn.demo.DEFAULT_PORTS.values()
            assert httpx.get(services.backupd_url + "/healthz").status_code == 200
        # The ports it got are the ones it will try first next time.
        remembered = json.loads((tmp_path / "demo" / PORTS_FILE).read_text())
        assert services.backupd_url.endswith(f":{remembered['backupd']}")
    finally:
        for holder in holders:
            holder.close()


def test_the_wallets_backup_server_is_never_moved_to_another_port(tmp_path, monkeypatch):
    monkeypatch.setattr(cairn.demo, "PORT_WAIT", 0.5)
    demo_dir = tmp_path / "demo"
    with DemoServices(demo_dir) as services:
        demo_config(demo_dir, services)
    port = int(services.backupd_url.rsplit(":", 1)[1])
    with socket.socket() as intruder:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        intruder.bind(("127.0.0.1", port))
        intruder.listen()
        with pytest.raises(DemoError, match=f"port {port}.*in use by another program"):
            DemoServices(demo_dir).__enter__()
    assert load_config(demo_dir).backup_server_url == services.backupd_url
    # A demo dir whose wallet has no server yet simply takes another port.
    save_config(demo_dir, load_config(demo_dir).with_changes(backup_server_url=None))
    with socket.socket() as intruder:
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        intruder.bind(("127.0.0.1", port))
        intruder.listen()
        with DemoServices(demo_dir) as moved:
            assert moved.backupd_url != services.backupd_url


class RunningDemo:
    """`cairn demo --offscreen` as a user starts it, its log read as it is written."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "cairn", "--log-level", "info"),
                *("demo", "--offscreen", "--data-dir", str(data_dir), *extra),
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the demo's output:\n{''.join(self.lines)}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_app_and_both_services(tmp_path, signum):
    demo = RunningDemo(tmp_path / "data")
    try:
        urls = demo.wait_for(r"devnet at (\S+), backup server at (\S+)")
        demo.wait_for(r"ready: the wizard is showing")
        devnet_url, backupd_url = urls.group(1), urls.group(2)
        services = _children_of(demo.process.pid)
        assert len(services) == 2
        assert _listening(devnet_url) and _listening(backupd_url)

        demo.process.send_signal(signum)
        assert demo.process.wait(timeout=30) == 128 + signum
        demo.wait_for(r"stopped the app, the devnet and the backup server", timeout=5)
    finally:
        demo.close()
    assert not any(_alive(pid) for pid in services)
    assert not _listening(devnet_url)
    assert not _listening(backupd_url)


def test_the_app_ending_on_its_own_stops_both_services(tmp_path):
    # --quit-when-ready ends the app the way closing its window does: the app's own exit.
    demo = RunningDemo(tmp_path / "data", "--quit-when-ready")
    try:
        urls = demo.wait_for(r"devnet at (\S+), backup server at (\S+)")
        services = _children_of(demo.process.pid)
        assert demo.process.wait(timeout=60) == 0
        demo.wait_for(r"stopped the app, the devnet and the backup server", timeout=5)
    finally:
        demo.close()
    assert not any(_alive(pid) for pid in services)
    assert not _listening(urls.group(1))
    assert not _listening(urls.group(2))
