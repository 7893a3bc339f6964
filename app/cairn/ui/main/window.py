"""The main window: balance on top, tabs for activity, send, receive and settings, and the backup
status always visible in the status bar.

On start the window shows before the wallet is open: its frame, the balance and the backup
status, and "Loading wallet…" where the tabs go. `attach_wallet` builds the parts that need
the wallet once the app has opened it (at once when it is already open) and enables them;
`wallet_loaded` says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QMainWindow,
    QStackedWidget,
    QStatusBar,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cairn.events import PaymentReceived
from cairn.ui.main.amounts import Amounts
from cairn.ui.main.backup_actions import BackupActions
from cairn.ui.main.backup_status import BackupStatusWidget
from cairn.ui.main.balance import BalancePanel
from cairn.ui.main.errors import user_message
from cairn.ui.main.header import WindowHeader
from cairn.ui.main.local_state import LocalUiState
from cairn.ui.main.model import (
    BalanceView,
    HistoryItemView,
    MainWindowSession,
    SyncStatusView,
)
from cairn.ui.main.style import apply_style
from cairn.ui.main.tasks import TaskGroup
from cairn.ui.main.wallet_loading import WalletLoadingPage
from cairn.ui.main.window_size import fit_to_screen, remember_size
from cairn.wallet.amounts import Unit
from cairn.wallet.preferences import UNIT_PREFERENCE
from cairn.wallet.watch import ChainProbe, ChainWatcher, SyncRound

if TYPE_CHECKING:
    from cairn.ui.main.addresses import AddressesPanel
    from cairn.ui.main.history import HistoryPanel
    from cairn.ui.main.receive import ReceivePanel
    from cairn.ui.main.seed_banner import SeedWarningBanner
    from cairn.ui.main.send import SendPanel
    from cairn.ui.main.settings import SettingsPanel
    from cairn.ui.main.tx_details import TransactionDetailsDialog

log = logging.getLogger(__name__)

FAUCET_AMOUNT = 1_000_000  # 0.01 BTC of devnet coins per click
NOTICE_MS = 30_000  # how long "Incoming payment" stays on show
# Events arrive in bursts (a sync reports many payments); one reload per burst is enough.
RELOAD_DEBOUNCE_MS = 150
DEFAULT_SIZE = (960, 720)


class EventBridge(QObject):
    """Carries wallet events from whatever thread published them onto the GUI thread."""

    arrived = Signal(object)


class MainWindow(QMainWindow):
    network_change_requested = Signal(str)
    # The wallet is open, and every part of the window that needs it is built and enabled.
    wallet_loaded = Signal()

    # Made by attach_wallet, once the wallet is open.
    history: HistoryPanel
    send: SendPanel
    receive: ReceivePanel
    addresses: AddressesPanel
    settings: SettingsPanel
    seed_warning: SeedWarningBanner
    tabs: QTabWidget
    watcher: ChainWatcher[SyncStatusView]

    def __init__(
        self,
        session: MainWindowSession,
        parent: QWidget | None = None,
        *,
        probe: ChainProbe | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.session = session
        self.tasks = TaskGroup()
        self.setWindowTitle(
            "Cairn" if session.network == "bitcoin" else f"Cairn — {session.network}"
        )
        self.local_state = LocalUiState.in_data_dir(session.data_dir)
        fit_to_screen(self, self.local_state, DEFAULT_SIZE)
        apply_style(self)

        self.loaded = False
        self._probe = probe
        self.amounts = Amounts(parent=self)
        self.balance = BalancePanel(self.amounts)
        self.details_dialog: TransactionDetailsDialog | None = None

        central = QWidget()
        central.setObjectName("central")
        self._layout = QVBoxLayout(central)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        header = WindowHeader(self.balance, str(session.network), faucet=session.can_use_faucet)
        self.sync_label = header.sync_label
        self.notice = header.notice
        self.refresh_button = header.refresh_button
        self.refresh_button.clicked.connect(self.sync_now)
        self.faucet_button = header.faucet_button
        self.faucet_button.clicked.connect(self.use_faucet)
        # Both act on the wallet: enabled once it is open (attach_wallet).
        self.refresh_button.setEnabled(False)
        self.faucet_button.setEnabled(False)
        self._layout.addWidget(header)
        self.wallet_loading = WalletLoadingPage()
        self.pages = QStackedWidget()
        self.pages.addWidget(self.wallet_loading)
        self._layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.backup_status = BackupStatusWidget(session.backup_status)
        status_bar = QStatusBar()
        status_bar.setSizeGripEnabled(False)
        status_bar.addWidget(self.backup_status, 1)
        self.backup_actions = BackupActions(session, self.backup_status.signals, self.tasks.start)
        self.backup_actions.setEnabled(False)  # they act on the backup engine of the open wallet
        status_bar.addPermanentWidget(self.backup_actions)
        self.setStatusBar(status_bar)

        self._bridge = EventBridge(self)
        self._bridge.arrived.connect(self._on_event)
        self._unsubscribe: Callable[[], None] | None = session.subscribe_events(
            self._bridge.arrived.emit
        )
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DEBOUNCE_MS)
        self._reload_timer.timeout.connect(lambda: self.tasks.start(self.reload()))
        self.notice_timer = QTimer(self)
        self.notice_timer.setSingleShot(True)
        self.notice_timer.setInterval(NOTICE_MS)
        self.notice_timer.timeout.connect(self.clear_notice)
        self._incoming: list[int] = []  # amounts announced by the notice on show
        # Reads of the wallet run in threads and may finish out of order: the newest shown wins.
        self._reads_started = 0
        self._read_shown = 0
        if session.wallet_is_open:
            self.attach_wallet()
        else:
            # Until the engine runs its status would read "Not backed up yet", which is not known.
            self.backup_status.hide()

    def attach_wallet(self) -> None:
        """Build the tabs and the seed warning on the open wallet, enable what acts on it and
        start syncing; once only."""
        if self.loaded:
            return
        # The panels and what they bring (QR codes, label files, transaction details: BDK's
        # types) are imported here, after the first frame, which does not need them (#14).
        from cairn.ui.main.addresses import AddressesPanel
        from cairn.ui.main.history import HistoryPanel
        from cairn.ui.main.receive import ReceivePanel
        from cairn.ui.main.seed_banner import SeedWarningBanner
        from cairn.ui.main.send import SendPanel
        from cairn.ui.main.settings import SettingsPanel
        from cairn.wallet.esplora_probe import EsploraProbe

        session = self.session
        wallet = session.wallet
        self.history = HistoryPanel(wallet, self.tasks, self.amounts)
        self.send = SendPanel(wallet, self.tasks, self.amounts)
        self.receive = ReceivePanel(wallet, self.tasks)
        self.addresses = AddressesPanel(wallet, self.tasks, self.amounts)
        self.settings = SettingsPanel(session, self.tasks, self.amounts)
        self.settings.network_change_requested.connect(self.network_change_requested)
        self.settings.backup_server_changed.connect(self._follow_backup_engine)
        self.send.payment_sent.connect(lambda _txid: self.schedule_reload())
        self.history.details_requested.connect(self.show_details)
        self.send.details_requested.connect(self.show_details)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.history, "Activity")
        self.tabs.addTab(self.send, "Send")
        self.tabs.addTab(self.receive, "Receive")
        self.tabs.addTab(self.addresses, "Addresses")
        self.tabs.addTab(self.settings, "Settings")
        self.pages.addWidget(self.tabs)
        self.pages.setCurrentWidget(self.tabs)
        self.pages.removeWidget(self.wallet_loading)
        self.wallet_loading.deleteLater()
        self.seed_warning = SeedWarningBanner(session, self.tasks, self.local_state)
        self.seed_warning.protected.connect(
            lambda: self.sync_label.setText("Your recovery words are now encrypted here.")
        )
        self._layout.insertWidget(1, self.seed_warning)

        # The session built its backup engine with the wallet: follow that one's status.
        self._follow_backup_engine()
        self.backup_status.show()
        self.backup_actions.setEnabled(True)
        self.refresh_button.setEnabled(True)
        self.faucet_button.setEnabled(True)
        # The one periodic sync: cheap probes every few seconds, a sync when they find news.
        probe = self._probe if self._probe is not None else EsploraProbe(wallet.esplora_url)
        self.watcher = ChainWatcher(
            wallet, probe, on_syncing=self._sync_started, on_synced=self._synced
        )
        self.loaded = True
        self.tasks.start(self.reload())
        self.tasks.start(self.send.load_fee_estimates())
        self.tasks.start(self.watcher.run(), lasting=True)  # syncs at once, then watches
        self.wallet_loaded.emit()

    def show_load_failure(self, message: str) -> None:
        """Opening the wallet failed: the window says so where its tabs would be."""
        self.wallet_loading.fail(message)

    # refreshing -----------------------------------------------------------------------------

    async def reload(self) -> None:
        """Read balance, history and the receive address again (all off the GUI thread)."""
        wallet = self.session.wallet

        def read() -> tuple[BalanceView, Sequence[HistoryItemView], Unit]:
            unit = Unit.from_preference(wallet.preference(UNIT_PREFERENCE))
            return wallet.balance(), wallet.history(), unit

        self._reads_started += 1
        ticket = self._reads_started
        try:
            balance, items, unit = await asyncio.to_thread(read)
        except Exception as error:
            self.sync_label.setText(user_message(error, "The wallet could not be read"))
        else:
            if ticket < self._read_shown:
                return  # a read started after this one is on screen already: this one is older
            self._read_shown = ticket
            # Balance and history change together, so they never disagree on screen.
            self.amounts.set_unit(unit)
            self.balance.show_balance(balance)
            self.history.show_items(items)
        await self.receive.reload()
        await self.addresses.reload()

    @property
    def syncing(self) -> bool:
        """A chain sync is running or about to."""
        return self.loaded and self.watcher.syncing

    def _follow_backup_engine(self) -> None:
        self.backup_status.signals.bind(self.session.backup_status)

    def schedule_reload(self) -> None:
        self._reload_timer.start()

    def _on_event(self, event: object) -> None:
        if isinstance(event, PaymentReceived):
            self.announce_incoming(event.amount_sat, confirmed=event.confirmed)
        self.schedule_reload()

    def announce_incoming(self, amount_sat: int, *, confirmed: bool) -> None:
        """Say that a payment arrived, without a dialog; several in a row are added up."""
        if not self.notice.isVisible():
            self._incoming = []
        self._incoming.append(amount_sat)
        amount = self.amounts.text(sum(self._incoming), signed=True)
        many = f"{len(self._incoming)} incoming payments" if len(self._incoming) > 1 else ""
        if confirmed and len(self._incoming) == 1:
            self.notice.setText(f"Payment received: {amount}")
        else:
            self.notice.setText(f"{many or 'Incoming payment'}: {amount} (unconfirmed)")
        self.notice.show()
        self.notice_timer.start()

    def clear_notice(self) -> None:
        self.notice_timer.stop()
        self.notice.hide()
        self.notice.setText("")
        self._incoming = []

    def sync_now(self) -> None:
        """Sync with the chain; asked during a sync, one more runs right after it."""
        # The running sync may have started before what the caller wants to see (a faucet
        # payment, a mined block): the watcher goes again rather than drop the request.
        self.refresh_button.setEnabled(False)
        self.watcher.sync_now()

    def _sync_started(self) -> None:
        self.refresh_button.setEnabled(False)
        self.sync_label.setText("Syncing…")

    async def _synced(self, outcome: SyncRound[SyncStatusView]) -> None:
        if outcome.status is None:
            error = outcome.error or RuntimeError("no status")
            self.sync_label.setText(user_message(error, "The wallet could not sync"))
            self._chain_checked(False)
        else:
            self.show_sync_status(outcome.status)
            await self.reload()
            self._chain_checked(str(outcome.status.state) != "offline")
        self.refresh_button.setEnabled(True)

    def _chain_checked(self, reached: bool) -> None:
        # Until a sync has looked, an empty wallet may only be one not yet scanned.
        if reached:
            self.history.set_chain_state("done")
            self.balance.set_checking(False)
        elif self.history.chain_state != "done":
            self.history.set_chain_state("offline")

    def show_sync_status(self, status: SyncStatusView) -> None:
        if str(status.state) == "offline":
            self.sync_label.setText(f"Offline: {status.error}" if status.error else "Offline")
            self.sync_label.setToolTip(status.error or "")
        else:
            self.sync_label.setText(f"Up to date · block {status.height:,}")
            self.sync_label.setToolTip("")

    def use_faucet(self) -> None:
        address = self.receive.address
        if not address:
            return
        self.faucet_button.setEnabled(False)

        async def run() -> None:
            try:
                await self.session.faucet(address, FAUCET_AMOUNT)
            except Exception as error:
                self.sync_label.setText(user_message(error, "The faucet did not pay"))
            else:
                self.sync_label.setText(f"Faucet sent {self.amounts.text(FAUCET_AMOUNT)}")
                self.sync_now()
            finally:
                self.faucet_button.setEnabled(True)

        self.tasks.start(run())

    # details, seed, size ---------------------------------------------------------------------

    def show_details(self, txid: str) -> None:
        """Open the details of one transaction (read off the GUI thread)."""
        wallet = self.session.wallet

        async def run() -> None:
            try:
                details = await asyncio.to_thread(wallet.transaction_details, txid)
            except Exception as error:
                self.sync_label.setText(user_message(error, "The details could not be read"))
                return
            if details is None:
                self.sync_label.setText("That transaction is not in this wallet (yet).")
                return
            from cairn.ui.main.tx_details import FeeBumper, TransactionDetailsDialog

            if self.details_dialog is not None:
                self.details_dialog.close()
            bumper = FeeBumper(wallet.plan_fee_bump, wallet.bump_fee, self.tasks.start)
            self.details_dialog = TransactionDetailsDialog(
                details,
                self.amounts,
                self,
                bumper=bumper,
                explorer=self.session.explorer_template,
            )
            self.details_dialog.fee_bumped.connect(lambda _txid: self.schedule_reload())
            self.details_dialog.destroyed.connect(self._details_closed)
            self.details_dialog.open()

        self.tasks.start(run())

    def open_payment_link(self, link: str) -> None:
        """Show Send filled in from a `bitcoin:` link (given at start or by another launch)."""
        send = self.send
        if send.plan is not None and not send.send_button.isEnabled():
            # Signing and broadcasting: the form must not change under that payment.
            self.sync_label.setText("A payment is being sent; open the link again afterwards.")
            return
        if send.plan is not None:
            send.back_to_edit()  # a review not yet sent gives way to the link
        self.tabs.setCurrentWidget(send)
        send.fill_from(link)
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()

    def _details_closed(self) -> None:
        self.details_dialog = None

    def shutdown(self) -> None:
        """Stop syncing, listening and every task (the chain watcher is one of them); the session
        may be closed after this."""
        self._reload_timer.stop()
        self.notice_timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.backup_status.signals.detach()
        self.tasks.cancel_all()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.loaded:
            # A window whose wallet did not open (a damaged data dir) changes nothing there.
            remember_size(self, self.local_state)
        self.shutdown()
        super().closeEvent(event)

    def event(self, event: QEvent) -> bool:
        # deleteLater() without close() (the app replacing the window) skips closeEvent.
        if event.type() == QEvent.Type.DeferredDelete:
            self.shutdown()
        return super().event(event)
