"""Child of the crash test: imports once, then forks one migration per request.

Protocol (lines): the test writes a wallet dir; this process forks, the fork migrates that dir
and exits 0 (3 on an error) after printing `done <seconds it took>`; this process answers
`pid <pid>`, and on the next line (any) it reaps the fork and answers `exit <status>`. Forking from this single-threaded process keeps every
migration's start-up cost near zero, so kills land inside the migration, not in imports.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

import keyring

from cairn.keys import Network
from cairn.upgrade import upgrade_wallet_dir


def main() -> int:
    keyring.get_keyring()  # backend discovery takes half a second; do it once, before forking
    for line in sys.stdin:
        wallet_dir = line.strip()
        if not wallet_dir:
            break
        pid = os.fork()
        if pid == 0:
            code = 0
            started = time.monotonic()
            try:
                upgrade_wallet_dir(wallet_dir, Network.REGTEST)
                print(f"done {time.monotonic() - started:.4f}", flush=True)
            except BaseException:
                traceback.print_exc()
                code = 3
            os._exit(code)
        print(f"pid {pid}", flush=True)
        # Reap only when asked: until then a finished fork stays a zombie, so its pid cannot
        # be reused by another process before the test's kill reaches it.
        sys.stdin.readline()
        _, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
