"""The loading screen: initial backup, restore or upgrade full backup, with real progress.

What runs, what a failure says and what each choice does are decided by the pure machine
(`cairn.onboarding.loading`); the steps run through `cairn.loading_steps`. This page shows the
machine's view and the engine's progress, and passes the user's clicks back to it.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cairn.loading_steps import LoadingSession, Progress, describe_progress, facts_of, run_step
from cairn.onboarding import View, Wizard, WizardState
from cairn.onboarding.loading import (
    LoadingChoice,
    LoadingFlow,
    LoadingStage,
    LoadingStep,
    LoadingView,
)
from cairn.ui.wizard.base import WizardPage

log = logging.getLogger(__name__)

# The session as the loading screen uses it (`cairn.session.Session`).
OnboardingSession = LoadingSession


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.0f} kB"


class LoadingPage(WizardPage):
    view = View.LOADING
    next_text = None
    # The engine's own report: RestoreProgress or FullBackupProgress, byte counts included.
    progress_changed = Signal(object)

    def __init__(
        self, wizard: Wizard, session: LoadingSession, parent: QWidget | None = None
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
        self.anyway_button = QPushButton("Restore what it holds")
        actions.addWidget(self.without_button)
        actions.addStretch(1)
        actions.addWidget(self.change_button)
        actions.addWidget(self.retry_button)
        # Offered only for an incomplete backup: a row of its own, so every label fits.
        anyway = QHBoxLayout()
        anyway.addStretch(1)
        anyway.addWidget(self.anyway_button)
        rows = QVBoxLayout()
        rows.setContentsMargins(0, 0, 0, 0)
        rows.addLayout(anyway)
        rows.addLayout(actions)
        self.choices = QWidget()
        self.choices.setLayout(rows)
        self.choices.hide()
        self.body.addWidget(self.choices)
        self.body.addStretch(1)
        self.progress_changed.connect(self._show_progress)
        self.retry_button.clicked.connect(lambda: self._choose(LoadingChoice.RETRY))
        self.change_button.clicked.connect(lambda: self._choose(LoadingChoice.CHANGE_SERVER))
        self.without_button.clicked.connect(lambda: self._choose(LoadingChoice.WITHOUT_BACKUP))
        self.anyway_button.clicked.connect(lambda: self._choose(LoadingChoice.RESTORE_ANYWAY))
        self.flow: LoadingFlow | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether a run (or the work of a choice) is still going; once not, nothing moves on
        without the user."""
        return self._task is not None and not self._task.done()

    # --- life cycle ------------------------------------------------------------------------------

    def load(self, state: WizardState) -> None:
        if self._task is not None and not self._task.done():
            return
        self.flow = LoadingFlow(state)
        self._run(state, self.flow.start(facts_of(self.session)))

    def _choose(self, choice: LoadingChoice) -> None:
        flow = self.flow
        if flow is None or flow.stage is not LoadingStage.FAILED:
            return
        steps = flow.choose(choice, facts_of(self.session))
        if choice is LoadingChoice.CHANGE_SERVER:
            self.wizard.jump(View.BACKUP_SERVER)
        elif steps:
            self._run(self.wizard.state, steps)
        else:
            self._finish()

    def _run(self, state: WizardState, steps: tuple[LoadingStep, ...]) -> None:
        self.counts.setText("")
        self.bar.setRange(0, 0)
        self._render()
        if self._view().busy:
            self.wizard.set_busy(True)
        self._task = asyncio.get_event_loop().create_task(self._drive(state, steps))

    async def _drive(self, state: WizardState, steps: tuple[LoadingStep, ...]) -> None:
        flow = self._require_flow()
        for step in steps:
            flow.step_started(step)
            self._render()
            outcome = await run_step(step, self.session, state, self.progress_changed.emit)
            if not flow.step_done(step, outcome):
                break
        self._finish()

    def _finish(self) -> None:
        view = self._view()
        self._render()
        if view.stage is LoadingStage.FAILED:
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self.wizard.fail(view.problem or "")
        elif view.stage is LoadingStage.FINISHED:
            self.bar.setRange(0, 1)
            self.bar.setValue(1)
            self.wizard.set_busy(False)
            self.wizard.next()
        elif view.stage is LoadingStage.FINISHED_WITHOUT_BACKUP:
            self.wizard.continue_without_backup()

    # --- rendering -------------------------------------------------------------------------------

    def _require_flow(self) -> LoadingFlow:
        if self.flow is None:
            raise RuntimeError("the loading page has not been loaded")
        return self.flow

    def _view(self) -> LoadingView:
        return self._require_flow().view

    def _render(self) -> None:
        view = self._view()
        self.heading.setText(view.title)
        self.intro.setText(view.intro)
        self.phase.setText(view.phase)
        self.problem.setText(view.problem or "")
        self.problem.setVisible(view.problem is not None)
        self.choices.setVisible(bool(view.choices))
        self.anyway_button.setVisible(LoadingChoice.RESTORE_ANYWAY in view.choices)
        self.choices.setEnabled(view.stage is LoadingStage.FAILED)

    def _show_progress(self, progress: Progress) -> None:
        shown = describe_progress(self._require_flow().task, progress)
        self.phase.setText(shown.phase)
        size = f" · {_size(shown.bytes)}" if shown.bytes else ""
        if shown.total > 0:
            self.bar.setRange(0, shown.total)
            self.bar.setValue(min(shown.done, shown.total))
            self.counts.setText(f"{shown.done:,} of {shown.total:,}{size}")
        else:
            self.bar.setRange(0, 0)
            self.counts.setText(f"{shown.done:,}{size}" if shown.done else "")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
