"""Child process of test_restore_crash: restores into a target until it is SIGKILLed.

Usage: restore_child.py <target path> <server url>. Prints "started" before the restore.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.integration.backup.helpers import restore_to


async def main(target: Path, url: str) -> None:
    print("started", flush=True)
    result = await restore_to(url, target)
    print(result.outcome.value, flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
