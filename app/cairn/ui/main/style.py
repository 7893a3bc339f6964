"""The shared style sheet (resources/style.qss), applied to a top-level widget."""

from __future__ import annotations

from functools import cache
from importlib import resources

from PySide6.QtWidgets import QWidget


@cache
def style_sheet() -> str:
    try:
        return (resources.files("cairn.resources") / "style.qss").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        # A checkout without resources still runs, just unstyled.
        return ""


def apply_style(widget: QWidget) -> None:
    widget.setStyleSheet(style_sheet())
