"""A hybrid logical clock: wall-clock milliseconds that never run backwards, plus a counter.

Every change this device pushes carries a reading; readings from other devices move the local
clock forward, so a change made after seeing another one always reads later, whatever the two
machines' clocks say. A remote reading far in the future (a machine whose clock is wrong) may
push the local clock at most `MAX_AHEAD_MS` past this machine's own time. Pure: time is passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from cairn.wire.payload import Clock

MAX_AHEAD_MS: Final = 10 * 60 * 1000
# When a resync queues a record again as it is (the server lost it, or is another one), the
# change is recorded at this time: a copy of a value synced before claims no time of its own,
# so an edit made elsewhere since wins over it, as the value it copies would have lost.
COPY_AT_MS: Final = 0


@dataclass(frozen=True)
class ClockState:
    wall_ms: int = 0
    counter: int = 0

    def encode(self) -> bytes:
        return json.dumps([self.wall_ms, self.counter]).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> ClockState:
        if raw is None:
            return cls()
        wall_ms, counter = json.loads(raw)
        return cls(int(wall_ms), int(counter))


def stamp(state: ClockState, at_ms: int, device: bytes) -> tuple[Clock, ClockState]:
    """The reading of a change made at `at_ms`, and the clock after it.

    A copy (`COPY_AT_MS`) reads (0, 0) and leaves the clock as it is.
    """
    if at_ms == COPY_AT_MS:
        return Clock(0, 0, device), state
    if at_ms > state.wall_ms:
        new = ClockState(at_ms, 0)
    else:
        new = ClockState(state.wall_ms, state.counter + 1)
    return Clock(new.wall_ms, new.counter, device), new


def pending_reading(at_ms: int, device: bytes) -> Clock:
    """The reading a pending local change is merged with against a remote one it never saw.

    The change's own time, not a stamp of the clock as it is now: the clock has since observed
    other devices' readings (the remote change itself, as the pull reads it), and stamping the
    change after them would make it win against every edit made later elsewhere. A change that
    was made after seeing another one was made on the record as it then was; that one is not
    the remote change it is merged with now.
    """
    return Clock(at_ms, 0, device)


def observe(state: ClockState, remote: Clock, now_ms: int) -> ClockState:
    """The clock after seeing `remote`; it never moves past now + MAX_AHEAD_MS because of it."""
    wall, counter = remote.wall_ms, remote.counter
    ceiling = now_ms + MAX_AHEAD_MS
    if wall > ceiling:
        wall, counter = ceiling, 0
    if (wall, counter) > (state.wall_ms, state.counter):
        return ClockState(wall, counter)
    return state
