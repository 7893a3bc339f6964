"""Amounts as people type and read them: one parser and one formatter for every amount field.

Numbers follow the user's locale, passed in as a `NumberFormat` (the UI reads it from Qt; this
module stays pure). A typed amount is read exactly as the locale writes numbers, or refused with
a message that says why and, when it can, what was probably meant. Nothing is ever read at a
different power of ten than it was written: a separator is never silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from cairn.usererrors import UserError

SATS_PER_BTC = 100_000_000
MAX_MONEY_SAT = 21_000_000 * SATS_PER_BTC
BTC_DECIMALS = 8
FEE_RATE_DECIMALS = 3  # BDK counts fee rates in sat/kwu: 1/250 sat/vB is the finest step

# Spaces group digits in many locales (fr: U+202F, ru: U+00A0); typed, they are plain spaces.
SPACES = frozenset({" ", "\u00a0", "\u202f"})
# Characters some locale uses as a decimal point or a group separator.
SEPARATORS = frozenset({".", ",", "'", "\u2019", "\u066b", "\u066c"}) | SPACES
APOSTROPHES = frozenset({"'", "\u2019"})
MINUS_SIGNS = frozenset({"-", "\u2212"})

_UNIT_SUFFIX = re.compile(r"\s*(btc|sats?|satoshis?)\s*$", re.IGNORECASE)
_FEE_SUFFIX = re.compile(r"\s*sats?\s*/\s*v?b\s*$", re.IGNORECASE)


class Unit(StrEnum):
    """The unit amounts are shown and typed in (preference ``unit``)."""

    BTC = "BTC"
    SAT = "sat"

    @classmethod
    def from_preference(cls, value: str | None) -> Unit:
        """The unit a stored preference names; anything unknown reads as BTC."""
        text = (value or "").strip().lower()
        if text in ("sat", "sats", "satoshi", "satoshis"):
            return cls.SAT
        return cls.BTC

    @property
    def decimals(self) -> int:
        return BTC_DECIMALS if self is Unit.BTC else 0

    @property
    def sats_per_unit(self) -> int:
        return SATS_PER_BTC if self is Unit.BTC else 1


class AmountError(ValueError, UserError):
    """A typed amount or fee rate that cannot be read; ``str(error)`` is fit for the user."""


@dataclass(frozen=True)
class NumberFormat:
    """How the user's locale writes numbers: its decimal point and its group separator."""

    decimal_point: str = "."
    group_separator: str = ","

    def __post_init__(self) -> None:
        for char in (self.decimal_point, self.group_separator):
            if len(char) != 1 or char.isdigit():
                raise ValueError(f"a number separator must be one non-digit character: {char!r}")
        if self.decimal_point == self.group_separator:
            raise ValueError("the decimal point and the group separator must differ")

    @classmethod
    def of(cls, decimal_point: str, group_separator: str) -> NumberFormat:
        """The format a locale reports, falling back to the usual partner of its decimal point
        when the reported group separator is unusable (empty, or equal to the decimal point)."""
        point = decimal_point if len(decimal_point) == 1 and not decimal_point.isdigit() else "."
        group = group_separator
        if len(group) != 1 or group.isdigit() or group == point:
            group = "," if point != "," else "."
        return cls(point, group)

    @property
    def groupers(self) -> frozenset[str]:
        """What may group the digits of a whole number: the locale's separator, and spaces."""
        found = frozenset({self.group_separator}) | SPACES
        # Swiss grouping is a typographic apostrophe; on a keyboard it is typed as "'".
        return found | APOSTROPHES if self.group_separator in APOSTROPHES else found

    def example(self) -> str:
        return f"1{self.group_separator}234{self.decimal_point}5"


DEFAULT_FORMAT = NumberFormat()


# --- parsing -----------------------------------------------------------------------------------


