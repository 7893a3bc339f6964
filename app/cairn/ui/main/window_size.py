"""The main window's size: the user's last one (or a default), always fitted to the screen's
available area, so at 1.5x scale or on a small screen the window never opens larger than it."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from cairn.ui.main.local_state import LocalUiState, fitted_size


def fit_to_screen(window: QWidget, state: LocalUiState, default: tuple[int, int]) -> None:
    """Size and centre ``window`` on its screen; call before it is shown."""
    wanted = state.window_size() or default
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        window.resize(*wanted)
        return
    area = screen.availableGeometry()
    width, height = fitted_size(wanted, (area.width(), area.height()))
    window.resize(width, height)
    window.move(
        area.x() + max(0, (area.width() - width) // 2),
        area.y() + max(0, (area.height() - height) // 2),
    )


def remember_size(window: QWidget, state: LocalUiState) -> None:
    """Keep the size the user left (a maximised or full-screen window has none of its own)."""
    if not window.isMaximized() and not window.isFullScreen():
        state.set_window_size(window.width(), window.height())
