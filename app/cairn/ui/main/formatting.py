"""How amounts, times and states read in the main window."""

from __future__ import annotations

from datetime import UTC, datetime

from cairn.wallet.amounts import Unit, format_amount


def btc(sats: int, *, signed: bool = False) -> str:
    """Satoshis as a BTC string with all eight decimals, e.g. '0.01500000 BTC'."""
    return format_amount(sats, Unit.BTC, signed=signed)


def sats_text(sats: int) -> str:
    return format_amount(sats, Unit.SAT)


def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', or the date for anything older than a day."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (now - when).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h ago"
    return when.astimezone().strftime("%d %b %Y")


def local_time(when: datetime | None) -> str:
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")
