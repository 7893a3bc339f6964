"""Confirmations that never block: dialogs are opened with .open() and answer through signals.

`QDialog.exec()` inside a qasync coroutine crashes (see the project notes), so every question is
asked with a callback for the affirmative answer.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def ask(
    parent: QWidget,
    title: str,
    text: str,
    action: str,
    on_confirm: Callable[[], object],
    *,
    detail: str = "",
    destructive: bool = False,
) -> QMessageBox:
    """Open a window-modal question; `on_confirm` runs only if the user clicks `action`."""
    box = QMessageBox(parent)
    box.setObjectName("confirmation")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    if detail:
        box.setInformativeText(detail)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    confirm = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    confirm.setObjectName("confirmButton")
    confirm.setProperty("destructive", destructive)
    # The button box polished the button when it was added: polish again to apply the property.
    confirm.style().unpolish(confirm)
    confirm.style().polish(confirm)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)

    def answered(_result: int) -> None:
        if box.clickedButton() is confirm:
            on_confirm()
        box.deleteLater()

    box.finished.connect(answered)
    box.open()
    return box
