"""How the main window shows and reads amounts: the `unit` preference and the locale's numbers.

Every panel formats and parses through one `Amounts`, so an amount typed anywhere is read the
way amounts are shown everywhere; `changed` tells panels to show their amounts again.
"""

from __future__ import annotations

from PySide6.QtCore import QLocale, QObject, Signal

from cairn.wallet.amounts import (
    NumberFormat,
    Unit,
    format_amount,
    format_fee_rate,
    parse_amount,
    parse_fee_rate,
)


def locale_number_format(locale: QLocale | None = None) -> NumberFormat:
    """The decimal point and group separator of ``locale`` (default: the user's)."""
    found = locale if locale is not None else QLocale()
    return NumberFormat.of(found.decimalPoint(), found.groupSeparator())


class Amounts(QObject):
    changed = Signal()

    def __init__(
        self,
        unit: Unit = Unit.BTC,
        number_format: NumberFormat | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._unit = unit
        self.number_format = number_format or locale_number_format()

    @property
    def unit(self) -> Unit:
        return self._unit

    def set_unit(self, unit: Unit) -> None:
        if unit is not self._unit:
            self._unit = unit
            self.changed.emit()

    def text(self, sats: int, *, signed: bool = False) -> str:
        """``sats`` in the chosen unit, e.g. '0.01500000 BTC' or '1,500,000 sat'."""
        return format_amount(sats, self._unit, self.number_format, signed=signed)

    def number(self, sats: int) -> str:
        """``sats`` in the chosen unit without the unit, as typed into an amount field."""
        return format_amount(sats, self._unit, self.number_format, with_unit=False)

    def other_unit_text(self, sats: int) -> str:
        """``sats`` in the unit not chosen: shown as a tooltip beside the chosen one."""
        other = Unit.SAT if self._unit is Unit.BTC else Unit.BTC
        return format_amount(sats, other, self.number_format)

    def parse(self, text: str) -> int:
        """A typed amount in satoshis; AmountError (a ValueError) with the reason otherwise."""
        return parse_amount(text, self._unit, self.number_format)

    def parse_fee_rate(self, text: str) -> float:
        return parse_fee_rate(text, self.number_format)

    def fee_rate_text(self, rate: float) -> str:
        return format_fee_rate(rate, self.number_format)

    @property
    def placeholder(self) -> str:
        return self.number(0)
