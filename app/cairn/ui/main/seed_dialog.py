"""The recovery words, shown only after the user confirmed they want to see them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

COLUMNS = 3


class SeedDialog(QDialog):
    """Numbered words in a grid; not selectable, because a copied seed lingers in clipboards."""

    def __init__(self, words: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("seedDialog")
        self.setWindowTitle("Your recovery words")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        warning = QLabel(
            "Anyone who sees these words can take your bitcoin. Make sure nobody is watching, "
            "and never type them into a website or share a photo of them."
        )
        warning.setObjectName("warning")
        warning.setWordWrap(True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(24)
        grid.setVerticalSpacing(8)
        rows = (len(words) + COLUMNS - 1) // COLUMNS
        self.word_labels: list[QLabel] = []
        for i, word in enumerate(words):
            label = QLabel(f"{i + 1:>2}.  {word}")
            label.setObjectName("seedWord")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            self.word_labels.append(label)
            grid.addWidget(label, i % rows, i // rows)
        close = QPushButton("I have them safe — close")
        close.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(16)
        layout.addWidget(warning)
        layout.addLayout(grid)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)

    @property
    def words(self) -> list[str]:
        return [label.text().split(".", 1)[1].strip() for label in self.word_labels]
