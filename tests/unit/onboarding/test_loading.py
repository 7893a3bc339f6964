"""The loading screen's flows without Qt: the steps of each task, every failure's message and
choices, retry, change server, and continue without backup only by the user's choice."""

from __future__ import annotations

import pytest

from cairn.keys import Network
from cairn.onboarding import Flow, View, WizardState
from cairn.onboarding.loading import (
    DONE,
    Facts,
    Failure,
    LoadingChoice,
    LoadingFlow,
    LoadingStage,
    LoadingStep,
    StepOutcome,
)

from .conftest import RESTORE_WORDS

SERVER = "https://backup.example.com"
READY = Facts(network="regtest", server_url=SERVER, has_wallet=False)


def state(flow: Flow | None, **changes: object) -> WizardState:
    base = WizardState(
        view=View.LOADING,
        flow=flow,
        words=RESTORE_WORDS,
        network=Network.REGTEST,
        backup_server_url=SERVER,
        server_configured=True,
    )
    return base.with_changes(**changes)


THREE_CHOICES = frozenset(
    {LoadingChoice.RETRY, LoadingChoice.CHANGE_SERVER, LoadingChoice.WITHOUT_BACKUP}
)


def run_all(flow: LoadingFlow, steps: tuple[LoadingStep, ...], **failing: StepOutcome) -> None:
    """Feed each step its outcome: DONE unless `failing` names the step."""
    for step in steps:
        flow.step_started(step)
        if not flow.step_done(step, failing.get(step.value, DONE)):
            return


def test_each_task_runs_its_own_steps():
    assert LoadingFlow(state(Flow.CREATE)).start(READY) == (
        LoadingStep.CREATE_WALLET,
        LoadingStep.INITIAL_BACKUP,
    )
    # A wallet made by an earlier try is not made again: only its backup is retried.
    made = Facts("regtest", SERVER, has_wallet=True)
    assert LoadingFlow(state(Flow.CREATE)).start(made) == (LoadingStep.INITIAL_BACKUP,)
    assert LoadingFlow(state(Flow.RESTORE)).start(READY) == (LoadingStep.RESTORE,)
    assert LoadingFlow(state(None)).start(made) == (LoadingStep.FULL_BACKUP,)


def test_the_wizards_network_and_server_choices_are_applied_first():
    elsewhere = Facts(network="bitcoin", server_url="https://old.example.com", has_wallet=False)
    assert LoadingFlow(state(Flow.RESTORE)).start(elsewhere) == (
        LoadingStep.USE_NETWORK,
        LoadingStep.USE_SERVER,
        LoadingStep.RESTORE,
    )


def test_a_run_that_succeeds_finishes_and_offers_nothing():
    flow = LoadingFlow(state(Flow.CREATE))
    run_all(flow, flow.start(READY))
    assert flow.stage is LoadingStage.FINISHED
    assert flow.view.choices == frozenset()
    assert flow.view.problem is None
    assert flow.view.title == "Setting up your wallet"


@pytest.mark.parametrize(
    ("failure", "fragment"),
    [
        (Failure.NO_BACKUP, "No backup was found for these words on https://backup.example.com"),
        (Failure.UNREACHABLE, "could not be reached. Check your connection"),
        (Failure.CORRUPT, "failed its integrity check and was not used"),
        (Failure.REFUSED, "refused the restore: the clock is wrong. Nothing was changed"),
        (Failure.USER_PROBLEM, "the clock is wrong"),
        (Failure.BUG, "Something went wrong that should not have (the clock is wrong)"),
    ],
)
def test_every_failure_says_what_happened_and_offers_the_three_choices(failure, fragment):
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(failure, "the clock is wrong"))
    view = flow.view
    assert view.stage is LoadingStage.FAILED
    assert fragment in (view.problem or "")
    assert view.phase == "Stopped"
    assert view.choices == THREE_CHOICES


def test_no_backup_with_a_passphrase_asks_to_check_the_passphrase_too():
    flow = LoadingFlow(state(Flow.RESTORE, passphrase="extra"))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.NO_BACKUP))
    assert "these words and this passphrase" in (flow.view.problem or "")
    assert "Check the passphrase and the server address" in (flow.view.problem or "")


def test_a_failed_step_stops_the_run():
    flow = LoadingFlow(state(Flow.CREATE))
    steps = flow.start(READY)
    flow.step_started(steps[0])
    assert not flow.step_done(steps[0], StepOutcome(Failure.USER_PROBLEM, "No chain server"))
    with pytest.raises(ValueError):
        flow.step_done(steps[1], DONE)  # the run is over: the backup does not follow


