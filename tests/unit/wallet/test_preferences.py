"""Preferences as records prefs/<name>, with events on change only."""

from __future__ import annotations

import pytest

from cairn.events import Event, EventBus, PreferencesChanged
from cairn.storage import MemoryStore
from cairn.wallet.preferences import Preferences


def test_set_get_remove_and_events():
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    store = MemoryStore()
    prefs = Preferences(store, bus)
    assert prefs.get("fiat_currency", "EUR") == "EUR"
    prefs.set("fiat_currency", "CHF")
    prefs.set("fiat_currency", "CHF")  # unchanged: no event, no write
    prefs.set("email", "ana@example.org")
    assert store.get("prefs/fiat_currency") == b"CHF"
    assert prefs.all() == {"email": "ana@example.org", "fiat_currency": "CHF"}
    prefs.set("email", None)
    assert prefs.get("email") is None
    assert seen == [
        PreferencesChanged("fiat_currency", "CHF"),
        PreferencesChanged("email", "ana@example.org"),
        PreferencesChanged("email", None),
    ]


@pytest.mark.parametrize("name", ["", "Email", "a/b", "x" * 65, "../up"])
def test_bad_names_are_refused(name: str):
    with pytest.raises(ValueError, match="preference name"):
        Preferences(MemoryStore(), EventBus()).set(name, "v")
