"""Issue targets 3, 4 and 5: restore and full backup near the cipher's speed, and the latency
of one change from the wallet's event to the server's acknowledgement.

Restores and full backups run in child processes of their own, so that each one's peak memory
is its own; the server is a real `cairn-backupd` on SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchkit.baselines import decrypt_rate
from benchkit.report import Check, Report
from benchkit.serverload import ROOT, ServerProcess, start_server

VALUE_BYTES = 2000  # about a BDK changeset with a transaction in it
WORDS = "abandon " * 11 + "about"


def _child(*args: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "benchkit.child", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT / "scripts",
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "app"), str(ROOT / "scripts"), str(ROOT)]),
        },
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {args[0]} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """The highest resident size of a process while the `with` block runs, sampled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = _rss_kib(pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_kib(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 1024


def bench_restore_and_full_backup(report: Report, sizes: list[int]) -> None:
    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as tmp:
        workdir = Path(tmp)
        for size in sizes:
            server = start_server(
                str(workdir / f"server-{size}.sqlite"), workdir / f"server-{size}.log"
            )
            try:
                backup = _child(
                    "full-backup",
                    server.url,
                    str(workdir / f"wallet-{size}.sqlite"),
                    str(size),
                    str(VALUE_BYTES),
                )
                with PeakRss(server.process.pid) as server_rss:
                    restore = _child(
                        "restore", server.url, str(workdir / f"restored-{size}.sqlite")
                    )
            finally:
                server.stop()
            sealed_average = int(restore["bytes"] / restore["records"])
            raw = decrypt_rate([sealed_average] * min(size, 20_000))
            figures[size] = {
                **{f"backup_{k}": v for k, v in backup.items()},
                **restore,
                "raw": raw,
                "server_growth": server_rss.growth_mib,
            }
            rate = restore["bytes"] / restore["seconds"]
            report.note(
                f"{size:>7,} records of {VALUE_BYTES} B: full backup {backup['seconds']:.2f} s "
                f"({backup['seconds'] / size * 1e6:.0f} us/record); restore {restore['seconds']:.2f} s "
                f"= {rate / 1e6:.1f} MB/s, client peak {restore['peak_mib']:.0f} MiB, server RSS "
                f"+{server_rss.growth_mib:.1f} MiB during the export; raw decrypt {raw / 1e6:.0f} MB/s"
            )
            report.add(
                Check(
                    f"restore of {size:,} records",
                    f"{rate / 1e6:.1f} MB/s",
                    f"raw AES-256-GCM-SIV decrypt {raw / 1e6:.0f} MB/s on one core",
                    rate / raw,
                    0.30,
                    at_most=False,
                )
            )
            report.add(
                Check(
                    f"full backup of {size:,} records against their restore",
                    f"{backup['seconds']:.2f} s",
                    f"restore {restore['seconds']:.2f} s",
                    backup["seconds"] / restore["seconds"],
                    1.5,
                    at_most=True,
                )
            )
    small, large = min(sizes), max(sizes)
    if small != large:
        per_small = figures[small]["backup_seconds"] / small
        per_large = figures[large]["backup_seconds"] / large
        report.add(
            Check(
                f"full backup per record at {large:,} against {small:,}",
                f"{per_large * 1e6:.0f} us",
                f"{per_small * 1e6:.0f} us",
                per_large / per_small,
                1.15,
                at_most=True,
            )
        )
        growth = figures[large]["peak_mib"] - figures[small]["peak_mib"]
        report.note(
            f"client peak memory: {figures[small]['peak_mib']:.0f} MiB at {small:,}, {figures[large]['peak_mib']:.0f} MiB at {large:,}"
        )
        report.add(
            Check(
                f"client restore memory growth from {small:,} to {large:,} records",
                f"{growth:.1f} MiB",
                "10 MiB",
                growth / 10,
                1.0,
                at_most=True,
            )
        )
        server_growth = figures[large]["server_growth"] - figures[small]["server_growth"]
        report.add(
            Check(
                f"server export memory from {small:,} to {large:,} records",
                f"+{figures[large]['server_growth']:.1f} MiB",
                f"+{figures[small]['server_growth']:.1f} MiB",
                max(0.0, server_growth) / 5,
                1.0,  # constant: within 5 MiB, what a shared machine's allocator drifts by
                at_most=True,
            )
        )


def bench_event_latency(report: Report, events: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cairn-bench-") as tmp:
        workdir = Path(tmp)
        server: ServerProcess = start_server(str(workdir / "server.sqlite"), workdir / "server.log")
        try:
            figures = _child("latency", server.url, str(workdir / "latency.sqlite"), str(events))
        finally:
            server.stop()
    report.note(
        f"{events} urgent events: event -> acknowledgement p50 {figures['p50'] * 1000:.1f} ms, "
        f"p99 {figures['p99'] * 1000:.1f} ms; bare signed PUT p50 {figures['bare_p50'] * 1000:.1f} ms, "
        f"p99 {figures['bare_p99'] * 1000:.1f} ms"
    )
    report.add(
        Check(
            "event -> server acknowledgement, p99",
            f"{figures['p99'] * 1000:.1f} ms",
            f"a bare signed PUT round trip {figures['bare_p50'] * 1000:.1f} ms (p50)",
            figures["p99"] / figures["bare_p50"],
            3.0,
            at_most=True,
        )
    )
