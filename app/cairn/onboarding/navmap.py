"""The wizard's transition table, as data: view → validate, accept, next (Electrum's navmap).

`next` is either a view or a `Choice` whose possible answers are listed here, so a test can
check that every target exists without running the wizard.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from cairn.keys import Network
from cairn.onboarding.phrase import WORD_COUNTS, check_phrase, normalise_word
from cairn.onboarding.state import WizardState
from cairn.onboarding.validation import (
    email_problem,
    invite_problem,
    normalise_invite,
    normalise_server_url,
    server_url_problem,
)
from cairn.onboarding.views import Flow, View

CONFIRM_COUNT = 3


class StepError(Exception):
    """Next was refused: the message says what the user should do."""


@dataclass(frozen=True)
class WizardContext:
    """Where the wizard gets randomness from; tests pass fixed values."""

    new_words: Callable[[], tuple[str, ...]]
    pick_positions: Callable[[int], tuple[int, ...]]

    @staticmethod
    def default() -> WizardContext:
        return WizardContext(new_words=_generate_words, pick_positions=_random_positions)


def _generate_words() -> tuple[str, ...]:
    from cairn.keys import generate_mnemonic

    return tuple(generate_mnemonic(12).split())


def _random_positions(word_count: int) -> tuple[int, ...]:
    chosen: set[int] = set()
    while len(chosen) < min(CONFIRM_COUNT, word_count):
        chosen.add(secrets.randbelow(word_count))
    return tuple(sorted(chosen))


Validator = Callable[[WizardState], str | None]
Acceptor = Callable[[WizardState, WizardContext], WizardState]
Skipper = Callable[[WizardState], WizardState]


@dataclass(frozen=True)
class Choice:
    """A branch: `question(state)` must be one of `answers`' keys."""

    question: Callable[[WizardState], Hashable]
    answers: Mapping[Hashable, View]

    def resolve(self, state: WizardState) -> View:
        return self.answers[self.question(state)]


def _valid(_: WizardState) -> str | None:
    return None


def _unchanged(state: WizardState, _: WizardContext) -> WizardState:
    return state


@dataclass(frozen=True)
class Step:
    """One row of the table. `next=None` marks the last view.

    `skip`, on an optional page, is what skipping it changes before Next validates and accepts
    the snapshot as usual; a page without one cannot be skipped.
    """

    next: View | Choice | None
    validate: Validator = _valid
    accept: Acceptor = _unchanged
    can_go_back: bool = True
    skip: Skipper | None = None
    jumps: frozenset[View] = field(default_factory=frozenset)

    @property
    def skippable(self) -> bool:
        return self.skip is not None

    def targets(self) -> frozenset[View]:
        """Every view Next can lead to from here."""
        if self.next is None:
            return frozenset()
        if isinstance(self.next, View):
            return frozenset({self.next})
        return frozenset(self.next.answers.values())


# --- welcome -------------------------------------------------------------------------------------


def _welcome_valid(state: WizardState) -> str | None:
    if state.flow not in (Flow.CREATE, Flow.RESTORE):
        return "Choose to create a new wallet or restore one."
    if not isinstance(state.network, Network):
        return "Choose a network: Bitcoin, testnet, signet or regtest."
    if state.passphrase != state.passphrase_again:
        # A typo here would lock the funds away for good: the passphrase is typed twice.
        return "The two passphrases differ. Type the same passphrase in both fields."
    return None


def _welcome_accept(state: WizardState, ctx: WizardContext) -> WizardState:
    if state.flow is Flow.CREATE:
        # Going back to Welcome and choosing Create again keeps the words already shown.
        words = state.words if state.words else ctx.new_words()
        return state.with_changes(words=words)
    return state.with_changes(words=(), confirm_positions=(), confirm_answers=())


# --- create --------------------------------------------------------------------------------------


def _show_words_accept(state: WizardState, ctx: WizardContext) -> WizardState:
    positions = ctx.pick_positions(len(state.words))
    return state.with_changes(confirm_positions=positions, confirm_answers=("",) * len(positions))


def _confirm_valid(state: WizardState) -> str | None:
    answers = state.confirm_answers
    if len(answers) != len(state.confirm_positions) or not all(a.strip() for a in answers):
        return "Type the requested words from your paper."
    return None


