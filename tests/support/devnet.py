"""Test support: a real `cairn-devnet` process on a free loopback port, state in tmp_path.

    def test_something(devnet):
        txid = devnet.faucet(address, 50_000)   # into the mempool
        devnet.mine()                           # now confirmed
        client = bdkpython.EsploraClient(devnet.url)

`devnet_factory(**options)` starts more (or differently configured) devnets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port

READY_TIMEOUT = 20.0


def devnet_command() -> list[str]:
    """The installed console script, or the module when the package is not installed."""
    script = Path(sys.executable).with_name("cairn-devnet")
    if script.exists():
        return [str(script)]
    found = shutil.which("cairn-devnet")
    return [found] if found else [sys.executable, "-m", "cairn.devnet"]


class DevnetProcess:
    """One `cairn-devnet` subprocess; `stop()` then `start()` restarts it on the same port and state."""

    def __init__(
        self,
        workdir: Path,
        *,
        block_interval: float = 0.0,
        log_level: str = "info",
        verify_signatures: bool = True,
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        self.state_path = workdir / "devnet.sqlite"
        self.log_path = workdir / "devnet.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.block_interval = block_interval
        self.log_level = log_level
        self.verify_signatures = verify_signatures
        self._process: subprocess.Popen[bytes] | None = None
        # Loopback only: never through a proxy from the environment.
        self._http = httpx.Client(base_url=self.url, timeout=10.0, trust_env=False)

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._process is not None:
            return
        args = [
            *devnet_command(),
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--state={self.state_path}",
            f"--block-interval={self.block_interval}",
            f"--log-level={self.log_level}",
        ]
        if not self.verify_signatures:
            args.append("--no-verify-signatures")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RuntimeError(f"cairn-devnet exited with {code}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                if self._http.get("/blocks/tip/height").status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"cairn-devnet not ready after {READY_TIMEOUT} s:\n{self.log()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a paused devnet must be running to stop
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop()
        self._http.close()

    def pause(self) -> None:
        """Stop the process where it is (SIGSTOP): connections are still accepted by the
        kernel, and no request is ever answered, as with a stalled server."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ---- controls -----------------------------------------------------------------------

    def faucet(self, address: str, sat: int, *, mine: bool = False) -> str:
        """Pay `sat` to `address` (into the mempool, or mined at once); answer the txid."""
        body = {"address": str(address), "amount_sat": sat, "mine": mine}
        response = self._http.post("/devnet/faucet", json=body)
        response.raise_for_status()
        return str(response.json()["txid"])

    def mine(self, n: int = 1, *, address: str | None = None) -> list[str]:
        """Mine `n` blocks (the first takes the whole mempool); answer their hashes."""
        body: dict[str, Any] = {"blocks": n}
        if address is not None:
            body["address"] = str(address)
        response = self._http.post("/devnet/mine", json=body)
        response.raise_for_status()
        return list(response.json()["hashes"])

    def evict(self, txid: str) -> list[str]:
        """Drop a mempool tx and its descendants, as if it had expired; answer the txids."""
        response = self._http.post("/devnet/evict", json={"txid": txid})
        response.raise_for_status()
        return list(response.json()["evicted"])

    def reorg(self, depth: int = 1, blocks: int | None = None) -> dict[str, list[str]]:
        """Replace the top `depth` blocks by `blocks` (default depth + 1) empty ones; their txs
        go back to the mempool. Answers {disconnected, connected, returned, dropped}."""
        body: dict[str, int] = {"depth": depth}
        if blocks is not None:
            body["blocks"] = blocks
        response = self._http.post("/devnet/reorg", json=body)
        response.raise_for_status()
        return dict(response.json())

    def set_fee_estimates(self, curve: dict[int, float]) -> dict[str, float]:
        response = self._http.put(
            "/devnet/fee-estimates", json={str(k): v for k, v in curve.items()}
        )
        response.raise_for_status()
        return dict(response.json())

    def tip_height(self) -> int:
        return int(self._http.get("/blocks/tip/height").text)

    def get(self, path: str) -> httpx.Response:
        return self._http.get(path)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.post(path, **kwargs)


@pytest.fixture
def devnet_factory(tmp_path: Path) -> Iterator[Callable[..., DevnetProcess]]:
    """Start devnets with options (`block_interval`, `log_level`, `verify_signatures`); all are
    stopped after the test."""
    started: list[DevnetProcess] = []

    def make(**options: Any) -> DevnetProcess:
        node = DevnetProcess(tmp_path / f"devnet-{len(started)}", **options)
        started.append(node)
        node.start()
        return node

    yield make
    for node in started:
        node.close()


@pytest.fixture
def devnet(devnet_factory: Callable[..., DevnetProcess]) -> DevnetProcess:
    """A fresh devnet (regtest genesis plus the faucet's block, height 1), empty mempool."""
    return devnet_factory()
