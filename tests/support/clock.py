"""A clock the test moves by hand: timers fire when the test says so, never by the wall clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Timer:
    due: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class ManualTimers:
    """Stands in for `loop.call_later`: `advance(seconds)` runs what has come due, in order."""

    now: float = 0.0
    _timers: list[_Timer] = field(default_factory=list)

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self.now + delay, callback)
        self._timers.append(timer)
        return timer

    @property
    def pending(self) -> list[float]:
        """How long until each timer still waiting fires, soonest first."""
        return sorted(t.due - self.now for t in self._timers if not t.cancelled)

    def advance(self, seconds: float) -> int:
        """Move the clock on; the number of timers that fired."""
        self.now += seconds
        due = sorted(
            (t for t in self._timers if not t.cancelled and t.due <= self.now), key=lambda t: t.due
        )
        for timer in due:
            self._timers.remove(timer)
            timer.callback()
        return len(due)
