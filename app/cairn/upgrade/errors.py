"""The upgrade's one error type."""

from __future__ import annotations


class UpgradeError(Exception):
    """The wallet directory cannot be upgraded; the message says why and what to do.

    The directory is left as it was (format 1, legacy files untouched).
    """