def test_retry_starts_again_and_clears_the_problem():
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.UNREACHABLE))
    assert flow.choose(LoadingChoice.RETRY, READY) == (LoadingStep.RESTORE,)
    assert flow.stage is LoadingStage.RUNNING and flow.view.busy
    assert flow.view.problem is None and flow.view.choices == frozenset()
    run_all(flow, (LoadingStep.RESTORE,))
    assert flow.stage is LoadingStage.FINISHED


def test_change_server_runs_nothing_here():
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.UNREACHABLE))
    assert flow.choose(LoadingChoice.CHANGE_SERVER, READY) == ()


def test_without_backup_after_a_restore_makes_the_wallet_from_the_words_then_finishes():
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.NO_BACKUP))
    steps = flow.choose(LoadingChoice.WITHOUT_BACKUP, READY)
    assert steps == (LoadingStep.CREATE_FROM_WORDS,)
    assert not flow.view.busy  # the wizard keeps the failure this choice answers
    run_all(flow, steps)
    assert flow.stage is LoadingStage.FINISHED_WITHOUT_BACKUP


def test_without_backup_when_it_cannot_make_the_wallet_fails_again_with_every_choice():
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.NO_BACKUP))
    steps = flow.choose(LoadingChoice.WITHOUT_BACKUP, READY)
    run_all(flow, steps, create_from_words=StepOutcome(Failure.BUG, "OSError"))
    assert flow.view.problem == "The wallet could not be created (OSError)."
    assert flow.view.choices == THREE_CHOICES


def test_an_incomplete_backup_is_explained_and_restored_only_when_the_user_chooses():
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.INCOMPLETE, "incomplete"))
    view = flow.view
    assert view.stage is LoadingStage.FAILED
    assert "is not complete" in (view.problem or "")
    assert "Nothing was changed" in (view.problem or "")
    assert view.choices == THREE_CHOICES | {LoadingChoice.RESTORE_ANYWAY}
    # Trying again asks the same question of the server (the other device may have finished).
    assert flow.choose(LoadingChoice.RETRY, READY) == (LoadingStep.RESTORE,)
    run_all(flow, (LoadingStep.RESTORE,), restore=StepOutcome(Failure.INCOMPLETE))
    steps = flow.choose(LoadingChoice.RESTORE_ANYWAY, READY)
    assert steps == (LoadingStep.RESTORE_INCOMPLETE,)
    assert flow.view.busy and flow.view.choices == frozenset()
    run_all(flow, steps)
    assert flow.stage is LoadingStage.FINISHED


def test_restoring_anyway_is_not_offered_after_other_failures():
    flow = LoadingFlow(state(Flow.RESTORE))
    run_all(flow, flow.start(READY), restore=StepOutcome(Failure.CORRUPT))
    assert LoadingChoice.RESTORE_ANYWAY not in flow.view.choices
    with pytest.raises(ValueError, match="not offered"):
        flow.choose(LoadingChoice.RESTORE_ANYWAY, READY)


def test_without_backup_after_a_failed_backup_goes_straight_on():
    made = Facts("regtest", SERVER, has_wallet=True)
    flow = LoadingFlow(state(Flow.CREATE))
    run_all(flow, flow.start(made), initial_backup=StepOutcome(Failure.UNREACHABLE))
    assert flow.choose(LoadingChoice.WITHOUT_BACKUP, made) == ()
    assert flow.stage is LoadingStage.FINISHED_WITHOUT_BACKUP


def test_choices_are_refused_while_a_run_is_going():
    flow = LoadingFlow(state(Flow.RESTORE))
    flow.start(READY)
    for choice in LoadingChoice:
        with pytest.raises(ValueError):
            flow.choose(choice, READY)


def test_an_invite_typed_for_the_same_server_is_applied_before_the_backup():
    invite = "0123456789abcdef0123456789abcdef"
    made = Facts("regtest", SERVER, has_wallet=True)
    assert LoadingFlow(state(Flow.CREATE, backup_invite=invite)).start(made) == (
        LoadingStep.USE_SERVER,
        LoadingStep.INITIAL_BACKUP,
    )
    # Once the session keeps it, or when none was typed, the server is not set again.
    kept = Facts("regtest", SERVER, has_wallet=True, invite=invite)
    assert LoadingFlow(state(Flow.CREATE, backup_invite=invite)).start(kept) == (
        LoadingStep.INITIAL_BACKUP,
    )
    assert LoadingFlow(state(Flow.CREATE)).start(kept) == (LoadingStep.INITIAL_BACKUP,)
