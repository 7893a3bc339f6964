"""How amounts, times and states read in the main window."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

SATS_PER_BTC = 100_000_000


def btc(sats: int, *, signed: bool = False) -> str:
    """Satoshis as a BTC string with all eight decimals, e.g. '0.01500000 BTC'."""
    sign = ""
    if sats < 0:
        sign = "−"
    elif signed and sats > 0:
        sign = "+"
    whole, frac = divmod(abs(sats), SATS_PER_BTC)
    return f"{sign}{whole:,}.{frac:08d} BTC"


def sats_text(sats: int) -> str:
    return f"{sats:,} sat"


def parse_btc(text: str) -> int:
    """A BTC amount typed by the user, in satoshis; ValueError with a readable reason."""
    cleaned = text.strip().replace(",", "").removesuffix("BTC").strip()
    if not cleaned:
        raise ValueError("Enter an amount, or choose “Send everything”.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"“{text.strip()}” is not an amount in BTC.") from None
    if value <= 0:
        raise ValueError("The amount must be more than zero.")
    sats = value * SATS_PER_BTC
    if sats != sats.to_integral_value():
        raise ValueError("Bitcoin amounts have at most eight decimals.")
    return int(sats)


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
