"""Keyboard shortcuts every Cairn window shares."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def quit_keys() -> list[QKeySequence]:
    """The platform's Quit keys; Ctrl+Q where the platform names none (Windows, offscreen)."""
    return QKeySequence.keyBindings(QKeySequence.StandardKey.Quit) or [QKeySequence("Ctrl+Q")]


def add_quit_shortcut(window: QWidget) -> QShortcut:
    """The Quit keys close `window`, as closing it by hand does (and the app quits with it)."""
    shortcut = QShortcut(window)
    shortcut.setObjectName("quitShortcut")
    shortcut.setKeys(quit_keys())
    shortcut.activated.connect(window.close)
    return shortcut
