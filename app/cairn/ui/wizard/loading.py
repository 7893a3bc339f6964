"""The loading screen: initial backup, restore or upgrade full backup, with real progress.

A failure offers Retry, Change server, or — only by explicit choice — Continue without backup.
Never a silent empty wallet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from cairn.keys import Network
from cairn.onboarding import LoadingTask, View, Wizard, WizardState
from cairn.session import SessionError
from cairn.ui.wizard.base import WizardPage

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]  # phase, done, total (0: unknown)


class OnboardingSession(Protocol):
    """What the loading screen asks of the session (`cairn.session.Session`)."""

    @property
    def has_wallet(self) -> bool: ...

    @property
    def backup_server_url(self) -> str | None: ...

    @property
    def network(self) -> str: ...

    async def use_network(self, network: Network) -> None: ...

    async def use_backup_server(self, url: str) -> None: ...

    async def create_wallet(
        self, words: Sequence[str], *, email: str | None = None, passphrase: str = ""
    ) -> None: ...

    async def run_initial_backup(self, progress: ProgressCallback) -> None: ...

    async def restore(
        self, words: Sequence[str], progress: ProgressCallback, *, passphrase: str = ""
    ) -> Any: ...

    async def run_full_backup(self, progress: ProgressCallback) -> None: ...


class TaskFailed(Exception):
    """The loading task failed in a way the user can act on; the message says how."""


TITLES = {
    LoadingTask.INITIAL_BACKUP: "Setting up your wallet",
    LoadingTask.RESTORE: "Restoring your wallet",
    LoadingTask.UPGRADE_FULL_BACKUP: "Backing up your wallet",
}

INTRO = {
    LoadingTask.INITIAL_BACKUP: "Creating the wallet and making its first backup.",
    LoadingTask.RESTORE: "Fetching your encrypted backup and checking every record.",
    LoadingTask.UPGRADE_FULL_BACKUP: (
        "This version of Cairn backs up everything. Before you continue, your whole wallet is "
        "copied, encrypted, to your backup server."
    ),
}


def _outcome_name(result: Any) -> str:
    outcome = getattr(result, "outcome", result)
    return str(getattr(outcome, "name", outcome)).upper()


def restore_problem(result: Any, server: str, *, with_passphrase: bool = False) -> str | None:
    """The user-facing text for a restore result (or bare outcome); None when it restored."""
    name = _outcome_name(result)
    detail = str(getattr(result, "detail", "") or "")
    if name == "RESTORED":
        return None
    if name == "NO_BACKUP":
        words = "these words and this passphrase" if with_passphrase else "these words"
        check = "the passphrase and the server address" if with_passphrase else "the server address"
        return (
            f"No backup was found for {words} on {server}. Check {check}, "
            "or continue without a backup: your funds come back from the blockchain, but "
            "labels, settings and notes do not."
        )
    if name == "UNREACHABLE":
        return (
            f"The backup server at {server} could not be reached. Check your connection and "
            "try again, or change the server."
        )
    if name == "CORRUPT":
        return (
            f"The backup on {server} failed its integrity check and was not used. Nothing was "
            "changed on this computer. Try again later or contact the server's operator."
        )
    reason = f": {detail}" if detail else f" ({name.lower()})"
    return f"The backup server refused the restore{reason}. Nothing was changed on this computer."


class LoadingPage(WizardPage):
    view = View.LOADING
    next_text = None
    progress_changed = Signal(str, int, int)

    def __init__(
        self, wizard: Wizard, session: OnboardingSession, parent: QWidget | None = None
    ) -> None:
        super().__init__(wizard, parent)
        self.session = session
        self.heading = QLabel("")
        self.heading.setObjectName("pageTitle")
        self.body.addWidget(self.heading)
        self.intro = self.explain("")
        self.body.addSpacing(10)
        self.phase = QLabel("Starting…")
        self.phase.setObjectName("phase")
        self.body.addWidget(self.phase)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.body.addWidget(self.bar)
        self.counts = QLabel("")
        self.counts.setObjectName("hint")
        self.counts.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.body.addWidget(self.counts)
        self.problem = QLabel("")
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.body.addWidget(self.problem)
        actions = QHBoxLayout()
        self.retry_button = QPushButton("Try again")
        self.retry_button.setObjectName("primary")
        self.change_button = QPushButton("Change server…")
        self.without_button = QPushButton("Continue without backup")
        self.without_button.setObjectName("danger")
        actions.addWidget(self.without_button)
        actions.addStretch(1)
        actions.addWidget(self.change_button)
        actions.addWidget(self.retry_button)
        self.choices = QWidget()
        self.choices.setLayout(actions)
        self.choices.hide()
        self.body.addWidget(self.choices)
        self.body.addStretch(1)
        self.progress_changed.connect(self._show_progress)
        self.retry_button.clicked.connect(lambda: self._start(self.wizard.state))
        self.change_button.clicked.connect(lambda: self.wizard.jump(View.BACKUP_SERVER))
        self.without_button.clicked.connect(self._continue_without_backup)
        self._task: asyncio.Task[None] | None = None

    # --- life cycle ------------------------------------------------------------------------------

    def load(self, state: WizardState) -> None:
        task = state.loading_task or LoadingTask.UPGRADE_FULL_BACKUP
        self.heading.setText(TITLES[task])
        self.intro.setText(INTRO[task])
        self._start(state)

    def _start(self, state: WizardState) -> None:
        if self._task is not None and not self._task.done():
            return
        self.problem.hide()
        self.choices.hide()
        self.phase.setText("Starting…")
        self.counts.setText("")
        self.bar.setRange(0, 0)
        self.wizard.set_busy(True)
        self._task = asyncio.get_event_loop().create_task(self._run(state))

    async def _run(self, state: WizardState) -> None:
        try:
            await self._perform(state)
        except asyncio.CancelledError:
            raise
        except (TaskFailed, SessionError) as exc:
            self._fail(str(exc))
            return
        except Exception as exc:
            # Ours, not the user's: log it in full and say so plainly.
            log.error("loading task failed unexpectedly", exc_info=exc)
            self._fail(f"Something went wrong that should not have ({type(exc).__name__}).")
            return
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.wizard.set_busy(False)
        self.wizard.next()

    async def _perform(self, state: WizardState) -> None:
        session = self.session
        if state.network.value != session.network:
            await session.use_network(state.network)
        if state.backup_server_url and state.backup_server_url != session.backup_server_url:
            await session.use_backup_server(state.backup_server_url)
        task = state.loading_task
        report = self.progress_changed.emit
        if task is LoadingTask.INITIAL_BACKUP:
            if not session.has_wallet:
                report("Creating the wallet", 0, 0)
                await session.create_wallet(
                    state.words, email=state.email or None, passphrase=state.passphrase
                )
            await session.run_initial_backup(report)
        elif task is LoadingTask.RESTORE:
            outcome = await session.restore(state.words, report, passphrase=state.passphrase)
            problem = restore_problem(
                outcome,
                session.backup_server_url or "the server",
                with_passphrase=bool(state.passphrase),
            )
            if problem is not None:
                raise TaskFailed(problem)
        else:
            await session.run_full_backup(report)

    def _fail(self, message: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.phase.setText("Stopped")
        self.problem.setText(message)
        self.problem.show()
        self.choices.show()
        self.wizard.fail(message)

    def _show_progress(self, phase: str, done: int, total: int) -> None:
        self.phase.setText(phase)
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(done, total))
            self.counts.setText(f"{done:,} of {total:,}")
        else:
            self.bar.setRange(0, 0)
            self.counts.setText(f"{done:,}" if done else "")

    def _continue_without_backup(self) -> None:
        state = self.wizard.state
        self.choices.setEnabled(False)

        async def go() -> None:
            try:
                if state.loading_task is LoadingTask.RESTORE and not self.session.has_wallet:
                    # The user chose this: a wallet from the words alone, funds from the chain.
                    await self.session.create_wallet(
                        state.words, email=None, passphrase=state.passphrase
                    )
            except Exception as exc:
                log.error("could not create the wallet without backup", exc_info=exc)
                self.choices.setEnabled(True)
                self._fail(f"The wallet could not be created ({type(exc).__name__}).")
                return
            self.choices.setEnabled(True)
            self.wizard.continue_without_backup()

        self._task = asyncio.get_event_loop().create_task(go())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
