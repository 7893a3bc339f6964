"""Every speed and memory target of Cairn, each as a ratio to a ceiling measured in this run.

    .venv/bin/python scripts/bench.py [--quick] [--only server,restore,...]

Prints each figure, its same-run baseline and the ratio, and exits 1 when a target is missed.
`--quick` runs every part briefly and small, to show the benchmark works; its timings mean
little and it never fails on one (CI runs it that way). docs/BENCHMARKS.md keeps the last
full run with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "app"), str(ROOT), str(ROOT / "scripts")]
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "app"), *filter(None, [os.environ.get("PYTHONPATH")])]
)

from benchkit.baselines import load_average  # noqa: E402
from benchkit.engine import bench_event_latency, bench_restore_and_full_backup  # noqa: E402
from benchkit.report import Report  # noqa: E402
from benchkit.serverbench import bench_server  # noqa: E402
from benchkit.startup import bench_startup  # noqa: E402

PARTS = ("server", "restore", "latency", "startup")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="brief and small; never fails")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"parts to run ({', '.join(PARTS)})"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    parts = args.only.split(",")
    report = Report()
    print(f"machine: {load_average()} at the start", flush=True)
    if "server" in parts:
        report.section("cairn-backupd: signed durable single-object PUTs (1 KiB values)")
        clients = [64] if args.quick else [1, 16, 64, 256]
        bench_server(
            report, clients, 2.0 if args.quick else 8.0, args.workers, args.backends.split(",")
        )
    if "restore" in parts:
        report.section("restore and full backup (records of 2,000 B, cairn-backupd on SQLite)")
        bench_restore_and_full_backup(report, [1_000, 3_000] if args.quick else [20_000, 100_000])
    if "latency" in parts:
        report.section("one change: the wallet's event to the server's acknowledgement")
        bench_event_latency(report, 30 if args.quick else 300)
    if "startup" in parts:
        report.section("cold start (offscreen)")
        bench_startup(report, 1 if args.quick else 3)
    print(f"\nmachine: {load_average()} at the end", flush=True)
    code = report.summary()
    return 0 if args.quick else code


if __name__ == "__main__":
    sys.exit(main())