def parse_amount(text: str, unit: Unit, number_format: NumberFormat = DEFAULT_FORMAT) -> int:
    """A typed amount, in satoshis; AmountError saying what is wrong otherwise.

    A unit written after the number ("0.5 BTC", "5000 sat") is taken as written; otherwise the
    amount is in ``unit``.
    """
    stripped = text.strip()
    if not stripped:
        raise AmountError("Enter an amount.")
    written_unit = unit
    suffix = _UNIT_SUFFIX.search(stripped)
    number = stripped
    if suffix is not None:
        written_unit = Unit.from_preference(suffix.group(1))
        number = stripped[: suffix.start()]
    value = parse_number(
        number,
        number_format,
        decimals=written_unit.decimals,
        shown=stripped,
        too_precise=(
            "Bitcoin amounts have at most eight decimals."
            if written_unit is Unit.BTC
            else "Amounts in sat are whole numbers (1 sat is the smallest amount)."
        ),
        what=f"an amount in {written_unit.value}",
    )
    if value <= 0:
        raise AmountError("The amount must be more than zero.")
    sats = value * written_unit.sats_per_unit
    if sats > MAX_MONEY_SAT:
        raise AmountError(f"“{stripped}” is more than there will ever be bitcoin (21 million).")
    return int(sats)


def parse_fee_rate(text: str, number_format: NumberFormat = DEFAULT_FORMAT) -> float:
    """A typed fee rate in sat/vB; AmountError saying what is wrong otherwise.

    The range is the wallet's to check (it knows its limits); this only reads the number.
    """
    stripped = text.strip()
    if not stripped:
        raise AmountError("Enter a fee rate in sat/vB, or choose one of the presets.")
    suffix = _FEE_SUFFIX.search(stripped)
    number = stripped[: suffix.start()] if suffix is not None else stripped
    value = parse_number(
        number,
        number_format,
        decimals=FEE_RATE_DECIMALS,
        shown=stripped,
        too_precise=f"A fee rate has at most {FEE_RATE_DECIMALS} decimals.",
        what="a fee rate in sat/vB",
    )
    return float(value)


def parse_number(
    text: str,
    number_format: NumberFormat,
    *,
    decimals: int,
    shown: str | None = None,
    too_precise: str = "",
    what: str = "an amount",
) -> Decimal:
    """A non-negative number written the way ``number_format`` writes numbers.

    Refuses, with the reason: signs, exponents, letters, a decimal point the locale does not use,
    digit groups that are not groups of three, more than ``decimals`` decimals, and a single
    group separator that could as well be a decimal point ("1,500" with decimals allowed).
    """
    shown = text.strip() if shown is None else shown
    try:
        return _read(text.strip(), number_format, decimals, _Wording(shown, too_precise, what))
    except _WrongConvention:
        message = _convention_message(text.strip(), number_format, decimals, shown, what)
        raise AmountError(message) from None


class _WrongConvention(Exception):
    """The text uses separators the way another locale does."""


@dataclass(frozen=True)
class _Wording:
    shown: str  # the text as the user typed it
    too_precise: str  # what to say about too many decimals
    what: str  # "an amount", "a fee rate in sat/vB"


def _read(text: str, fmt: NumberFormat, decimals: int, wording: _Wording) -> Decimal:
    shown, too_precise, what = wording.shown, wording.too_precise, wording.what
    if text[:1] in MINUS_SIGNS:
        raise AmountError(f"“{shown}”: {what} cannot be negative; it must be more than zero.")
    if text[:1] == "+":
        text = text[1:]
    if not text or any(not (c in "0123456789" or c in SEPARATORS) for c in text):
        raise AmountError(f"“{shown}” is not {what}: use digits, for example {fmt.example()}.")
    point = fmt.decimal_point
    if text.count(point) > 1:
        raise _WrongConvention
    whole, has_point, fraction = text.partition(point)
    if not fraction.isdigit() and fraction:
        raise _WrongConvention
    digits = _whole_digits(whole, fmt, allow_ambiguous=bool(has_point) or decimals < 3, shown=shown)
    if not digits and not fraction:
        raise AmountError(f"“{shown}” is not {what}: use digits, for example {fmt.example()}.")
    if len(fraction) > decimals:
        if decimals == 0 and len(fraction) == 3 and not whole.startswith("0"):
            # "1.000" sat: a whole number grouped as another locale does, or a fraction of a
            # sat; say which reading was probably meant rather than guess.
            raise _WrongConvention
        raise AmountError(too_precise or f"“{shown}” has too many decimals.")
    return Decimal(f"{digits or '0'}.{fraction or '0'}")


