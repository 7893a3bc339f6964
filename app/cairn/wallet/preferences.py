"""User preferences as records ``prefs/<name>`` (UTF-8 text), backed up like everything else."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cairn.events import EventBus, PreferencesChanged
from cairn.usererrors import undecodable

if TYPE_CHECKING:
    from cairn.storage import RecordStore

PREFS_PREFIX = "prefs/"
# The preferences the app reads (others may be stored, and are kept as they are).
UNIT_PREFERENCE = "unit"  # cairn.wallet.amounts.Unit
EMAIL_PREFERENCE = "email"  # the address the backup server may write to
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def preference_record_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        shown = "that is not UTF-8 text" if undecodable(name) else repr(name)
        raise ValueError(f"bad preference name {shown} (lower-case letters, digits, _ . -)")
    return PREFS_PREFIX + name


def check_preference_value(value: str) -> None:
    """ValueError unless ``value`` can be stored as a preference (UTF-8 text)."""
    if undecodable(value):
        raise ValueError(
            "a preference's value must be UTF-8 text; this one holds bytes that are not"
        )


class Preferences:
    """Read and write preferences; every change publishes PreferencesChanged.

    Usable before any wallet exists (the onboarding wizard stores the email here). Calls block
    on the store: from the event loop, run them in a worker thread (``asyncio.to_thread``).
    """

    def __init__(self, store: RecordStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._store.get(preference_record_name(name))
        return value.decode() if value is not None else default

    def set(self, name: str, value: str | None) -> None:
        """Store ``value`` (None removes the preference); no event when nothing changes."""
        record = preference_record_name(name)
        current = self._store.get(record)
        if value is None:
            if current is None:
                return
            self._store.delete(record)
        else:
            check_preference_value(value)
            encoded = value.encode()
            if current == encoded:
                return
            self._store.put(record, encoded)
        self._bus.publish(PreferencesChanged(name, value))

    def all(self) -> dict[str, str]:
        """Every preference by name."""
        return {
            name.removeprefix(PREFS_PREFIX): value.decode()
            for name, value in self._store.scan(PREFS_PREFIX)
        }
