"""One restore in a child process: `python -m cairn.backup.restore_worker`.

Decrypting and checking tens of thousands of records is CPU work. In a thread of the app it
would compete with the window for Python's GIL and make it stutter; in a child process it
competes only for a CPU core. The job (keys included) arrives as one JSON line on stdin — never
in argv or the environment — and the child answers with JSON lines on stdout: progress, then
the result. Logs go to stderr and, as everywhere, never contain keys, names or values.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from cairn import logredact
from cairn.backup.client import RemoteBackupClient
from cairn.backup.restore import (
    RestoreJob,
    RestoreOutcome,
    RestorePhase,
    RestoreProgress,
    RestoreResult,
    restore_store,
)
from cairn.keys import BackupKeys

log = logging.getLogger(__name__)


def _job_line(job: RestoreJob, timeout: float) -> bytes:
    keys = job.keys
    line = {
        "accept_incomplete": job.accept_incomplete,
        "url": job.url,
        "store_id": job.store_id,
        "target": str(job.target),
        "timeout": timeout,
        "node_id": keys.node_id,
        "signing_key": keys.signing_key.hex(),
        "data_key": keys.data_key.hex(),
        "key_name_key": keys.key_name_key.hex(),
    }
    return json.dumps(line).encode() + b"\n"


def _emit(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


async def _run(job: dict[str, Any], out: IO[str]) -> RestoreResult:
    keys = BackupKeys(
        signing_key=bytes.fromhex(job["signing_key"]),
        node_id=job["node_id"],
        data_key=bytes.fromhex(job["data_key"]),
        key_name_key=bytes.fromhex(job["key_name_key"]),
    )
    client = RemoteBackupClient(job["url"], keys, job["store_id"], timeout=job["timeout"])

    def progress(p: RestoreProgress) -> None:
        _emit(out, {"progress": [p.phase.value, p.done, p.total, p.bytes_received, p.bytes_total]})

    try:
        return await restore_store(
            client,
            keys,
            Path(job["target"]),
            progress=progress,
            accept_incomplete=bool(job["accept_incomplete"]),
        )
    finally:
        await client.aclose()


def main() -> int:
    logredact.install()  # the store URLs it requests carry the node id
    logging.basicConfig(
        level=logging.WARNING, format="cairn restore: %(levelname)s %(name)s: %(message)s"
    )
    job = json.loads(sys.stdin.readline())
    result = asyncio.run(_run(job, sys.stdout))
    data = asdict(result)
    data["outcome"] = result.outcome.value
    _emit(sys.stdout, {"result": data})
    return 0


def worker_command() -> list[str]:
    if getattr(sys, "frozen", False):
        # A bundled app has no `python -m`: the cairn executable runs the worker itself.
        return [sys.executable, "__restore-worker"]
    return [sys.executable, "-m", "cairn.backup.restore_worker"]


class RestoreChild:
    """Runs and talks to one restore child; blocking (call `run` from a worker thread)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._cancelled = threading.Event()

    def run(
        self,
        job: RestoreJob,
        *,
        timeout: float,
        progress: Callable[[RestoreProgress], None],
    ) -> RestoreResult:
        process = subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(_job_line(job, timeout))
            process.stdin.close()
            result: RestoreResult | None = None
            with process.stdout:
                for line in process.stdout:
                    message = json.loads(line)
                    if "progress" in message:
                        phase, done, total, got, size = message["progress"]
                        progress(RestoreProgress(RestorePhase(phase), done, total, got, size))
                    elif "result" in message:
                        data = message["result"]
                        data["outcome"] = RestoreOutcome(data["outcome"])
                        result = RestoreResult(**data)
            code = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if result is None:
            reason = "it was cancelled" if self._cancelled.is_set() else f"exit code {code}"
            return RestoreResult(RestoreOutcome.FAILED, f"the restore stopped ({reason})")
        return result

    def cancel(self) -> None:
        self._cancelled.set()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()


if __name__ == "__main__":
    sys.exit(main())
