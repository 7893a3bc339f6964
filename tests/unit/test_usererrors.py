"""One root for what the user can act on: the screens show those as advice and nothing else."""

from __future__ import annotations

import logging

import pytest

from cairn.backup import errors as backup_errors
from cairn.backup.advice import backup_advice
from cairn.backup.errors import (
    BackupBadRequest,
    BackupCorrupt,
    BackupError,
    BackupTooLarge,
    BackupUnreachable,
    ResyncRequired,
)
from cairn.keys import InvalidMnemonic
from cairn.serverurl import checked_server_url
from cairn.session import SessionError
from cairn.ui.main.errors import user_message
from cairn.usererrors import RefusedInput, UserError
from cairn.wallet.amounts import AmountError
from cairn.wallet.bip21 import PaymentUriError
from cairn.wallet.errors import InsufficientFunds
from cairn.wallet.labels import LabelError
from cairn.wallet_restore import NoBackupServer, WalletExists

SERVER = "https://backup.example.com"


@pytest.mark.parametrize(
    "error",
    [
        SessionError("The backup server could not be reached."),
        NoBackupServer("No backup server is set."),
        WalletExists("A wallet is there."),
        InsufficientFunds(1000, 2000),
        AmountError("not an amount"),
        PaymentUriError("not a bitcoin: link"),
        LabelError("too long"),
        InvalidMnemonic("word 3 is not in the list"),
    ],
)
def test_what_the_user_can_act_on_is_shown_as_advice(error):
    assert isinstance(error, UserError)
    assert user_message(error, "It failed") == str(error)[:1].upper() + str(error)[1:]


def test_a_refused_address_is_advice_and_still_a_value_error():
    with pytest.raises(RefusedInput) as caught:
        checked_server_url("ftp://backup.example.com")
    assert isinstance(caught.value, ValueError)  # callers that checked a ValueError still do
    assert user_message(caught.value, "It failed") == str(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad preference name 'X'"),
        ConnectionError("All connection attempts failed"),
        BackupUnreachable("cannot reach the backup server (All connection attempts failed)"),
        KeyError("x"),
    ],
)
def test_anything_else_is_a_bug_never_dressed_up_as_advice(error, caplog):
    with caplog.at_level(logging.ERROR):
        shown = user_message(error, "The label was not saved")
    assert shown == (
        f"The label was not saved: an unexpected error occurred ({type(error).__name__})."
    )
    assert caplog.records, "a bug goes to the log"


def test_every_backup_error_is_either_advice_or_a_bug_by_its_type():
    # A conflict is advice: other devices backing up at the same moment, not a bug.
    bugs = {BackupBadRequest, BackupTooLarge, ResyncRequired, BackupError}
    for name in backup_errors.__all__:
        kind = getattr(backup_errors, name)
        error = kind.__new__(kind)
        Exception.__init__(error, "raw words from the transport")
        error.code = ""
        advice = backup_advice(error, SERVER)
        if kind in bugs:
            assert advice is None, name
        else:
            assert advice is not None and "raw words" not in advice, name
            # An erase elsewhere and other devices writing at once are not the server's doing.
            elsewhere = (backup_errors.BackupErased, backup_errors.BackupConflict)
            assert SERVER in advice or kind in elsewhere, name


def test_the_corrupt_backup_error_is_one_type_for_sync_and_restore():
    from cairn.backup import restore, sync

    assert sync.BackupCorrupt is restore.BackupCorrupt is BackupCorrupt
    assert issubclass(BackupCorrupt, BackupError)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("invite_required", "takes new wallets by invite only. Enter the invite code"),
        ("invite_invalid", "refused the invite code"),
        ("not_allowlisted", "only takes wallets its operator has listed"),
        ("bad_signature", "Check that this computer's clock"),
    ],
)
def test_a_server_that_does_not_take_this_wallet_says_what_to_do(code, says):
    error = backup_errors.BackupUnauthorized("backup server answered 403", status=403, code=code)
    advice = backup_advice(error, SERVER)
    assert advice is not None and says in advice and SERVER in advice
