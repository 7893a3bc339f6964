"""The wizard: a stack of immutable snapshots driven through the transition table.

Next validates and accepts the current snapshot and pushes the result under the next view; Back
pops, so the previous view comes back exactly as the user left it. A refused Next changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cairn.onboarding.navmap import NAVMAP, Step, StepError, WizardContext
from cairn.onboarding.state import WizardState, loggable
from cairn.onboarding.views import View

log = logging.getLogger(__name__)


class WizardBug(Exception):
    """The wizard was driven in a way the transition table does not allow (a programming error)."""


@dataclass(frozen=True)
class PageStatus:
    """What the current page shows: may Next be pressed, is work running, what went wrong."""

    valid: bool
    busy: bool
    error: str | None
    hint: str | None  # why Next is disabled, when it is

    @property
    def can_next(self) -> bool:
        return self.valid and not self.busy


Listener = Callable[["Wizard"], None]


class Wizard:
    def __init__(
        self,
        start: WizardState,
        *,
        navmap: Mapping[View, Step] = NAVMAP,
        context: WizardContext | None = None,
    ) -> None:
        if start.view not in navmap:
            raise WizardBug(f"no step for start view {start.view}")
        self._navmap = navmap
        self._context = context or WizardContext.default()
        self._stack: list[WizardState] = [start]
        self._busy = False
        self._error: str | None = None
        self._listeners: list[Listener] = []
        log.info("wizard starts at %s", loggable(start))

    # --- reading ---------------------------------------------------------------------------------

    @property
    def state(self) -> WizardState:
        return self._stack[-1]

    @property
    def view(self) -> View:
        return self.state.view

    @property
    def step(self) -> Step:
        return self._navmap[self.view]

    @property
    def history(self) -> tuple[View, ...]:
        """The views on the stack, oldest first."""
        return tuple(s.view for s in self._stack)

    @property
    def status(self) -> PageStatus:
        hint = self.step.validate(self.state)
        return PageStatus(valid=hint is None, busy=self._busy, error=self._error, hint=hint)

    @property
    def can_go_back(self) -> bool:
        return len(self._stack) > 1 and self.step.can_go_back and not self._busy

    @property
    def is_finished(self) -> bool:
        return self.step.next is None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # --- changing --------------------------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        """Replace the current snapshot with one carrying the user's edits on this page."""
        self._stack[-1] = self.state.with_changes(**changes)
        self._error = None
        self._notify()

    def next(self) -> bool:
        """Go to the next view; on a refusal nothing changes and the error says why."""
        if self._busy:
            raise WizardBug("Next while the page is busy")
        step = self.step
        if step.next is None:
            raise WizardBug(f"{self.view} is the last view")
        hint = step.validate(self.state)
        if hint is not None:
            return self._refuse(hint)
        try:
            accepted = step.accept(self.state, self._context)
        except StepError as exc:
            return self._refuse(str(exc))
        target = step.next if isinstance(step.next, View) else step.next.resolve(accepted)
        self._push(accepted, target)
        return True

    def skip(self) -> bool:
        """Skip an optional page: apply the table's skip change, then Next as usual."""
        skip = self.step.skip
        if skip is None:
            raise WizardBug(f"{self.view} cannot be skipped")
        self._stack[-1] = skip(self.state)
        return self.next()

    def back(self) -> bool:
        if not self.can_go_back:
            return False
        left = self._stack.pop()
        self._error = None
        log.info("wizard back from %s to %s", left.view.value, loggable(self.state))
        self._notify()
        return True

    def jump(self, view: View) -> None:
        """Take a side door the table allows (the loading screen's "Change server")."""
        if view not in self.step.jumps:
            raise WizardBug(f"{self.view} has no way to {view}")
        self._push(self.state, view)

    def continue_without_backup(self) -> None:
        """The user's explicit choice, after a failure, to open the wallet without a backup."""
        if self.view is not View.LOADING or self._error is None:
            raise WizardBug("continuing without backup is only offered after a failure")
        self._busy = False
        accepted = self.state.with_changes(without_backup=True)
        log.warning("user chose to continue without backup: %s", loggable(accepted))
        self._push(accepted, View.MAIN)

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if busy:
            self._error = None
        self._notify()

    def fail(self, message: str) -> None:
        """Work on this page failed: stop being busy and show `message`."""
        self._busy = False
        self._error = message
        log.info("wizard error on %s", self.view.value)
        self._notify()

    # --- internals -------------------------------------------------------------------------------

    def _refuse(self, message: str) -> bool:
        self._error = message
        log.info("wizard refused next on %s", self.view.value)
        self._notify()
        return False

    def _push(self, accepted: WizardState, target: View) -> None:
        if target not in self._navmap:
            raise WizardBug(f"{self.view} leads to {target}, which has no step")
        self._stack[-1] = accepted
        self._stack.append(accepted.with_changes(view=target))
        self._busy = False
        self._error = None
        log.info("wizard %s -> %s", accepted.view.value, loggable(self.state))
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener(self)
