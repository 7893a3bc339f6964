"""The loading screen as a pure state machine: which steps a run takes, what a failure says and
offers, and where each choice leads. No Qt and no I/O: the page runs the steps this asks for,
feeds back each one's typed outcome, and renders `view`.

    start(facts) → steps … step_done(step, outcome) … → FINISHED (next view) or FAILED
    FAILED: RETRY (start again), CHANGE_SERVER (the server page), WITHOUT_BACKUP (only by the
    user's choice: a wallet from the words alone after a restore, then the main window);
    after an INCOMPLETE backup also RESTORE_ANYWAY (what the backup holds, by the user's choice)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cairn.onboarding.state import WizardState
from cairn.onboarding.views import LoadingTask

__all__ = [
    "Facts",
    "Failure",
    "LoadingChoice",
    "LoadingFlow",
    "LoadingStage",
    "LoadingStep",
    "LoadingView",
    "StepOutcome",
]


class LoadingStep(Enum):
    USE_NETWORK = "use_network"  # the network chosen on the welcome screen
    USE_SERVER = "use_server"  # the server chosen on the server page
    CREATE_WALLET = "create_wallet"  # a new wallet, with the email given
    INITIAL_BACKUP = "initial_backup"
    RESTORE = "restore"
    RESTORE_INCOMPLETE = "restore_incomplete"  # the user chose to restore an incomplete backup
    FULL_BACKUP = "full_backup"
    CREATE_FROM_WORDS = "create_from_words"  # the user chose to go on without a backup


class Failure(Enum):
    NO_BACKUP = "no_backup"  # nothing on this server for these words
    UNREACHABLE = "unreachable"
    CORRUPT = "corrupt"  # the backup failed its checks and was not used
    INCOMPLETE = "incomplete"  # a device's full backup into it has not finished; not used
    REFUSED = "refused"  # the server refused (its reason in `detail`)
    USER_PROBLEM = "user_problem"  # something the user can act on; `detail` says what
    BUG = "bug"  # ours: `detail` names the error's type, the log has the rest


@dataclass(frozen=True)
class StepOutcome:
    failure: Failure | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


DONE = StepOutcome()


class LoadingChoice(Enum):
    RETRY = "retry"
    CHANGE_SERVER = "change_server"
    WITHOUT_BACKUP = "without_backup"
    RESTORE_ANYWAY = "restore_anyway"  # offered only for an incomplete backup


class LoadingStage(Enum):
    RUNNING = "running"
    FAILED = "failed"
    FINISHED = "finished"  # go on to the next view
    FINISHED_WITHOUT_BACKUP = "finished_without_backup"  # by the user's explicit choice


@dataclass(frozen=True)
class Facts:
    """What the session says when a run starts."""

    network: str
    server_url: str | None
    has_wallet: bool
    invite: str | None = None  # the invite code the session keeps for its server


@dataclass(frozen=True)
class LoadingView:
    """Everything the page shows."""

    title: str
    intro: str
    stage: LoadingStage
    phase: str
    problem: str | None
    choices: frozenset[LoadingChoice]
    # The wizard's page is busy (no Back, no Next) while the task runs. Going on without a
    # backup is not: it answers the failure, which stays the page's state until it is done.
    busy: bool


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

PHASES = {
    LoadingStep.USE_NETWORK: "Starting…",
    LoadingStep.USE_SERVER: "Starting…",
    LoadingStep.CREATE_WALLET: "Creating the wallet",
    LoadingStep.INITIAL_BACKUP: "Uploading the first backup",
    LoadingStep.RESTORE: "Contacting the backup server",
    LoadingStep.RESTORE_INCOMPLETE: "Restoring what the backup holds",
    LoadingStep.FULL_BACKUP: "Preparing the full backup",
    LoadingStep.CREATE_FROM_WORDS: "Creating the wallet from your words",
}

FAILURE_CHOICES = frozenset(
    {LoadingChoice.RETRY, LoadingChoice.CHANGE_SERVER, LoadingChoice.WITHOUT_BACKUP}
)
INCOMPLETE_CHOICES = FAILURE_CHOICES | {LoadingChoice.RESTORE_ANYWAY}


class LoadingFlow:
    """One visit of the loading screen for the wizard's `state`."""

    def __init__(self, state: WizardState) -> None:
        self._state = state
        self.task = state.loading_task or LoadingTask.UPGRADE_FULL_BACKUP
        self._stage = LoadingStage.RUNNING
        self._phase = "Starting…"
        self._problem: str | None = None
        self._failure: Failure | None = None
        self._steps: tuple[LoadingStep, ...] = ()
        self._server = state.backup_server_url or "the server"

    # --- reading ---------------------------------------------------------------------------------

    @property
    def stage(self) -> LoadingStage:
        return self._stage

    @property
    def view(self) -> LoadingView:
        return LoadingView(
            title=TITLES[self.task],
            intro=INTRO[self.task],
            stage=self._stage,
            phase=self._phase,
            problem=self._problem,
            choices=self._choices(),
            busy=self._stage is LoadingStage.RUNNING
            and self._steps != (LoadingStep.CREATE_FROM_WORDS,),
        )

    # --- a run -----------------------------------------------------------------------------------

    def start(self, facts: Facts) -> tuple[LoadingStep, ...]:
        """Begin (or retry) the task: the steps to run, in order."""
        state = self._state
        self._server = state.backup_server_url or facts.server_url or "the server"
        steps: list[LoadingStep] = []
        if state.network.value != facts.network:
            steps.append(LoadingStep.USE_NETWORK)
        if state.backup_server_url and (
            state.backup_server_url != facts.server_url
            or (state.backup_invite and state.backup_invite != facts.invite)
        ):
            steps.append(LoadingStep.USE_SERVER)
        if self.task is LoadingTask.INITIAL_BACKUP:
            if not facts.has_wallet:
                steps.append(LoadingStep.CREATE_WALLET)
            steps.append(LoadingStep.INITIAL_BACKUP)
        elif self.task is LoadingTask.RESTORE:
            steps.append(LoadingStep.RESTORE)
        else:
            steps.append(LoadingStep.FULL_BACKUP)
        return self._begin(tuple(steps))

    def choose(self, choice: LoadingChoice, facts: Facts) -> tuple[LoadingStep, ...]:
        """The user's choice after a failure: the steps it runs (none for CHANGE_SERVER, which
        leaves for the server page)."""
        if self._stage is not LoadingStage.FAILED:
            raise ValueError(f"{choice.value} is offered only after a failure")
        if choice is LoadingChoice.RETRY:
            return self.start(facts)
        if choice not in self._choices():
            raise ValueError(f"{choice.value} is not offered after this failure")
        if choice is LoadingChoice.CHANGE_SERVER:
            return ()
        if choice is LoadingChoice.RESTORE_ANYWAY:
            return self._begin((LoadingStep.RESTORE_INCOMPLETE,))
        if self.task is LoadingTask.RESTORE and not facts.has_wallet:
            # The user chose this: a wallet from the words alone, funds from the chain.
            return self._begin((LoadingStep.CREATE_FROM_WORDS,))
        self._stage = LoadingStage.FINISHED_WITHOUT_BACKUP
        return ()

    def step_started(self, step: LoadingStep) -> None:
        self._phase = PHASES[step]

    def step_done(self, step: LoadingStep, outcome: StepOutcome) -> bool:
        """Record how `step` ended; True when the run goes on (or has just finished)."""
        if step not in self._steps or self._stage is not LoadingStage.RUNNING:
            raise ValueError(f"{step.value} is not a step of this run")
        if not outcome.ok:
            self._stage = LoadingStage.FAILED
            self._failure = outcome.failure
            self._phase = "Stopped"
            self._problem = self._message(step, outcome)
            return False
        if step is self._steps[-1]:
            without = step is LoadingStep.CREATE_FROM_WORDS
            self._stage = LoadingStage.FINISHED_WITHOUT_BACKUP if without else LoadingStage.FINISHED
        return True

    # --- internals -------------------------------------------------------------------------------

    def _choices(self) -> frozenset[LoadingChoice]:
        if self._stage is not LoadingStage.FAILED:
            return frozenset()
        return INCOMPLETE_CHOICES if self._failure is Failure.INCOMPLETE else FAILURE_CHOICES

    def _begin(self, steps: tuple[LoadingStep, ...]) -> tuple[LoadingStep, ...]:
        self._steps = steps
        self._failure = None
        self._stage = LoadingStage.RUNNING
        self._phase = "Starting…"
        self._problem = None
        return steps

    def _message(self, step: LoadingStep, outcome: StepOutcome) -> str:
        server = self._server
        failure = outcome.failure
        if failure is Failure.NO_BACKUP:
            with_passphrase = bool(self._state.passphrase)
            words = "these words and this passphrase" if with_passphrase else "these words"
            check = (
                "the passphrase and the server address" if with_passphrase else "the server address"
            )
            return (
                f"No backup was found for {words} on {server}. Check {check}, "
                "or continue without a backup: your funds come back from the blockchain, but "
                "labels, settings and notes do not."
            )
        if failure is Failure.UNREACHABLE:
            return (
                f"The backup server at {server} could not be reached. Check your connection and "
                "try again, or change the server."
            )
        if failure is Failure.CORRUPT:
            return (
                f"The backup on {server} failed its integrity check and was not used. Nothing "
                "was changed on this computer. Try again later or contact the server's operator."
            )
        if failure is Failure.INCOMPLETE:
            return (
                f"The backup on {server} is not complete: a computer with this wallet began "
                "copying everything to it and has not finished. It may lack labels, settings "
                "or addresses that only that computer holds. If it still runs Cairn, let it "
                "finish and try again; or restore what the backup holds now. Nothing was "
                "changed on this computer."
            )
        if failure is Failure.REFUSED:
            reason = f": {outcome.detail}" if outcome.detail else ""
            return (
                f"The backup server refused the restore{reason}. Nothing was changed on this "
                "computer."
            )
        if failure is Failure.USER_PROBLEM:
            return outcome.detail
        if step is LoadingStep.CREATE_FROM_WORDS:
            return f"The wallet could not be created ({outcome.detail})."
        return f"Something went wrong that should not have ({outcome.detail})."
