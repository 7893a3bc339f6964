"""Every path through the wizard, and every way Next can be refused, without Qt."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from cairn.keys import Network
from cairn.onboarding import (
    NAVMAP,
    Flow,
    LoadingTask,
    View,
    WalletPresence,
    Wizard,
    WizardBug,
    WizardState,
    loggable,
    start_state,
)
from cairn.onboarding.navmap import wrong_confirmations

from .conftest import CREATE_WORDS, POSITIONS, RESTORE_WORDS

SERVER = "https://backup.example.com"


def wizard_at_welcome(context, server: str | None = SERVER) -> Wizard:
    return Wizard(start_state(WalletPresence.NONE, server), context=context)


def create_up_to(wizard: Wizard, view: View) -> None:
    """Drive the create path until `view` is current."""
    script = {
        View.WELCOME: lambda: wizard.update(flow=Flow.CREATE),
        View.SHOW_WORDS: lambda: None,
        View.CONFIRM_WORDS: lambda: wizard.update(
            confirm_answers=tuple(CREATE_WORDS[p] for p in POSITIONS)
        ),
        View.DISCLAIMER: lambda: wizard.update(acknowledged=True),
        View.EMAIL: lambda: wizard.update(email="alice@example.com"),
        View.BACKUP_SERVER: lambda: wizard.update(backup_server_url="https://b.example.org/"),
    }
    while wizard.view is not view:
        script[wizard.view]()
        assert wizard.next(), wizard.status


def test_create_path_with_configured_server(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.LOADING)
    assert wizard.history == (
        View.WELCOME,
        View.SHOW_WORDS,
        View.CONFIRM_WORDS,
        View.DISCLAIMER,
        View.EMAIL,
        View.LOADING,
    )
    state = wizard.state
    assert state.words == CREATE_WORDS
    assert state.email == "alice@example.com"
    assert state.loading_task is LoadingTask.INITIAL_BACKUP
    assert wizard.next()
    assert wizard.view is View.MAIN
    assert wizard.is_finished


def test_create_path_asks_for_a_server_when_none_is_configured(context):
    wizard = wizard_at_welcome(context, server=None)
    create_up_to(wizard, View.LOADING)
    assert View.BACKUP_SERVER in wizard.history
    assert wizard.state.backup_server_url == "https://b.example.org"


def test_the_server_page_refuses_a_malformed_invite_and_keeps_a_good_one_normalised(context):
    wizard = wizard_at_welcome(context, server=None)
    create_up_to(wizard, View.BACKUP_SERVER)
    wizard.update(backup_server_url="https://b.example.org", backup_invite="not an invite")
    assert not wizard.next()
    assert wizard.view is View.BACKUP_SERVER
    assert "32 characters" in (wizard.status.hint or wizard.status.error or "")
    wizard.update(backup_invite=" 0123456789ABCDEF0123456789ABCDEF ")
    assert wizard.next()
    assert wizard.state.backup_invite == "0123456789abcdef0123456789abcdef"


def test_a_restore_asks_for_no_invite(context):
    wizard = wizard_at_welcome(context, server=None)
    wizard.update(flow=Flow.RESTORE)
    assert wizard.next()
    wizard.update(words=RESTORE_WORDS)
    assert wizard.next()
    assert wizard.view is View.BACKUP_SERVER
    # Whatever was left in the field from the other path does not stand in the way.
    wizard.update(backup_server_url="http://127.0.0.1:8080", backup_invite="leftover")
    assert wizard.next()
    assert wizard.view is View.LOADING
    assert wizard.state.backup_invite == ""


def test_restore_path_never_shows_email(context):
    wizard = wizard_at_welcome(context, server=None)
    wizard.update(flow=Flow.RESTORE)
    assert wizard.next()
    assert wizard.view is View.RESTORE_WORDS
    wizard.update(words=RESTORE_WORDS)
    assert wizard.next()
    assert wizard.view is View.BACKUP_SERVER
    wizard.update(backup_server_url="http://127.0.0.1:8080")
    assert wizard.next()
    assert wizard.view is View.LOADING
    assert wizard.state.loading_task is LoadingTask.RESTORE
    assert View.EMAIL not in wizard.history


def test_restore_path_with_configured_server_goes_straight_to_loading(context):
    wizard = wizard_at_welcome(context)
    wizard.update(flow=Flow.RESTORE)
    wizard.next()
    wizard.update(words=tuple(w.upper() for w in RESTORE_WORDS))
    assert wizard.next()
    assert wizard.view is View.LOADING
    assert wizard.state.words == RESTORE_WORDS  # normalised on accept


def test_welcome_needs_a_choice(context):
    wizard = wizard_at_welcome(context)
    assert not wizard.status.valid
    assert not wizard.next()
    assert wizard.view is View.WELCOME
    assert wizard.status.error


def test_back_restores_each_previous_state_exactly(context):
    wizard = wizard_at_welcome(context)
    snapshots: list[WizardState] = []
    for view in (View.SHOW_WORDS, View.CONFIRM_WORDS, View.DISCLAIMER, View.EMAIL):
        create_up_to(wizard, view)
        snapshots.append(wizard.state)
    # Edits on the email page are discarded by Back; earlier pages come back as they were left.
    wizard.update(email="typed-but-abandoned@example.com")
    for expected in reversed(snapshots[:-1]):
        assert wizard.back()
        assert wizard.state.view is expected.view
    assert wizard.back()
    assert wizard.view is View.WELCOME
    assert wizard.state.flow is Flow.CREATE
    assert not wizard.back()


def test_back_from_email_keeps_the_disclaimer_ticked_as_left(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.EMAIL)
    wizard.update(email="x@example.com")
    wizard.back()
    assert wizard.view is View.DISCLAIMER
    assert wizard.state.acknowledged
    assert wizard.state.email == ""


def test_switching_to_restore_after_back_forgets_the_generated_words(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.SHOW_WORDS)
    wizard.back()
    wizard.update(flow=Flow.RESTORE)
    assert wizard.next()
    assert wizard.view is View.RESTORE_WORDS
    assert wizard.state.words == ()


def test_going_back_and_creating_again_keeps_the_same_words(context):
    calls: list[int] = []
    from cairn.onboarding import WizardContext

    def new_words() -> tuple[str, ...]:
        calls.append(1)
        return CREATE_WORDS

    wizard = Wizard(
        start_state(WalletPresence.NONE, SERVER),
        context=WizardContext(new_words=new_words, pick_positions=context.pick_positions),
    )
    create_up_to(wizard, View.SHOW_WORDS)
    wizard.back()
    wizard.next()
    assert calls == [1]


def test_wrong_confirmation_word_is_refused_and_nothing_moves(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.CONFIRM_WORDS)
    answers = [CREATE_WORDS[p] for p in POSITIONS]
    answers[1] = "zoo"
    wizard.update(confirm_answers=tuple(answers))
    before = wizard.state
    assert not wizard.next()
    assert wizard.view is View.CONFIRM_WORDS
    assert wizard.state == before
    assert "#5" in (wizard.status.error or "")
    # Fixing the word clears the error and Next works.
    answers[1] = CREATE_WORDS[POSITIONS[1]]
    wizard.update(confirm_answers=tuple(answers))
    assert wizard.status.error is None
    assert wizard.next()


def test_two_wrong_words_are_named_and_their_fields_known(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.CONFIRM_WORDS)
    answers = [CREATE_WORDS[p] for p in POSITIONS]
    answers[0], answers[2] = "zoo", "Zoo "
    wizard.update(confirm_answers=tuple(answers))
    assert wrong_confirmations(wizard.state) == (0, 2)
    assert not wizard.next()
    assert wizard.status.error == (
        "Words #2 and #12 do not match. Check your paper, or go Back to see the words again."
    )
    # Case and spaces do not make a right word wrong.
    wizard.update(confirm_answers=(CREATE_WORDS[1].upper(), answers[1], f" {CREATE_WORDS[11]}"))
    assert wrong_confirmations(wizard.state) == ()


def test_confirmation_needs_all_three_words(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.CONFIRM_WORDS)
    assert wizard.state.confirm_positions == POSITIONS
    wizard.update(confirm_answers=(CREATE_WORDS[1], "", CREATE_WORDS[11]))
    assert not wizard.status.valid
    assert not wizard.next()


def test_disclaimer_must_be_acknowledged(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.DISCLAIMER)
    assert not wizard.next()
    assert wizard.view is View.DISCLAIMER


@pytest.mark.parametrize("email", ["", "alice", "alice@", "a b@example.com", "a@b"])
def test_bad_email_is_refused(context, email):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.EMAIL)
    wizard.update(email=email)
    assert not wizard.next()
    assert wizard.view is View.EMAIL
    assert wizard.status.error


def test_email_can_be_skipped(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.EMAIL)
    wizard.update(email="half-typed")
    assert wizard.skip()
    assert wizard.view is View.LOADING
    assert wizard.state.email == ""
    assert wizard.state.email_skipped


def test_only_the_email_page_can_be_skipped(context):
    wizard = wizard_at_welcome(context)
    with pytest.raises(WizardBug):
        wizard.skip()
    assert [view for view, step in NAVMAP.items() if step.skippable] == [View.EMAIL]


def test_skipping_applies_the_tables_change_for_that_page(context):
    # A table whose optional page is the disclaimer: skipping it must tick the box, not touch
    # the email, because what a skip means belongs to the table and not to the wizard.
    navmap = {
        **NAVMAP,
        View.DISCLAIMER: replace(
            NAVMAP[View.DISCLAIMER], skip=lambda s: s.with_changes(acknowledged=True)
        ),
    }
    wizard = Wizard(start_state(WalletPresence.NONE, SERVER), navmap=navmap, context=context)
    create_up_to(wizard, View.DISCLAIMER)
    assert wizard.step.skippable
    assert wizard.skip()
    assert wizard.view is View.EMAIL
    assert wizard.state.acknowledged
    assert not wizard.state.email_skipped


@pytest.mark.parametrize(
    "url",
    [
        "",
        "backup.example.com",
        "ftp://x.example.com",
        "http://backup.example.com",
        "https://x/?a=1",
    ],
)
def test_bad_server_url_is_refused(context, url):
    wizard = wizard_at_welcome(context, server=None)
    create_up_to(wizard, View.BACKUP_SERVER)
    wizard.update(backup_server_url=url)
    assert not wizard.next()
    assert wizard.view is View.BACKUP_SERVER


@pytest.mark.parametrize(
    ("words", "fragment"),
    [
        ((*RESTORE_WORDS[:11], "abuot"), "#12"),
        (("abandon",) * 12, "not a recovery phrase"),
        (RESTORE_WORDS[:6] + ("",) * 6, "6 of 12"),
    ],
)
def test_bad_recovery_phrases_are_refused(context, words, fragment):
    wizard = wizard_at_welcome(context)
    wizard.update(flow=Flow.RESTORE)
    wizard.next()
    wizard.update(words=words)
    assert not wizard.status.valid
    assert fragment in (wizard.status.hint or "")
    assert not wizard.next()
    assert wizard.view is View.RESTORE_WORDS
    assert fragment in (wizard.status.error or "")


def test_24_word_phrase_is_accepted(context):
    wizard = wizard_at_welcome(context)
    wizard.update(flow=Flow.RESTORE)
    wizard.next()
    wizard.update(words=("abandon",) * 23 + ("art",))
    assert wizard.next()


def test_loading_failure_then_retry_succeeds(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.LOADING)
    wizard.set_busy(True)
    assert not wizard.status.can_next
    assert not wizard.can_go_back
    with pytest.raises(WizardBug):
        wizard.next()
    wizard.fail("The backup server did not answer.")
    assert wizard.status.error
    assert not wizard.status.busy
    wizard.set_busy(True)  # Retry
    assert wizard.status.error is None
    wizard.set_busy(False)
    assert wizard.next()
    assert wizard.view is View.MAIN
    assert not wizard.state.without_backup


def test_change_server_from_loading_and_come_back(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.LOADING)
    wizard.fail("unreachable")
    wizard.jump(View.BACKUP_SERVER)
    assert wizard.view is View.BACKUP_SERVER
    assert wizard.state.backup_server_url == SERVER  # prefilled with the current one
    wizard.update(backup_server_url="https://other.example.net")
    assert wizard.next()
    assert wizard.view is View.LOADING
    assert wizard.state.backup_server_url == "https://other.example.net"


def test_change_server_can_be_cancelled_with_back(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.LOADING)
    wizard.jump(View.BACKUP_SERVER)
    assert wizard.back()
    assert wizard.view is View.LOADING


def test_jumps_not_in_the_table_are_bugs(context):
    wizard = wizard_at_welcome(context)
    with pytest.raises(WizardBug):
        wizard.jump(View.MAIN)


def test_continue_without_backup_only_after_a_failure(context):
    wizard = wizard_at_welcome(context)
    create_up_to(wizard, View.LOADING)
    with pytest.raises(WizardBug):
        wizard.continue_without_backup()
    wizard.fail("unreachable")
    wizard.continue_without_backup()
    assert wizard.view is View.MAIN
    assert wizard.state.without_backup


def test_next_on_the_last_view_is_a_bug(context):
    wizard = Wizard(start_state(WalletPresence.READY, SERVER), context=context)
    with pytest.raises(WizardBug):
        wizard.next()


def test_listeners_hear_every_change(context):
    wizard = wizard_at_welcome(context)
    seen: list[View] = []
    wizard.subscribe(lambda w: seen.append(w.view))
    wizard.update(flow=Flow.CREATE)
    wizard.next()
    wizard.back()
    assert seen == [View.WELCOME, View.SHOW_WORDS, View.WELCOME]


def test_seed_words_and_email_never_reach_the_log(context, caplog):
    caplog.set_level(logging.DEBUG)
    wizard = wizard_at_welcome(context, server=None)
    create_up_to(wizard, View.LOADING)
    wizard.fail("x")
    wizard.continue_without_backup()
    restore = wizard_at_welcome(context)
    restore.update(flow=Flow.RESTORE)
    restore.next()
    restore.update(words=RESTORE_WORDS)
    restore.next()
    text = caplog.text + repr(wizard.state) + repr(restore.state)
    assert caplog.records, "the wizard logs its transitions"
    for word in {*CREATE_WORDS, *RESTORE_WORDS}:
        assert word not in text
    assert "alice@example.com" not in text


@pytest.mark.parametrize("flow", [Flow.CREATE, Flow.RESTORE])
def test_the_network_chosen_on_welcome_goes_all_the_way_and_back_keeps_it(context, flow):
    wizard = Wizard(start_state(WalletPresence.NONE, SERVER, Network.REGTEST), context=context)
    assert wizard.state.network is Network.REGTEST  # the configured one, until the user chooses
    wizard.update(flow=flow, network=Network.TESTNET)
    assert wizard.next()
    assert wizard.state.network is Network.TESTNET
    assert loggable(wizard.state)["network"] == "testnet"
    wizard.back()
    assert wizard.state.network is Network.TESTNET
    if flow is Flow.CREATE:
        create_up_to(wizard, View.LOADING)
    else:
        wizard.next()
        wizard.update(words=RESTORE_WORDS)
        assert wizard.next()
    assert wizard.view is View.LOADING
    assert wizard.state.network is Network.TESTNET


def test_welcome_refuses_a_network_cairn_does_not_know(context):
    wizard = wizard_at_welcome(context)
    wizard.update(flow=Flow.CREATE, network="mainnet")
    assert not wizard.next()
    assert wizard.view is View.WELCOME
    assert "network" in (wizard.status.error or "")


def test_a_passphrase_must_be_typed_twice_the_same_and_never_reaches_a_log(context, caplog):
    caplog.set_level(logging.DEBUG)
    wizard = wizard_at_welcome(context)
    wizard.update(flow=Flow.RESTORE, passphrase="correct horse", passphrase_again="correct hrose")
    assert not wizard.next()
    assert wizard.view is View.WELCOME
    assert "passphrases differ" in (wizard.status.error or "")
    wizard.update(passphrase_again="correct horse")
    assert wizard.next()
    wizard.update(words=RESTORE_WORDS)
    assert wizard.next()
    assert wizard.state.passphrase == "correct horse"
    assert "correct" not in repr(wizard.state)
    assert "correct" not in str(loggable(wizard.state))
    assert "correct" not in caplog.text
