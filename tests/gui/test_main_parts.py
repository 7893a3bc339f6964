"""The main window's small pure parts: amounts, fee presets, backup status wording, QR codes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QLocale

from cairn.backup.status import BackupState, StatusSnapshot
from cairn.ui.main.amounts import Amounts, locale_number_format
from cairn.ui.main.backup_status import describe
from cairn.ui.main.errors import sentence
from cairn.ui.main.formatting import btc
from cairn.ui.main.send import pick_estimate
from cairn.ui.main.settings_parts import check_email, check_server_url
from cairn.wallet.amounts import NumberFormat, Unit

pytestmark = pytest.mark.gui


def test_amounts_read_with_eight_decimals_and_a_sign() -> None:
    assert btc(150_000_000) == "1.50000000 BTC"
    assert btc(-2_500, signed=True) == "−0.00002500 BTC"
    assert btc(1, signed=True) == "+0.00000001 BTC"


@pytest.mark.parametrize(
    ("text", "sats"), [("0.001", 100_000), ("1", 100_000_000), (" 0.00000546 BTC", 546)]
)
def test_typed_amounts_become_satoshis(text: str, sats: int, qapp) -> None:
    amounts = Amounts(number_format=NumberFormat(".", ","))
    assert amounts.parse(text) == sats


@pytest.mark.parametrize("text", ["", "abc", "0", "-1", "0.000000001", "0,5"])
def test_unusable_amounts_say_why(text: str, qapp) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        Amounts(number_format=NumberFormat(".", ",")).parse(text)


def test_the_number_format_follows_the_locale(qapp) -> None:
    german = locale_number_format(QLocale(QLocale.Language.German, QLocale.Country.Germany))
    assert (german.decimal_point, german.group_separator) == (",", ".")
    amounts = Amounts(Unit.SAT, german)
    assert amounts.text(1_500_000) == "1.500.000 sat"
    assert amounts.parse_fee_rate("2,5") == 2.5


def test_error_messages_keep_an_address_as_written() -> None:
    assert sentence("not enough funds") == "Not enough funds"
    assert sentence("bc1qxyz is a mainnet address") == "bc1qxyz is a mainnet address"
    assert sentence("records.sqlite is damaged") == "records.sqlite is damaged"


def test_fee_preset_takes_the_nearest_target_at_or_above() -> None:
    estimates = {"1": 20.0, "3": 10.0, "144": 1.5}
    assert pick_estimate(estimates, 1) == 20.0
    assert pick_estimate(estimates, 6) == 1.5
    assert pick_estimate(estimates, 1008) == 1.5
    assert pick_estimate({}, 6) is None


def test_backup_status_wording_follows_the_engine_state() -> None:
    never = StatusSnapshot(server_url="http://b")
    assert describe(never).headline == "Not backed up yet"
    waiting = StatusSnapshot(pending_changes=3, last_success=1.0)
    assert describe(waiting).headline == "3 changes waiting"
    assert describe(waiting).tone == "warn"
    done = StatusSnapshot(last_success=1.0)
    assert (describe(done).tone, describe(done).headline) == ("ok", "Backed up")
    full = StatusSnapshot(state=BackupState.FULL_BACKUP, full_backup_done=5, full_backup_total=9)
    assert describe(full).detail == "5 of 9 records"
    failed = StatusSnapshot(state=BackupState.ERROR, last_error="quota exceeded")
    assert describe(failed).tone == "error"
    owed = StatusSnapshot(last_success=1.0, full_backup_reason="the backup server changed")
    assert (describe(owed).headline, describe(owed).detail) == (
        "Full backup needed",
        "the backup server changed",
    )
    # Unreachable with a full backup owed: the window says both, as `cairn backup status` does.
    down = StatusSnapshot(state=BackupState.OFFLINE, full_backup_reason="upgraded")
    assert "full backup required" in describe(down).detail
    # A repaired rollback stays visible (when, and that everything went up again) until dismissed.
    rolled = StatusSnapshot(
        last_success=1.0, notice_kind="rollback", notice="generation went back", notice_at=1.0
    )
    assert describe(rolled).headline == "The backup server went back in time"
    assert "everything was uploaded again" in describe(rolled).detail
    erased = StatusSnapshot(
        state=BackupState.ERROR, notice_kind="erased", notice="deleted from another device"
    )
    assert describe(erased).headline == "Backup deleted from another device"


def test_settings_inputs_are_checked_before_any_action() -> None:
    assert check_server_url(" https://backup.example.org/ ") == "https://backup.example.org"
    with pytest.raises(ValueError):
        check_server_url("backup.example.org")
    # What the wizard refuses, Settings refuses too: plain http to another computer.
    with pytest.raises(ValueError, match="Use https"):
        check_server_url("http://backup.example.org")
    assert check_server_url("http://127.0.0.1:8470/") == "http://127.0.0.1:8470"
    assert check_email("") is None
    assert check_email("ada@example.org") == "ada@example.org"
    with pytest.raises(ValueError):
        check_email("ada at example")
    # The wizard's check, so both agree on every address.
    with pytest.raises(ValueError, match="does not look like an email"):
        check_email("ada@example")


def test_qr_image_has_whole_pixel_modules(qapp) -> None:
    from cairn.ui.main.qr import qr_image, qr_matrix

    text = "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
    matrix = qr_matrix(text)
    image = qr_image(text, 220)
    scale = image.width() // len(matrix)
    assert image.width() == image.height() == scale * len(matrix)
    # Sample the centre of every module: the picture is exactly the matrix.
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            pixel = image.pixelColor(x * scale + scale // 2, y * scale + scale // 2)
            assert (pixel.lightness() < 128) == dark


def test_the_window_size_is_fitted_to_the_screen() -> None:
    from cairn.ui.main.local_state import fitted_size

    # 960x720 at 1.5x scale on 1280x900 pixels: 853x600 logical pixels available.
    assert fitted_size((960, 720), (853, 600)) == (805, 552)
    assert fitted_size((960, 720), (1920, 1080)) == (960, 720)
    assert fitted_size((100, 100), (1920, 1080)) == (480, 360)  # never unusably small
    assert fitted_size((960, 720), (300, 200)) == (252, 152)  # unless the screen is