def _whole_digits(whole: str, fmt: NumberFormat, *, allow_ambiguous: bool, shown: str) -> str:
    """The digits of the whole-number part, its digit groups checked and removed."""
    if whole.isdigit() or not whole:
        return whole
    separators = {c for c in whole if not c.isdigit()}
    # One kind of separator: spaces of any width count as one, and so do both apostrophes.
    one_kind = len(separators) == 1 or separators <= SPACES or separators <= APOSTROPHES
    if not one_kind or not separators <= fmt.groupers:
        raise _WrongConvention
    could_be_a_point = not separators & (SPACES | APOSTROPHES)
    groups = re.split("[" + re.escape("".join(separators)) + "]", whole)
    if not (1 <= len(groups[0]) <= 3) or any(len(g) != 3 for g in groups[1:]):
        raise _WrongConvention
    if groups[0].startswith("0"):
        raise _WrongConvention  # "0.005" groups nothing: it is a decimal written another way
    if any(not g.isdigit() for g in groups):
        raise _WrongConvention
    if len(groups) == 2 and could_be_a_point and not allow_ambiguous:
        separator = separators.pop()
        whole_reading = "".join(groups)
        fraction_reading = f"{groups[0]}{fmt.decimal_point}{groups[1]}"
        raise AmountError(
            f"“{shown}” could mean {whole_reading} or {fraction_reading}: type it without "
            f"the “{separator}”, as {whole_reading} or {fraction_reading}."
        )
    return "".join(groups)


def _convention_message(text: str, fmt: NumberFormat, decimals: int, shown: str, what: str) -> str:
    base = (
        f"“{shown}” is not {what} as this computer writes numbers: “{fmt.decimal_point}” is "
        f"the decimal point and “{fmt.group_separator}” groups thousands ({fmt.example()})."
    )
    guess = _other_reading(text, fmt, decimals)
    return f"{base} Did you mean {guess}?" if guess else base


def _other_reading(text: str, fmt: NumberFormat, decimals: int) -> str | None:
    """The text read with the decimal point and group separator swapped, in the user's format."""
    if fmt.decimal_point not in ".," or fmt.group_separator not in ".,":
        swapped = NumberFormat("," if fmt.decimal_point == "." else ".", fmt.decimal_point)
    else:
        swapped = NumberFormat(fmt.group_separator, fmt.decimal_point)
    try:
        value = _read(text, swapped, decimals, _Wording(text, "", ""))
    except (AmountError, _WrongConvention):
        return None
    return format_number(value, fmt, decimals=_decimals_of(value))


def _decimals_of(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# --- formatting --------------------------------------------------------------------------------


def format_number(value: Decimal | int, fmt: NumberFormat, *, decimals: int) -> str:
    """A non-negative number with the locale's grouping and exactly ``decimals`` decimals."""
    quantised = Decimal(value).quantize(Decimal(1).scaleb(-decimals)) if decimals else value
    whole, _, fraction = f"{quantised:f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", fmt.group_separator)
    return f"{grouped}{fmt.decimal_point}{fraction}" if decimals else grouped


def format_amount(
    sats: int,
    unit: Unit = Unit.BTC,
    fmt: NumberFormat = DEFAULT_FORMAT,
    *,
    signed: bool = False,
    with_unit: bool = True,
) -> str:
    """Satoshis in ``unit``: '0.01500000 BTC' (all eight decimals) or '1,500,000 sat'."""
    sign = ""
    if sats < 0:
        sign = "\u2212"
    elif signed and sats > 0:
        sign = "+"
    magnitude = abs(sats)
    if unit is Unit.BTC:
        number = format_number(Decimal(magnitude).scaleb(-BTC_DECIMALS), fmt, decimals=8)
    else:
        number = format_number(magnitude, fmt, decimals=0)
    return f"{sign}{number} {unit.value}" if with_unit else f"{sign}{number}"


def format_fee_rate(rate: float, fmt: NumberFormat = DEFAULT_FORMAT) -> str:
    """A fee rate with one decimal, e.g. '2.0' (the field and the presets show it so)."""
    return format_number(Decimal(str(round(rate, 1))), fmt, decimals=1)