def wrong_confirmations(state: WizardState) -> tuple[int, ...]:
    """Which confirmation fields (0-based, in page order) hold a word that does not match."""
    return tuple(
        field
        for field, (pos, answer) in enumerate(
            zip(state.confirm_positions, state.confirm_answers, strict=True)
        )
        if answer.strip() and normalise_word(answer) != state.words[pos]
    )


def _listed(numbers: list[str]) -> str:
    return numbers[0] if len(numbers) == 1 else f"{', '.join(numbers[:-1])} and {numbers[-1]}"


def _confirm_accept(state: WizardState, _: WizardContext) -> WizardState:
    wrong = [f"#{state.confirm_positions[field] + 1}" for field in wrong_confirmations(state)]
    if wrong:
        subject = (
            f"Word {wrong[0]} does not" if len(wrong) == 1 else f"Words {_listed(wrong)} do not"
        )
        raise StepError(f"{subject} match. Check your paper, or go Back to see the words again.")
    return state


def _disclaimer_valid(state: WizardState) -> str | None:
    return None if state.acknowledged else "Tick the box to confirm you understand."


# --- restore -------------------------------------------------------------------------------------


def _restore_valid(state: WizardState) -> str | None:
    count = len(state.words) if len(state.words) in WORD_COUNTS else WORD_COUNTS[0]
    verdict = check_phrase(state.words, count)
    return None if verdict.valid else verdict.message


def _restore_accept(state: WizardState, _: WizardContext) -> WizardState:
    return state.with_changes(words=tuple(normalise_word(w) for w in state.words))


# --- email and server ----------------------------------------------------------------------------


def _email_skip(state: WizardState) -> WizardState:
    return state.with_changes(email_skipped=True)


def _email_valid(state: WizardState) -> str | None:
    return None if state.email_skipped else email_problem(state.email)


def _email_accept(state: WizardState, _: WizardContext) -> WizardState:
    if state.email_skipped:
        return state.with_changes(email="")
    return state.with_changes(email=state.email.strip())


def _server_valid(state: WizardState) -> str | None:
    return server_url_problem(state.backup_server_url) or invite_problem(_invite_of(state))


def _server_accept(state: WizardState, _: WizardContext) -> WizardState:
    return state.with_changes(
        backup_server_url=normalise_server_url(state.backup_server_url),
        backup_invite=normalise_invite(_invite_of(state)),
    )


def _invite_of(state: WizardState) -> str:
    # A backup that already exists needs no invite: a restore asks for none.
    return "" if state.flow is Flow.RESTORE else state.backup_invite


def _needs_server(state: WizardState) -> bool:
    return state.needs_server


_SERVER_OR_LOADING = Choice(_needs_server, {True: View.BACKUP_SERVER, False: View.LOADING})

NAVMAP: Mapping[View, Step] = {
    View.WELCOME: Step(
        next=Choice(
            lambda s: s.flow,
            {Flow.CREATE: View.SHOW_WORDS, Flow.RESTORE: View.RESTORE_WORDS},
        ),
        validate=_welcome_valid,
        accept=_welcome_accept,
        can_go_back=False,
    ),
    View.SHOW_WORDS: Step(next=View.CONFIRM_WORDS, accept=_show_words_accept),
    View.CONFIRM_WORDS: Step(next=View.DISCLAIMER, validate=_confirm_valid, accept=_confirm_accept),
    View.DISCLAIMER: Step(next=View.EMAIL, validate=_disclaimer_valid),
    # The email page is never reached from RESTORE_WORDS: the address comes back from the backup.
    View.RESTORE_WORDS: Step(
        next=_SERVER_OR_LOADING, validate=_restore_valid, accept=_restore_accept
    ),
    View.EMAIL: Step(
        next=_SERVER_OR_LOADING, validate=_email_valid, accept=_email_accept, skip=_email_skip
    ),
    View.BACKUP_SERVER: Step(next=View.LOADING, validate=_server_valid, accept=_server_accept),
    View.LOADING: Step(next=View.MAIN, can_go_back=False, jumps=frozenset({View.BACKUP_SERVER})),
    View.MAIN: Step(next=None, can_go_back=False),
}
