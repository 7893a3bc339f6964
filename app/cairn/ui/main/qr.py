"""QR codes (from the `qrcode` library's module matrix) painted into a QImage."""

from __future__ import annotations

import qrcode
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from qrcode.constants import ERROR_CORRECT_M

DARK = QColor("#1f2a30")
LIGHT = QColor("#ffffff")


def qr_matrix(text: str) -> list[list[bool]]:
    """The modules of `text`'s QR code, quiet zone included (True = dark)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def qr_image(text: str, size: int) -> QImage:
    """A square QImage of about `size` pixels whose modules are whole pixels (crisp, scannable)."""
    matrix = qr_matrix(text)
    modules = len(matrix)
    scale = max(1, size // modules)
    side = modules * scale
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(LIGHT)
    painter = QPainter(image)
    try:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(DARK)
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    painter.drawRect(QRect(x * scale, y * scale, scale, scale))
    finally:
        painter.end()
    return image
