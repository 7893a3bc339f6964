"""The loading screen's steps run against the session, each ending in a typed outcome.

The decisions (which steps, what a failure says, what each choice does) are the pure machine's,
`cairn.onboarding.loading`; this is the thin adapter between it and the session: one call per
step, the engine's results and errors turned into `StepOutcome`s by table and by error type,
never by reading messages. It also describes the engine's progress reports for the page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.restore import RestoreOutcome, RestorePhase, RestoreProgress, RestoreResult
from cairn.keys import Network
from cairn.onboarding.loading import DONE, Facts, Failure, LoadingStep, StepOutcome
from cairn.onboarding.state import WizardState
from cairn.onboarding.views import LoadingTask
from cairn.usererrors import UserError

__all__ = [
    "RESTORE_FAILURES",
    "LoadingSession",
    "Progress",
    "ProgressView",
    "describe_progress",
    "facts_of",
    "run_step",
]

log = logging.getLogger(__name__)

Progress = RestoreProgress | FullBackupProgress


class LoadingSession(Protocol):
    """What the loading screen asks of the session (`cairn.session.Session`)."""

    @property
    def has_wallet(self) -> bool: ...

    @property
    def backup_server_url(self) -> str | None: ...

    @property
    def backup_invite(self) -> str | None: ...

    @property
    def network(self) -> str: ...

    async def use_network(self, network: Network) -> None: ...

    async def use_backup_server(self, url: str, invite: str = "") -> None: ...

    async def create_wallet(
        self, words: Sequence[str], *, email: str | None = None, passphrase: str = ""
    ) -> None: ...

    async def run_initial_backup(self, progress: Callable[[FullBackupProgress], None]) -> None: ...

    async def restore(
        self,
        words: Sequence[str],
        progress: Callable[[RestoreProgress], None],
        *,
        passphrase: str = "",
        accept_incomplete: bool = False,
    ) -> RestoreResult: ...

    async def run_full_backup(self, progress: Callable[[FullBackupProgress], None]) -> None: ...


RESTORE_FAILURES: Mapping[RestoreOutcome, Failure | None] = {
    RestoreOutcome.RESTORED: None,
    RestoreOutcome.NO_BACKUP: Failure.NO_BACKUP,
    RestoreOutcome.UNREACHABLE: Failure.UNREACHABLE,
    RestoreOutcome.CORRUPT: Failure.CORRUPT,
    RestoreOutcome.FAILED: Failure.REFUSED,
    RestoreOutcome.INCOMPLETE: Failure.INCOMPLETE,
}


def facts_of(session: LoadingSession) -> Facts:
    return Facts(
        network=session.network,
        server_url=session.backup_server_url,
        has_wallet=session.has_wallet,
        invite=session.backup_invite,
    )


async def run_step(
    step: LoadingStep,
    session: LoadingSession,
    state: WizardState,
    progress: Callable[[Progress], None],
) -> StepOutcome:
    """Run one step; its outcome, whatever happened (a cancellation still propagates)."""
    try:
        return await _run(step, session, state, progress)
    except asyncio.CancelledError:
        raise
    except UserError as exc:
        return StepOutcome(Failure.USER_PROBLEM, str(exc))
    except Exception as exc:
        # Ours, not the user's: logged in full, named plainly on the screen.
        log.error("loading step %s failed unexpectedly", step.value, exc_info=exc)
        return StepOutcome(Failure.BUG, type(exc).__name__)


async def _run(
    step: LoadingStep,
    session: LoadingSession,
    state: WizardState,
    progress: Callable[[Progress], None],
) -> StepOutcome:
    if step is LoadingStep.USE_NETWORK:
        await session.use_network(state.network)
    elif step is LoadingStep.USE_SERVER:
        await session.use_backup_server(state.backup_server_url, state.backup_invite)
    elif step is LoadingStep.CREATE_WALLET:
        await session.create_wallet(
            state.words, email=state.email or None, passphrase=state.passphrase
        )
    elif step is LoadingStep.CREATE_FROM_WORDS:
        await session.create_wallet(state.words, email=None, passphrase=state.passphrase)
    elif step is LoadingStep.INITIAL_BACKUP:
        await session.run_initial_backup(progress)
    elif step is LoadingStep.FULL_BACKUP:
        await session.run_full_backup(progress)
    else:
        result = await session.restore(
            state.words,
            progress,
            passphrase=state.passphrase,
            accept_incomplete=step is LoadingStep.RESTORE_INCOMPLETE,
        )
        failure = RESTORE_FAILURES[result.outcome]
        if failure is not None:
            return StepOutcome(failure, result.detail)
    return DONE


@dataclass(frozen=True)
class ProgressView:
    phase: str
    done: int
    total: int  # 0: not known yet
    bytes: int  # downloaded (restore) or sent (backup) so far


RESTORE_PHASES = {
    RestorePhase.CONNECTING: "Contacting the backup server",
    RestorePhase.DOWNLOADING: "Downloading and decrypting your backup",
    RestorePhase.VERIFYING: "Checking every record",
    RestorePhase.SWITCHING: "Putting the restored wallet in place",
    RestorePhase.DONE: "Opening the wallet",
}


def describe_progress(task: LoadingTask, progress: Progress) -> ProgressView:
    """What the page shows for one of the engine's reports."""
    if isinstance(progress, RestoreProgress):
        return ProgressView(
            RESTORE_PHASES[progress.phase], progress.done, progress.total, progress.bytes_received
        )
    if task is LoadingTask.INITIAL_BACKUP:
        done = progress.total and progress.done == progress.total
        phase = "Backed up" if done else "Uploading the first backup"
    else:
        phase = "Backing up every record" if progress.total else "Preparing the full backup"
    return ProgressView(phase, progress.done, progress.total, progress.bytes_sent)
