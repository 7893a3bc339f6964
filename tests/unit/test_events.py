"""The event bus: urgency per event type, delivery to every subscriber, from any thread."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from cairn import events
from cairn.events import (
    AddressRevealed,
    Event,
    EventBus,
    LabelChanged,
    PaymentConfirmed,
    PaymentFailed,
    PaymentReceived,
    PaymentSent,
    PreferencesChanged,
    SyncCompleted,
    SyncFailed,
)

URGENT = [
    PaymentReceived("t", 1, False),
    PaymentConfirmed("t", 1, "in"),
    PaymentSent("t", "a", 1, 1),
    PaymentFailed("a", 1, "no"),
    LabelChanged("tx", "t", "x"),
    PreferencesChanged("email", "a@b"),
    AddressRevealed("external", 0, "a"),
]
ROUTINE = [SyncCompleted(1, False), SyncFailed("offline")]


def test_urgency_is_a_class_attribute_of_each_event_type():
    assert all(type(event).urgent for event in URGENT)
    assert not any(type(event).urgent for event in ROUTINE)
    assert all("urgent" not in (f.name for f in dataclasses.fields(e)) for e in URGENT + ROUTINE)


def test_every_architecture_event_exists():
    for name in [
        "PaymentReceived",
        "PaymentConfirmed",
        "PaymentSent",
        "PaymentFailed",
        "LabelChanged",
        "PreferencesChanged",
        "AddressRevealed",
        "SyncCompleted",
    ]:
        assert issubclass(getattr(events, name), Event)


def test_events_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        URGENT[0].txid = "other"  # type: ignore[misc]


def test_subscribers_get_events_in_order_and_can_unsubscribe():
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.publish(URGENT[0])
    bus.publish(ROUTINE[0])
    unsubscribe()
    bus.publish(URGENT[1])
    assert seen == [URGENT[0], ROUTINE[0]]


def test_a_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture):
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.publish(LabelChanged("tx", "t", "secret label"))
    assert seen == [LabelChanged("tx", "t", "secret label")]
    assert "LabelChanged" in caplog.text
    assert "secret label" not in caplog.text


def test_publish_from_many_threads_while_subscribing():
    bus = EventBus()
    counts: list[int] = []
    lock = threading.Lock()

    def count(event: Event) -> None:
        with lock:
            counts.append(1)

    bus.subscribe(count)

    def publisher() -> None:
        for _ in range(500):
            bus.publish(ROUTINE[0])

    def subscriber_churn() -> None:
        for _ in range(500):
            bus.subscribe(lambda event: None)()

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    threads.append(threading.Thread(target=subscriber_churn))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counts) == 2000
