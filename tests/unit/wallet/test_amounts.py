"""Amounts typed and shown by locale: exact reading, clear refusals, no silent power of ten."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cairn.wallet.amounts import (
    MAX_MONEY_SAT,
    SATS_PER_BTC,
    AmountError,
    NumberFormat,
    Unit,
    format_amount,
    parse_amount,
    parse_fee_rate,
)

EN = NumberFormat(".", ",")
DE = NumberFormat(",", ".")
FR = NumberFormat(",", "\u202f")
CH = NumberFormat(".", "\u2019")
FORMATS = [EN, DE, FR, CH]
formats = st.sampled_from(FORMATS)
units = st.sampled_from(list(Unit))
sats = st.integers(min_value=1, max_value=MAX_MONEY_SAT)


@pytest.mark.parametrize(
    ("text", "fmt", "unit", "expected"),
    [
        ("0.5", EN, Unit.BTC, 50_000_000),
        ("0,5", DE, Unit.BTC, 50_000_000),
        ("0,5", FR, Unit.BTC, 50_000_000),
        (".5", EN, Unit.BTC, 50_000_000),
        ("5.", EN, Unit.BTC, 500_000_000),
        ("1,000.5", EN, Unit.BTC, 100_050_000_000),
        ("1.000,5", DE, Unit.BTC, 100_050_000_000),
        ("1 000,5", FR, Unit.BTC, 100_050_000_000),
        ("1,000,000", EN, Unit.BTC, 1_000_000 * SATS_PER_BTC),
        ("0.00000001 BTC", EN, Unit.BTC, 1),
        ("1,500", EN, Unit.SAT, 1_500),
        ("1.500", DE, Unit.SAT, 1_500),
        ("2500 sat", EN, Unit.BTC, 2_500),  # a unit written out is taken as written
        ("0.01 btc", EN, Unit.SAT, 1_000_000),
        ("  +0.25  ", EN, Unit.BTC, 25_000_000),
    ],
)
def test_amounts_are_read_as_the_locale_writes_them(text, fmt, unit, expected):
    assert parse_amount(text, unit, fmt) == expected


@pytest.mark.parametrize(
    ("text", "fmt", "unit", "message"),
    [
        # The reported defect: "0,5" with "." as the decimal point was read as 5 BTC.
        ("0,5", EN, Unit.BTC, "Did you mean 0.5?"),
        ("0.5", DE, Unit.BTC, "Did you mean 0,5?"),
        ("0.5", FR, Unit.BTC, "Did you mean 0,5?"),
        ("1.000,5", EN, Unit.BTC, "Did you mean 1,000.5?"),
        ("0.005", DE, Unit.BTC, "Did you mean 0,005?"),
        ("0,500", EN, Unit.BTC, "Did you mean 0.5?"),
        ("0,500", EN, Unit.SAT, "as this computer writes numbers"),
        ("1,500", EN, Unit.BTC, "could mean 1500 or 1.500"),
        ("1.500", DE, Unit.BTC, "could mean 1500 or 1,500"),
        ("1.000", EN, Unit.SAT, "Did you mean 1,000?"),
        ("0.5", EN, Unit.SAT, "whole numbers"),
        ("0.000000001", EN, Unit.BTC, "at most eight decimals"),
        ("1.2.3", EN, Unit.BTC, "as this computer writes numbers"),
        ("12,34,567", EN, Unit.BTC, "as this computer writes numbers"),
        ("1e-3", EN, Unit.BTC, "use digits"),
        ("NaN", EN, Unit.BTC, "use digits"),
        ("twelve", EN, Unit.BTC, "use digits"),
        ("-1", EN, Unit.BTC, "cannot be negative"),
        ("0", EN, Unit.BTC, "more than zero"),
        ("", EN, Unit.BTC, "Enter an amount"),
        ("21000001", EN, Unit.BTC, "21 million"),
    ],
)
def test_unreadable_or_ambiguous_amounts_are_refused_with_a_reason(text, fmt, unit, message):
    with pytest.raises(AmountError) as raised:
        parse_amount(text, unit, fmt)
    assert message in str(raised.value)


def test_fee_rates_use_the_same_reading():
    assert parse_fee_rate("2.5", EN) == 2.5
    assert parse_fee_rate("2,5", DE) == 2.5
    assert parse_fee_rate("12 sat/vB", EN) == 12.0
    with pytest.raises(AmountError, match=r"Did you mean 2\.5"):
        parse_fee_rate("2,5", EN)
    with pytest.raises(AmountError, match="a fee rate"):
        parse_fee_rate("fast", EN)


def test_amounts_are_shown_by_locale_and_unit():
    assert format_amount(150_000_000, Unit.BTC, EN) == "1.50000000 BTC"
    assert format_amount(123_456_789_000, Unit.BTC, DE) == "1.234,56789000 BTC"
    assert format_amount(1_500_000, Unit.SAT, EN) == "1,500,000 sat"
    assert format_amount(1_500_000, Unit.SAT, FR) == "1\u202f500\u202f000 sat"
    assert format_amount(-5, Unit.SAT, EN) == "\u22125 sat"
    assert format_amount(5, Unit.SAT, EN, signed=True) == "+5 sat"


@given(sats, units, formats, st.booleans())
def test_every_amount_shown_reads_back_as_itself(amount, unit, fmt, with_unit):
    shown = format_amount(amount, unit, fmt, with_unit=with_unit)
    assert parse_amount(shown, unit, fmt) == amount


def _oracle(text: str, fmt: NumberFormat) -> Decimal:
    """The number as written: group separators dropped, the decimal point read as one."""
    kept = "".join(c for c in text if c not in fmt.groupers)
    return Decimal(kept.replace(fmt.decimal_point, ".").strip("+") or "0")


typed = st.text(alphabet="0123456789.,  '\u2019\u202f+-", min_size=1, max_size=16)


@given(typed, formats, units)
@example("0,5", EN, Unit.BTC)
@example("1,500", EN, Unit.BTC)
@example("1.000", EN, Unit.SAT)
def test_an_accepted_amount_is_exactly_the_number_written(text, fmt, unit):
    """Never a power of ten off: what is accepted is what the digits and the locale say."""
    try:
        sats_read = parse_amount(text, unit, fmt)
    except AmountError:
        return
    assert Decimal(sats_read) == _oracle(text, fmt) * unit.sats_per_unit


@given(typed, units)
@example("1,500", Unit.BTC)
@example("1.500", Unit.BTC)
def test_no_text_means_two_different_amounts_in_two_locales(text, unit):
    """Text both a "." and a "," locale accept means the same amount in both (or is refused)."""
    try:
        in_en, in_de = parse_amount(text, unit, EN), parse_amount(text, unit, DE)
    except AmountError:
        return
    assert in_en == in_de


@given(st.text(max_size=24), formats, units)
def test_any_text_is_read_or_refused_with_amount_error(text, fmt, unit):
    try:
        result = parse_amount(text, unit, fmt)
    except AmountError as error:
        assert str(error)
    else:
        assert 0 < result <= MAX_MONEY_SAT


def test_number_format_from_a_locale_falls_back_sensibly():
    assert NumberFormat.of(",", "") == NumberFormat(",", ".")
    assert NumberFormat.of(".", ".") == NumberFormat(".", ",")
    assert NumberFormat.of("", "") == NumberFormat(".", ",")
    with pytest.raises(ValueError):
        NumberFormat(".", ".")
