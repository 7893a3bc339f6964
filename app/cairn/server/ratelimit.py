"""Per-node fixed-window rate limiting.

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
