"""Calls to the chain server through BDK's Esplora client, each in a thread the process does not
wait for, with the time they may take.

The client has no timeout of its own and its calls cannot be stopped: against a server that
accepts connections and never answers (a stalled process, a dead link), a call blocks its thread
for good. ``asyncio.to_thread`` runs on the loop's default executor, whose threads
``asyncio.run`` and the interpreter's exit both wait for, so a command would print its answer
and then never end. Here each call gets a daemon thread of its own: whoever awaits it stops
waiting at its timeout, and the process ends without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

import bdkpython as bdk

__all__ = [
    "CHAIN_TIMEOUT",
    "SYNC_TIMEOUT_PER_ADDRESS",
    "in_own_thread",
    "sync_timeout_for",
]

T = TypeVar("T")

# As long as the backup server's requests may take (cairn.backup.client.DEFAULT_TIMEOUT): a
# broadcast, the fee estimates, and the part of a sync that does not depend on its size.
CHAIN_TIMEOUT = 15.0
# A sync asks about each address in turn (two at a time): a large wallet's takes longer.
SYNC_TIMEOUT_PER_ADDRESS = 0.1
# A full scan also asks about addresses no one has revealed here yet, as many as the wallet
# used on other devices or before a restore from its words: it may take this long at least.
FULL_SCAN_TIMEOUT = 120.0


def sync_timeout_for(wallet: bdk.Wallet, full: bool, stop_gap: int) -> float:
    """How long a sync of ``wallet`` may take: its revealed addresses, and for a full scan the
    ``stop_gap`` unused ones after them on each keychain, and never less than
    ``FULL_SCAN_TIMEOUT`` for a full scan."""
    keychains = (bdk.KeychainKind.EXTERNAL, bdk.KeychainKind.INTERNAL)
    revealed = sum((wallet.derivation_index(keychain) or 0) + 1 for keychain in keychains)
    addresses = revealed + (len(keychains) * stop_gap if full else 0)
    timeout = CHAIN_TIMEOUT + SYNC_TIMEOUT_PER_ADDRESS * addresses
    return max(timeout, FULL_SCAN_TIMEOUT) if full else timeout


async def in_own_thread(function: Callable[[], T], *, name: str = "cairn-chain") -> T:
    """``function()`` in a daemon thread of its own; its result or its exception.

    Cancelling the wait (a timeout) leaves the thread running until the call returns, and its
    result is then dropped; a thread still blocked when the process exits ends with it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # the waiter gave up (a timeout, a cancellation)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        outcome: tuple[T | None, BaseException | None]
        try:
            outcome = (function(), None)
        except BaseException as exc:  # handed to the waiter, as asyncio.to_thread does
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: no one is waiting
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future
