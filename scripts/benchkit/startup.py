"""Issue target 6: cold start to the main window against an empty PySide6 window.

Each start is a new process. The time runs from just before the process is started until the
window's first frame (startup_child.py); the memory is the process's resident size at that
moment. The app opens an existing regtest wallet whose backup server runs on loopback, as after
a first start.

The app's modules are compiled to bytecode first, as installing it does (pip and the bundle
ship .pyc files, the libraries here have theirs): without that, an environment that writes no
bytecode (PYTHONDONTWRITEBYTECODE) would compile every module of the app on every start, a cost
no installed copy has and the empty window, made of installed libraries only, never pays.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit.report import Check, Report
from benchkit.serverload import ROOT, start_server

RUNS = 3


def _start(*args: str) -> tuple[float, float]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT / "scripts")]),
    }
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "benchkit.startup_child", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "scripts",
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"start-up child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    shown = json.loads(lines[-1])
    return shown["at"] - started, shown["rss_kib"] / 1024


def _wallet(data_dir: Path, server_url: str) -> None:
    sys.path.insert(0, str(ROOT / "app"))
    from cairn.config import AppConfig, save_config
    from cairn.keys import Network
    from cairn.session import Session

    data_dir.mkdir(parents=True)
    # The chain server is a closed port: the window opens without waiting for it.
    save_config(
        data_dir,
        AppConfig(
            network=Network.REGTEST, backup_server_url=server_url, esplora_url="http://127.0.0.1:9"
        ),
    )

    async def create() -> None:
        session = await Session.open(data_dir)
        try:
            await session.create_wallet(("abandon " * 11 + "about").split())
            await session.run_initial_backup()
        finally:
            await session.close()

    asyncio.run(create())


def _compile() -> None:
    """Bytecode for the app and the benchmark's child in their __pycache__ folders, where Python
    itself writes it when allowed to. (Not PYTHONPYCACHEPREFIX: with it, Python would look
    there for the standard library's and the libraries' bytecode too, and compile all of them
    on every start.)"""
    for folder in (ROOT / "app", ROOT / "scripts" / "benchkit"):
        compileall.compile_dir(folder, quiet=1)


def bench_startup(report: Report, runs: int = RUNS) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as tmp:
        workdir = Path(tmp)
        _compile()
        server = start_server(str(workdir / "server.sqlite"), workdir / "server.log")
        try:
            _wallet(workdir / "data", server.url)
            empty = [_start("--empty") for _ in range(runs)]
            app = [_start(str(workdir / "data")) for _ in range(runs)]
        finally:
            server.stop()
    empty_s = statistics.median(t for t, _ in empty)
    empty_mib = statistics.median(m for _, m in empty)
    app_s = statistics.median(t for t, _ in app)
    app_mib = statistics.median(m for _, m in app)
    report.note(
        f"medians of {runs} starts: empty PySide6 window {empty_s:.2f} s, {empty_mib:.0f} MiB; "
        f"Cairn's main window {app_s:.2f} s, {app_mib:.0f} MiB"
    )
    report.add(
        Check(
            "cold start to the main window",
            f"{app_s:.2f} s",
            f"an empty PySide6 window {empty_s:.2f} s",
            app_s / empty_s,
            3.0,
            at_most=True,
        )
    )
    report.add(
        Check(
            "memory with the main window showing",
            f"{app_mib:.0f} MiB",
            f"an empty PySide6 window {empty_mib:.0f} MiB",
            app_mib / empty_mib,
            2.0,
            at_most=True,
        )
    )
