"""The event bus: domain code reports what happened; the backup engine and the UI subscribe.

Events are frozen dataclasses. ``urgent`` (a class attribute) tells the backup uploader whether
the change behind the event must be flushed at once or may be debounced with routine changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every event; urgent unless a subclass says otherwise."""

    urgent: ClassVar[bool] = True


@dataclass(frozen=True)
class PaymentReceived(Event):
    """A transaction paying this wallet appeared (in the mempool or already in a block)."""

    txid: str
    amount_sat: int
    confirmed: bool


@dataclass(frozen=True)
class PaymentConfirmed(Event):
    """A transaction of this wallet (incoming or outgoing) got its first confirmation."""

    txid: str
    height: int
    direction: str  # "in", "out" or "self", as in HistoryItem


@dataclass(frozen=True)
class PaymentSent(Event):
    """A payment was signed, accepted by the server and recorded."""

    txid: str
    recipient: str
    amount_sat: int
    fee_sat: int


@dataclass(frozen=True)
class PaymentFailed(Event):
    """A payment could not be broadcast; ``reason`` is the server's (or the client's) text."""

    recipient: str
    amount_sat: int
    reason: str


@dataclass(frozen=True)
class LabelChanged(Event):
    """A BIP-329 label was set (``label`` is the new text) or removed (``label`` is None)."""

    type: str
    ref: str
    label: str | None


@dataclass(frozen=True)
class PreferencesChanged(Event):
    """A preference record changed; ``value`` is None when it was removed."""

    name: str
    value: str | None


@dataclass(frozen=True)
class AddressRevealed(Event):
    """An address was handed out; its index is on disk before anyone sees the address."""

    keychain: str  # "external" or "internal"
    index: int
    address: str


@dataclass(frozen=True)
class RemoteChangesApplied(Event):
    """Records another device on this seed wrote were merged here (labels, settings, ...)."""

    urgent: ClassVar[bool] = False

    records: int


@dataclass(frozen=True)
class SyncCompleted(Event):
    """A chain sync finished; routine, so backups of it are debounced."""

    urgent: ClassVar[bool] = False

    height: int
    full_scan: bool


@dataclass(frozen=True)
class SyncFailed(Event):
    """A chain sync failed; the wallet is offline until a later sync succeeds."""

    urgent: ClassVar[bool] = False

    error: str


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe, safe to use from any thread.

    Subscribers run in the publisher's thread, in subscription order. A subscriber that must run
    on an event loop hands the event over itself (``loop.call_soon_threadsafe``). A failing
    subscriber is logged and never stops delivery to the others or reaches the publisher.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback`` for every event; returns a function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every current subscriber."""
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                # The event's fields may carry labels or addresses: log the type only.
                log.exception("event subscriber failed on %s", type(event).__name__)
