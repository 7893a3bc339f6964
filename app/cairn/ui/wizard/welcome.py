"""The first screen: create a new wallet or restore one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cairn.keys import Network
from cairn.onboarding import Flow, PageStatus, View, WizardState
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
        self.logo = logo
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
        self.tagline = tagline
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
        """Options most people never need, folded away: the network, and a BIP39 passphrase."""
        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advancedToggle")
        self.advanced_button.setText("Advanced options")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.toggled.connect(self._show_advanced)
        self.body.addWidget(self.advanced_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self.advanced = QWidget()
        column = QVBoxLayout(self.advanced)
        column.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        column.addLayout(form)
        self.network_box = QComboBox()
        self.network_box.setObjectName("networkChoice")
        for network, label in NETWORK_LABELS.items():
            self.network_box.addItem(label, network.value)
        self.network_box.currentIndexChanged.connect(self._network_chosen)
        form.addRow("Network", self.network_box)
        self.passphrase_field = self._secret_field("passphrase", "none")
        self.passphrase_again_field = self._secret_field("passphrase_again", "the same again")
        form.addRow("Passphrase", self.passphrase_field)
        form.addRow("Repeat it", self.passphrase_again_field)
        self.problem = QLabel("")
        self.problem.setObjectName("fieldProblem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        # Wrapped labels below the form, not in it: a form row does not grow with their lines.
        column.addWidget(self.problem)
        # The brand bar says "test coins only" whenever a test network is chosen.
        hint = QLabel(
            "For a new wallet or a restore. Only Bitcoin coins have value. A passphrase makes "
            "your words open another wallet: without it neither the wallet nor its backup can "
            "be restored, so write it down with your words."
        )
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        column.addWidget(hint)
        self.advanced.hide()
        self.body.addWidget(self.advanced)

    def _secret_field(self, name: str, placeholder: str) -> QLineEdit:
        field = QLineEdit()
        field.setObjectName(name)
        field.setEchoMode(QLineEdit.EchoMode.Password)
        field.setPlaceholderText(placeholder)
        field.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        field.textEdited.connect(lambda text: self.wizard.update(**{name: text}))
        return field

    def _show_advanced(self, shown: bool) -> None:
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        # The logo and the tagline make room for the options (the window is not taller).
        self.logo.setVisible(not shown)
        self.tagline.setVisible(not shown)
        self.advanced.setVisible(shown)

    def _network_chosen(self, index: int) -> None:
        self.wizard.update(network=Network(self.network_box.itemData(index)))

    def load(self, state: WizardState) -> None:
        self.network_box.blockSignals(True)
        self.network_box.setCurrentIndex(self.network_box.findData(state.network.value))
        self.network_box.blockSignals(False)
        self.passphrase_field.setText(state.passphrase)
        self.passphrase_again_field.setText(state.passphrase_again)
        if state.passphrase or state.passphrase_again:
            self.advanced_button.setChecked(True)  # a passphrase in use is never out of sight

    def show_status(self, status: PageStatus) -> None:
        # This page has its own buttons, so the window's error line is not shown here.
        self.problem.setText(status.error or "")
        self.problem.setVisible(status.error is not None)
        if status.error is not None:
            self.advanced_button.setChecked(True)

    def _choose(self, flow: Flow) -> None:
        self.wizard.update(flow=flow)
        if not self.wizard.next() and self.passphrase_field.text():
            # The refusal (the passphrases differ) shows below; the fields are where to fix it.
            self.passphrase_again_field.setFocus()

    def entered(self) -> None:
        self.create_button.setFocus()
