"""Settings: backup server, back up now, delete the server backup, email, network, words, labels."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cairn.files import write_file_atomically
from cairn.ui.main.amounts import Amounts
from cairn.ui.main.confirm import ask
from cairn.ui.main.errors import user_message
from cairn.ui.main.model import MainWindowSession
from cairn.ui.main.seed_dialog import SeedDialog
from cairn.ui.main.settings_parts import (
    ResultLabel,
    Section,
    check_email,
    check_invite,
    check_server_url,
    result_label,
)
from cairn.ui.main.tasks import TaskGroup
from cairn.wallet.amounts import Unit
from cairn.wallet.labels import MAX_IMPORT_BYTES, LabelError
from cairn.wallet.preferences import UNIT_PREFERENCE

NETWORKS = ("bitcoin", "testnet", "signet", "regtest")


class SettingsPanel(QScrollArea):
    network_change_requested = Signal(str)
    backup_server_changed = Signal()  # the session may now have a new backup status model

    def __init__(
        self,
        session: MainWindowSession,
        tasks: TaskGroup,
        amounts: Amounts | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPanel")
        self.session = session
        self.tasks = tasks
        self.amounts = amounts if amounts is not None else Amounts(parent=self)
        self.last_export: Path | None = None
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("settingsBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 20, 24, 24)
        layout.setSpacing(16)
        layout.addWidget(self._backup_section())
        layout.addWidget(self._account_section())
        layout.addWidget(self._display_section())
        layout.addWidget(self._security_section())
        layout.addStretch(1)
        self.setWidget(body)
        self.tasks.start(self._load_email())

    async def _load_email(self) -> None:
        # A record read (SQLite): off the GUI thread like every other read.
        email = await asyncio.to_thread(lambda: self.session.email)
        if not self.email_edit.isModified():
            self.email_edit.setText(email or "")

    # sections ------------------------------------------------------------------------------

    def _backup_section(self) -> Section:
        section = Section("Backup")
        self.server_edit = QLineEdit(self.session.backup_status.current.server_url)
        self.server_edit.setObjectName("serverUrl")
        self.change_server_button = QPushButton("Change server")
        self.server_result = section.add_field(
            "Server", self.server_edit, self.change_server_button, self.change_server
        )
        # For a server that takes new wallets by invite only; an existing backup needs none.
        self.invite_edit = QLineEdit(self.session.backup_invite or "")
        self.invite_edit.setObjectName("inviteCode")
        self.invite_edit.setPlaceholderText("only if the server's operator gave you one")
        self.use_invite_button = QPushButton("Use invite")
        self.invite_result = section.add_field(
            "Invite", self.invite_edit, self.use_invite_button, self.use_invite
        )
        self.back_up_button = QPushButton("Back up now")
        self.back_up_button.clicked.connect(self.back_up_now)
        self.backup_result = result_label()
        section.add_row("", self.back_up_button, self.backup_result)
        self.delete_button = QPushButton("Delete my backup on the server…")
        self.delete_button.setObjectName("danger")
        self.delete_button.clicked.connect(self.ask_delete_backup)
        self.delete_result = result_label()
        section.add_row("", self.delete_button, self.delete_result)
        return section

    def _account_section(self) -> Section:
        section = Section("Account")
        self.email_edit = QLineEdit()
        self.email_edit.setObjectName("email")
        self.email_edit.setPlaceholderText("Optional — for notices about your backup")
        self.save_email_button = QPushButton("Save")
        self.email_result = section.add_field(
            "Email", self.email_edit, self.save_email_button, self.save_email
        )
        self.network_combo = QComboBox()
        self.network_combo.setObjectName("network")
        self.network_combo.addItems(NETWORKS)
        self.network_combo.setCurrentText(str(self.session.network))
        self.switch_network_button = QPushButton("Switch")
        self.switch_network_button.clicked.connect(self.switch_network)
        self.network_result = result_label()
        self.network_result.show_result(
            f"This window shows your {self.session.network} wallet. Each network has its own "
            "wallet from the same words."
        )
        section.add_row("Network", self.network_combo, self.switch_network_button)
        section.add_row("", self.network_result)
        return section

    def _display_section(self) -> Section:
        section = Section("Display")
        self.unit_combo = QComboBox()
        self.unit_combo.setObjectName("unit")
        self.unit_combo.addItem("BTC (0.00100000 BTC)", Unit.BTC.value)
        self.unit_combo.addItem("sat (100,000 sat)", Unit.SAT.value)
        self.unit_combo.setCurrentIndex(self.unit_combo.findData(self.amounts.unit.value))
        self.unit_combo.activated.connect(self.choose_unit)
        self.amounts.changed.connect(self._show_unit)
        self.unit_result = result_label()
        section.add_row("Unit", self.unit_combo)
        section.add_row("", self.unit_result)
        return section

    def _show_unit(self) -> None:
        self.unit_combo.setCurrentIndex(self.unit_combo.findData(self.amounts.unit.value))

    def choose_unit(self, index: int) -> None:
        """Show and type every amount in the chosen unit; the choice is backed up."""
        unit = Unit(self.unit_combo.itemData(index))
        self.amounts.set_unit(unit)

        async def work() -> str:
            await self.session.wallet.set_preference(UNIT_PREFERENCE, unit.value)
            return f"Amounts are shown in {unit.value}."

        self._run(self.unit_combo, self.unit_result, "Saving…", work, "Unit not saved")

    def _security_section(self) -> Section:
        section = Section("Recovery words and labels")
        self.show_seed_button = QPushButton("Show recovery words…")
        self.show_seed_button.clicked.connect(self.ask_show_seed)
        self.seed_result = result_label()
        section.add_row("", self.show_seed_button, self.seed_result)
        self.export_button = QPushButton("Export labels (BIP-329)…")
        self.export_button.clicked.connect(self.choose_export_file)
        self.export_result = result_label()
        section.add_row("", self.export_button, self.export_result)
        self.import_button = QPushButton("Import labels (BIP-329)…")
        self.import_button.setToolTip(
            "Labels exported from Sparrow, Electrum or another Cairn: merged with yours "
            "and backed up"
        )
        self.import_button.clicked.connect(self.choose_import_file)
        self.import_result = result_label()
        section.add_row("", self.import_button, self.import_result)
        return section

    # running an action ----------------------------------------------------------------------

    def _run(
        self,
        button: QWidget,
        result: ResultLabel,
        busy_text: str,
        work: Callable[[], Awaitable[str]],
        what_failed: str,
    ) -> None:
        button.setEnabled(False)
        result.show_result(busy_text)

        async def run() -> None:
            try:
                done_text = await work()
            except Exception as error:
                result.show_result(user_message(error, what_failed), "error")
            else:
                result.show_result(done_text, "success")
            finally:
                button.setEnabled(True)

        self.tasks.start(run())

    # actions --------------------------------------------------------------------------------

    def change_server(self) -> None:
        try:
            url = check_server_url(self.server_edit.text())
        except ValueError as error:
            self.server_result.show_result(str(error), "error")
            return

        async def work() -> str:
            try:
                await self.session.change_backup_server(url)
                # The server is switched; the full backup to it is what "changed" means.
                await self.session.back_up_now()
            finally:
                self.backup_server_changed.emit()
            return f"Everything is backed up on {url}."

        self._run(
            self.change_server_button,
            self.server_result,
            f"Uploading a full backup to {url}…",
            work,
            "The backup server was not changed",
        )

    def use_invite(self) -> None:
        try:
            code = check_invite(self.invite_edit.text())
        except ValueError as error:
            self.invite_result.show_result(str(error), "error")
            return
        self.invite_edit.setText(code or "")

        async def work() -> str:
            # config.json is written and synced: off the GUI thread.
            await asyncio.to_thread(self.session.set_backup_invite, code or "")
            if code is None:
                return "No invite code is kept."
            await self.session.back_up_now()
            return "Backed up with the invite code."

        self._run(self.use_invite_button, self.invite_result, "Backing up…", work, "Backup failed")

    def back_up_now(self) -> None:
        async def work() -> str:
            await self.session.back_up_now()
            return "Backed up."

        self._run(self.back_up_button, self.backup_result, "Backing up…", work, "Backup failed")

    def ask_delete_backup(self) -> QWidget:
        return ask(
            self,
            "Delete your backup?",
            "Delete everything Cairn stored on the backup server for this wallet?",
            "Delete backup",
            self._delete_backup,
            detail="Your wallet on this computer is not affected. Until a new backup runs, "
            "losing this computer means your words restore only your funds, not your labels "
            "and history.",
            destructive=True,
        )

    def _delete_backup(self) -> None:
        async def work() -> str:
            await self.session.delete_server_backup()
            return "The backup on the server was deleted."

        self._run(
            self.delete_button, self.delete_result, "Deleting…", work, "The backup was not deleted"
        )

    def save_email(self) -> None:
        try:
            email = check_email(self.email_edit.text())
        except ValueError as error:
            self.email_result.show_result(str(error), "error")
            return

        async def work() -> str:
            await self.session.set_email(email)
            return "Email saved." if email else "Email removed."

        self._run(self.save_email_button, self.email_result, "Saving…", work, "Email not saved")

    def switch_network(self) -> None:
        network = self.network_combo.currentText()
        if network == str(self.session.network):
            self.network_result.show_result(f"You are already on {network}.")
            return
        self.network_result.show_result(f"Opening your {network} wallet…")
        self.network_change_requested.emit(network)

    def ask_show_seed(self) -> QWidget:
        return ask(
            self,
            "Show your recovery words?",
            "Your twelve words give full control of your bitcoin.",
            "Show words",
            self.show_seed,
            detail="Only continue if nobody can see your screen.",
        )

    def show_seed(self) -> None:
        self.tasks.start(self._show_seed())

    async def _show_seed(self) -> None:
        # The seed file may be decrypted with a key from the OS keyring: not on the GUI thread.
        try:
            words = await asyncio.to_thread(self.session.seed_words)
        except Exception as error:
            self.seed_result.show_result(
                user_message(error, "The words could not be read"), "error"
            )
            return
        SeedDialog(list(words), self).open()

    def choose_export_file(self) -> QFileDialog:
        dialog = QFileDialog(self, "Export labels", str(Path.home() / "cairn-labels.jsonl"))
        dialog.setObjectName("exportDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("BIP-329 labels (*.jsonl)")
        dialog.setDefaultSuffix("jsonl")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.export_labels(Path(path)))
        dialog.open()
        return dialog

    def choose_import_file(self) -> QFileDialog:
        dialog = QFileDialog(self, "Import labels", str(Path.home()))
        dialog.setObjectName("importDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilters(["BIP-329 labels (*.jsonl *.json *.txt)", "All files (*)"])
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: self.import_labels(Path(path)))
        dialog.open()
        return dialog

    def import_labels(self, path: Path) -> None:
        """Merge the labels of a BIP-329 file; say how many came in and which lines did not."""
        self.import_button.setEnabled(False)
        self.import_result.show_result("Importing…")

        def read() -> bytes:
            with path.open("rb") as handle:  # one byte more than allowed: "too large" is told
                return handle.read(MAX_IMPORT_BYTES + 1)

        async def run() -> None:
            try:
                data = await asyncio.to_thread(read)
                result = await self.session.wallet.import_labels(data)
            except OSError as error:
                text = (
                    f"{path} could not be read ({error.strerror or error}); nothing was imported."
                )
                self.import_result.show_result(text, "error")
            except LabelError as error:
                self.import_result.show_result(f"Nothing was imported: {error}.", "error")
            except Exception as error:
                self.import_result.show_result(user_message(error, "Labels not imported"), "error")
            else:
                self.import_result.show_result(
                    result.summary(), "warning" if result.errors else "success"
                )
            finally:
                self.import_button.setEnabled(True)

        self.tasks.start(run())

    def export_labels(self, path: Path) -> None:
        async def work() -> str:
            jsonl = await asyncio.to_thread(self.session.wallet.export_labels)
            count = sum(1 for line in jsonl.splitlines() if line.strip())
            for line in jsonl.splitlines():
                if line.strip():
                    json.loads(line)  # never write a file we would not read back
            await asyncio.to_thread(write_file_atomically, path, jsonl.encode("utf-8"))
            self.last_export = path
            return f"{count} label{'s' if count != 1 else ''} exported to {path}."

        self._run(self.export_button, self.export_result, "Exporting…", work, "Labels not exported")
