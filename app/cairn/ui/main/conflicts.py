"""Concurrent edits from two devices, shown with both values, the device and time of each.

The record holds the later edit until the user chooses; choosing is an ordinary change, backed
up and carried to every device.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QLabel,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.model import ConflictValueView, ConflictView

MAX_SHOWN = 120


def describe_record(name: str) -> str:
    """What a record name means to the user."""
    kind, _, rest = name.partition("/")
    if kind == "labels":
        type_, _, ref = rest.partition("/")
        what = {"tx": "transaction", "addr": "address"}.get(type_, type_)
        return f"Label of {what} {ref[:16]}{'…' if len(ref) > 16 else ''}"
    if kind == "prefs":
        return f"Setting “{rest}”"
    if kind == "payments":
        return f"Payment note {rest[:16]}…"
    return name


def describe_value(candidate: ConflictValueView) -> str:
    if candidate.value is None:
        return "(deleted)"
    text = candidate.value.decode("utf-8", "replace")
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def describe_origin(candidate: ConflictValueView) -> str:
    when = datetime.fromtimestamp(candidate.clock[0] / 1000, UTC).astimezone()
    return f"device {candidate.device.hex()[:8]} · {when:%Y-%m-%d %H:%M}"


class ConflictsDialog(QDialog):
    """One group per conflict; the user picks the value to keep and presses Keep."""

    resolve = Signal(str, int)  # record name, index of the value kept

    def __init__(self, conflicts: Sequence[ConflictView], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Changes made on two devices at once")
        self.groups: dict[str, QButtonGroup] = {}
        intro = QLabel(
            "These were changed on two of your devices at the same time. Cairn kept every "
            "value; the newest is in use. Choose the one to keep."
        )
        intro.setWordWrap(True)
        body = QWidget()
        rows = QVBoxLayout(body)
        for conflict in conflicts:
            box = QGroupBox(describe_record(conflict.name))
            inner = QVBoxLayout(box)
            group = QButtonGroup(box)
            for index, candidate in enumerate(conflict.candidates):
                choice = QRadioButton(f"{describe_value(candidate)}\n{describe_origin(candidate)}")
                choice.setChecked(index == 0)
                group.addButton(choice, index)
                inner.addWidget(choice)
            self.groups[conflict.name] = group
            rows.addWidget(box)
        rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.buttons = QDialogButtonBox()
        self.keep_button = self.buttons.addButton("Keep", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self._keep)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.buttons)

    def _keep(self) -> None:
        for name, group in self.groups.items():
            self.resolve.emit(name, max(0, group.checkedId()))
        self.accept()
