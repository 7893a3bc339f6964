"""The first screen: create a new wallet or restore one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QToolButton, QWidget

from cairn.keys import Network
from cairn.onboarding import Flow, View, WizardState
from cairn.ui.resources import icon_path
from cairn.ui.wizard.base import WizardPage

NETWORK_LABELS = {
    Network.BITCOIN: "Bitcoin",
    Network.TESTNET: "Testnet (test coins)",
    Network.SIGNET: "Signet (test coins)",
    Network.REGTEST: "Regtest (a local test chain)",
}


class WelcomePage(WizardPage):
    view = View.WELCOME
    next_text = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.body.setSpacing(10)  # room for the advanced options when they are unfolded
        self.body.addStretch(1)
        logo = QLabel()
        logo.setPixmap(
            QPixmap(str(icon_path(128))).scaled(
                72,
                72,
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
        self.body.addSpacing(8)
        self.create_button = QPushButton("Create a new wallet")
        self.create_button.setObjectName("primary")
        self.restore_button = QPushButton("I have recovery words")
        self.restore_button.setObjectName("secondary")
        for button in (self.create_button, self.restore_button):
            button.setMinimumHeight(44)
            self.body.addWidget(button)
        self._add_advanced()
        self.body.addStretch(2)
        self.create_button.clicked.connect(lambda: self._choose(Flow.CREATE))
        self.restore_button.clicked.connect(lambda: self._choose(Flow.RESTORE))

    def _add_advanced(self) -> None:
        """Options most people never need, folded away: which network the wallet is on."""
        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advancedToggle")
        self.advanced_button.setText("Advanced options")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.toggled.connect(self._show_advanced)
        self.body.addWidget(self.advanced_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self.advanced = QWidget()
        form = QFormLayout(self.advanced)
        form.setContentsMargins(0, 0, 0, 0)
        self.network_box = QComboBox()
        self.network_box.setObjectName("networkChoice")
        for network, label in NETWORK_LABELS.items():
            self.network_box.addItem(label, network.value)
        self.network_box.currentIndexChanged.connect(self._network_chosen)
        form.addRow("Network", self.network_box)
        # The brand bar says "test coins only" whenever a test network is chosen.
        hint = QLabel("For a new wallet or a restore. Only Bitcoin coins have value.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        form.addRow(hint)
        self.advanced.hide()
        self.body.addWidget(self.advanced)

    def _show_advanced(self, shown: bool) -> None:
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        self.advanced.setVisible(shown)

    def _network_chosen(self, index: int) -> None:
        self.wizard.update(network=Network(self.network_box.itemData(index)))

    def load(self, state: WizardState) -> None:
        self.network_box.blockSignals(True)
        self.network_box.setCurrentIndex(self.network_box.findData(state.network.value))
        self.network_box.blockSignals(False)

    def _choose(self, flow: Flow) -> None:
        self.wizard.update(flow=flow)
        self.wizard.next()

    def entered(self) -> None:
        self.create_button.setFocus()
