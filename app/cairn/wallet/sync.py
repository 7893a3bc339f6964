"""Sync state, the news a sync finds, and chain-server error texts.

The periodic sync is `cairn.wallet.watch.ChainWatcher`; this module does not import the
wallet core, so the core imports it without a cycle.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from enum import StrEnum

import bdkpython as bdk

from cairn.events import Event, PaymentConfirmed, PaymentReceived
from cairn.wallet.history import Direction, HistoryItem


class SyncState(StrEnum):
    NEVER_SYNCED = "never_synced"  # opened, no sync finished yet in this session
    SYNCING = "syncing"
    ONLINE = "online"  # the last sync succeeded
    OFFLINE = "offline"  # the last sync failed; ``SyncStatus.error`` says why


@dataclass(frozen=True)
class SyncStatus:
    """What the UI shows about the chain connection."""

    state: SyncState
    height: int  # the wallet's chain tip
    last_success: float | None = None  # unix time of the last successful sync
    error: str | None = None  # why the last sync failed (user-facing), while OFFLINE


@dataclass(frozen=True)
class TxState:
    """What a sync compares, per transaction, to find news."""

    direction: Direction
    amount_sat: int
    height: int | None


def tx_states(history: list[HistoryItem]) -> dict[str, TxState]:
    return {item.txid: TxState(item.direction, item.amount_sat, item.height) for item in history}


def payment_events(before: dict[str, TxState], after: dict[str, TxState]) -> list[Event]:
    """PaymentReceived for new incoming transactions, PaymentConfirmed for first confirmations."""
    events: list[Event] = []
    for txid, state in after.items():
        previous = before.get(txid)
        if previous is None and state.direction is Direction.IN:
            events.append(PaymentReceived(txid, state.amount_sat, state.height is not None))
        was_confirmed = previous is not None and previous.height is not None
        if state.height is not None and not was_confirmed:
            events.append(PaymentConfirmed(txid, state.height, state.direction.value))
    return events


def describe_chain_error(error: BaseException, url: str) -> str:
    """A user-facing sentence for a failure talking to the chain server."""
    if isinstance(error, bdk.EsploraError.Minreq):
        return f"cannot reach the chain server at {url}; check the connection or the server URL"
    if isinstance(error, bdk.EsploraError.HttpResponse):
        return f"the chain server at {url} answered HTTP {error.status}; try again later"
    if isinstance(error, TimeoutError):
        return f"the chain server at {url} did not answer in time; try again later"
    if isinstance(error, bdk.EsploraError):
        return f"the chain server at {url} sent an answer this wallet cannot use ({type(error).__name__})"
    return f"sync with {url} failed ({type(error).__name__})"


def rejection_reason(error: BaseException) -> str | None:
    """The server's own reason when it refused a broadcast; None for connection failures."""
    if isinstance(error, bdk.EsploraError.HttpResponse):
        text = str(error.error_message).strip()
        # Esplora passes bitcoind's error through: `sendrawtransaction RPC error: {json}`.
        _, marker, detail = text.partition("RPC error:")
        if marker:
            with contextlib.suppress(ValueError, AttributeError):
                message = json.loads(detail).get("message")
                if isinstance(message, str) and message:
                    return message
        return text or f"HTTP {error.status}"
    return None
