"""The wizard window: one page per view, Back / Skip / Next driven by the wizard's status."""

from __future__ import annotations

import itertools
import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cairn.onboarding import View, Wizard
from cairn.ui.resources import icon_path, style_sheet
from cairn.ui.shortcuts import add_quit_shortcut
from cairn.ui.wizard.base import WizardPage
from cairn.ui.wizard.email import EmailPage
from cairn.ui.wizard.loading import LoadingPage, OnboardingSession
from cairn.ui.wizard.restore import RestoreWordsPage
from cairn.ui.wizard.seed import ConfirmWordsPage, DisclaimerPage, ShowWordsPage
from cairn.ui.wizard.server import BackupServerPage
from cairn.ui.wizard.welcome import WelcomePage

log = logging.getLogger(__name__)

PAGE_CLASSES: dict[View, type[WizardPage]] = {
    View.WELCOME: WelcomePage,
    View.SHOW_WORDS: ShowWordsPage,
    View.CONFIRM_WORDS: ConfirmWordsPage,
    View.DISCLAIMER: DisclaimerPage,
    View.RESTORE_WORDS: RestoreWordsPage,
    View.EMAIL: EmailPage,
    View.BACKUP_SERVER: BackupServerPage,
}


class WizardWindow(QWidget):
    """A plain window (no menu bar, no animations); emits `finished` when MAIN is reached."""

    finished = Signal()

    def __init__(
        self, wizard: Wizard, session: OnboardingSession, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.wizard = wizard
        self.session = session
        self.setObjectName("wizardWindow")
        self.setWindowTitle("Cairn")
        self.setWindowIcon(QIcon(str(icon_path(256))))
        self.setStyleSheet(style_sheet())
        self.resize(720, 600)
        self.pages: dict[View, WizardPage] = {}
        self._shown: tuple[int, View] | None = None

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._brand_bar())
        center = QHBoxLayout()
        center.setContentsMargins(24, 24, 24, 24)
        center.addStretch(1)
        self.card = QFrame()
        self.card.setObjectName("wizardCard")
        self.card.setMinimumWidth(560)
        self.card.setMaximumWidth(640)
        card_layout = QVBoxLayout(self.card)
        card_layout.setContentsMargins(32, 28, 32, 24)
        card_layout.setSpacing(14)
        self.stack = QStackedWidget()
        card_layout.addWidget(self.stack, 1)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        card_layout.addWidget(self.error)
        buttons = QHBoxLayout()
        self.back_button = QPushButton("Back")
        self.back_button.setObjectName("quiet")
        self.skip_button = QPushButton("Skip")
        self.next_button = QPushButton("Next")
        self.next_button.setObjectName("primary")
        self.next_button.setDefault(True)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.next_button)
        self.button_row = QWidget()
        self.button_row.setLayout(buttons)
        card_layout.addWidget(self.button_row)
        center.addWidget(self.card, 10)
        center.addStretch(1)
        outer.addLayout(center, 1)

        self.back_button.clicked.connect(self.wizard.back)
        self.skip_button.clicked.connect(self.wizard.skip)
        self.next_button.clicked.connect(self.wizard.next)
        add_quit_shortcut(self)
        self.wizard.subscribe(self._changed)
        self._changed(self.wizard)

    def _brand_bar(self) -> QWidget:
        bar = QFrame()
        bar.setObjectName("brandBar")
        layout = QHBoxLayout(bar)
        layout.setContentsMargins(20, 10, 20, 10)
        logo = QLabel()
        logo.setPixmap(
            QPixmap(str(icon_path(32))).scaled(
                22,
                22,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        name = QLabel("Cairn")
        name.setObjectName("brandName")
        layout.addWidget(logo)
        layout.addWidget(name)
        layout.addStretch(1)
        self.network_badge = QLabel("")
        self.network_badge.setObjectName("networkBadge")
        layout.addWidget(self.network_badge)
        self._show_network(str(getattr(self.session, "network", "bitcoin")))
        return bar

    def _show_network(self, network: str) -> None:
        # Test networks are said plainly: their coins have no value.
        self.network_badge.setText(f"{network} · test coins only")
        self.network_badge.setVisible(network != "bitcoin")

    def page(self, view: View) -> WizardPage:
        if view not in self.pages:
            if view is View.LOADING:
                page: WizardPage = LoadingPage(self.wizard, self.session)
            else:
                page = PAGE_CLASSES[view](self.wizard)
            self.pages[view] = page
            self.stack.addWidget(page)
        return self.pages[view]

    @property
    def current_page(self) -> WizardPage:
        return self.page(self.wizard.view)

    def _changed(self, wizard: Wizard) -> None:
        self._show_network(wizard.state.network.value)
        key = (len(wizard.history), wizard.view)
        if key != self._shown:
            self._shown = key
            if wizard.view is View.MAIN:
                log.info("wizard finished")
                self.finished.emit()
                return
            page = self.page(wizard.view)
            self.stack.setCurrentWidget(page)
            page.load(wizard.state)
            self._order_tabs(page)
            # Widgets a page adds while loading are shown by a queued call of Qt's; focus can
            # only go to them after that, or it falls to the first button (Back).
            QTimer.singleShot(0, self, lambda: self._enter(page))
        self._update_buttons()

    def _enter(self, page: WizardPage) -> None:
        if self.wizard.view is page.view and self.stack.currentWidget() is page:
            page.entered()
            focus = QApplication.focusWidget()
            # The stack hands the focus to the page itself; a page with nothing to type in
            # (the words to write down) passes it to Next, so Enter or Space goes on.
            on_page = focus is not None and focus is not page and page.isAncestorOf(focus)
            if self.button_row.isVisible() and not on_page:
                self.next_button.setFocus()

    def _order_tabs(self, page: WizardPage) -> None:
        """Tab goes through the page, then Next, Skip, Back: never from the page to Back first.

        Pages are built after the buttons (and some rebuild their fields on every visit), so
        Qt's creation-order chain would otherwise put Back before the page's first field.
        """
        buttons = [self.next_button, self.skip_button, self.back_button]
        chain = [*self._page_focus_chain(page), *buttons]
        for before, after in itertools.pairwise(chain):
            QWidget.setTabOrder(before, after)

    def _page_focus_chain(self, page: WizardPage) -> list[QWidget]:
        """The page's widgets that take Tab focus, in the order the page created them."""
        found: list[QWidget] = []
        widget = self.nextInFocusChain()
        while widget is not None and widget is not self:
            if page.isAncestorOf(widget) and widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
                found.append(widget)
            widget = widget.nextInFocusChain()
        return found

    def _update_buttons(self) -> None:
        wizard = self.wizard
        if wizard.view is View.MAIN:
            return
        page = self.page(wizard.view)
        status = wizard.status
        own_buttons = page.next_text is None
        self.button_row.setVisible(not own_buttons)
        self.back_button.setVisible(wizard.can_go_back)
        self.skip_button.setVisible(wizard.step.skippable)
        self.next_button.setText(page.next_text or "Next")
        self.next_button.setEnabled(status.can_next)
        self.next_button.setToolTip(status.hint or "")
        # The loading page shows its own failures next to its Retry/Change/Continue buttons.
        show_error = status.error is not None and not own_buttons
        self.error.setText(status.error or "")
        self.error.setVisible(show_error)
        page.show_status(status)

    def closeEvent(self, event: QCloseEvent) -> None:
        loading = self.pages.get(View.LOADING)
        if isinstance(loading, LoadingPage):
            loading.cancel()
        super().closeEvent(event)
