"""The first screen: create a new wallet or restore one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QPushButton

from cairn.onboarding import Flow, View
from cairn.ui.resources import icon_path
from cairn.ui.wizard.base import WizardPage


class WelcomePage(WizardPage):
    view = View.WELCOME
    next_text = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.body.addStretch(1)
        logo = QLabel()
        logo.setPixmap(
            QPixmap(str(icon_path(128))).scaled(
                96,
                96,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.addWidget(logo)
        name = QLabel("Welcome to Cairn")
        name.setObjectName("welcomeTitle")
        name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.addWidget(name)
        tagline = QLabel(
            "A Bitcoin wallet that never loses what you had. Every change is encrypted on this "
            "computer and backed up; twelve words bring everything back."
        )
        tagline.setObjectName("tagline")
        tagline.setWordWrap(True)
        tagline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.addWidget(tagline)
        self.body.addSpacing(18)
        self.create_button = QPushButton("Create a new wallet")
        self.create_button.setObjectName("primary")
        self.restore_button = QPushButton("I have recovery words")
        self.restore_button.setObjectName("secondary")
        for button in (self.create_button, self.restore_button):
            button.setMinimumHeight(44)
            self.body.addWidget(button)
        self.body.addStretch(2)
        self.create_button.clicked.connect(lambda: self._choose(Flow.CREATE))
        self.restore_button.clicked.connect(lambda: self._choose(Flow.RESTORE))

    def _choose(self, flow: Flow) -> None:
        self.wizard.update(flow=flow)
        self.wizard.next()

    def entered(self) -> None:
        self.create_button.setFocus()
