"""Rate limiting: per-node fixed windows, and token buckets (per client address, limits.py).

A fixed window (N requests per node per window of W seconds) needs one counter per node and
window, which PostgreSQL keeps in a row every instance updates; one SQLite process keeps it here.
"""

from __future__ import annotations

import time


def window_start(now: int, window_seconds: int) -> int:
    return now - now % window_seconds if window_seconds > 0 else now


def retry_after(window_start_at: int, window_seconds: int, now: int | None = None) -> int:
    """Whole seconds until the window that refused a request ends (at least 1)."""
    now = int(time.time()) if now is None else now
    return max(1, window_start_at + window_seconds - now)


class FixedWindowCounter:
    def __init__(self) -> None:
        self._hits: dict[tuple[str, int], int] = {}

    def hit(self, node_id: str, window_start_at: int) -> int:
        """Count one request; returns the requests so far in this node's window."""
        key = (node_id, window_start_at)
        count = self._hits.get(key, 0) + 1
        self._hits[key] = count
        return count

    def forget_before(self, oldest_window: int) -> None:
        self._hits = {k: v for k, v in self._hits.items() if k[1] >= oldest_window}


class TokenBuckets:
    """Per-key token buckets: `capacity` tokens each, refilled at `capacity / window` per second.

    A key that has been idle long enough to be full again is the same as a key never seen, so
    those are forgotten (at most once per window): memory follows the keys active lately.
    """

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = float(capacity)
        self.rate = capacity / window
        self._window = window
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._swept = 0.0

    def take(self, key: str, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        if now - self._swept > self._window:
            self._forget_full(now)
        tokens, when = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - when) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        self._swept = now
        self._buckets = {
            key: (tokens, when)
            for key, (tokens, when) in self._buckets.items()
            if tokens + (now - when) * self.rate < self.capacity
        }

    def __len__(self) -> int:
        return len(self._buckets)
