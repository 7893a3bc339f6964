"""The fee rate field (sat/vB, read like any amount) and how a preset picks its estimate; shared
by Send and the fee bump in a transaction's details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from cairn.ui.main.amounts import Amounts


def pick_estimate(estimates: Mapping[Any, float], target: int) -> float | None:
    """The estimate for the nearest target at or above `target` (Esplora gives sparse targets)."""
    by_target = sorted((int(k), float(v)) for k, v in estimates.items())
    for blocks, rate in by_target:
        if blocks >= target:
            return rate
    return by_target[-1][1] if by_target else None


class FeeRateField(QLineEdit):
    """A fee rate in sat/vB, typed or set from a preset (one decimal), read like any amount."""

    def __init__(self, amounts: Amounts) -> None:
        super().__init__()
        self.amounts = amounts
        self.setObjectName("feeRate")
        self.setMaximumWidth(90)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def value(self) -> float:
        """The rate typed; ValueError with a readable reason if it cannot be read."""
        return self.amounts.parse_fee_rate(self.text())

    def setValue(self, rate: float) -> None:
        self.setText(self.amounts.fee_rate_text(rate))
