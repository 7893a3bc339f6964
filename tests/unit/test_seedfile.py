"""The seed file: keyring-encrypted where a keyring exists, plain (and said so) otherwise."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors
import pytest

from cairn.keys import InvalidMnemonic
from cairn.seedfile import (
    KEYRING_SERVICE,
    SeedFileError,
    SeedKeyUnavailable,
    delete_seed,
    keyring_available,
    load_seed,
    save_seed,
    seed_exists,
    seed_protection,
)
from tests.support.words import PHRASE

OTHER = "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"


class DictKeyring(keyring.backend.KeyringBackend):
    """A keyring holding its entries in a dict, like an unlocked desktop keyring would."""

    priority = -1  # type: ignore[assignment]  # never chosen on its own: tests set it explicitly

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


class RefusingKeyring(DictKeyring):
    """A keyring that exists but will not store anything (locked, denied)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


@pytest.fixture
def dict_keyring() -> Iterator[DictKeyring]:
    previous = keyring.get_keyring()
    backend = DictKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _dir_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_without_keyring_the_file_is_plain_and_says_so(tmp_path: Path, no_keyring: None) -> None:
    assert not keyring_available()
    assert save_seed(tmp_path, PHRASE, "pass") == "plain"
    assert seed_protection(tmp_path) == "plain"
    assert load_seed(tmp_path) == (PHRASE, "pass")
    assert _mode(tmp_path / "seed") == 0o600
    assert _dir_listing(tmp_path) == ["seed"]


def test_a_seed_file_made_readable_to_others_is_private_again_once_read(
    tmp_path: Path, no_keyring: None
) -> None:
    wallet = tmp_path / "wallet"
    save_seed(wallet, PHRASE, "")
    os.chmod(wallet / "seed", 0o666)  # a copy, an archive, a chmod
    os.chmod(wallet, 0o755)
    assert load_seed(wallet) == (PHRASE, "")
    assert _mode(wallet / "seed") == 0o600
    assert _mode(wallet) == 0o700


def test_with_keyring_the_file_is_encrypted(tmp_path: Path, dict_keyring: DictKeyring) -> None:
    assert keyring_available()
    assert save_seed(tmp_path, PHRASE, "pässphrase") == "keyring"
    assert seed_protection(tmp_path) == "keyring"
    assert load_seed(tmp_path) == (PHRASE, "pässphrase")
    raw = (tmp_path / "seed").read_text()
    for word in [*PHRASE.split(), "pässphrase", "p\\u00e4ssphrase"]:
        assert word not in raw
    document = json.loads(raw)
    assert list(dict_keyring.entries) == [(KEYRING_SERVICE, document["keyring_id"])]
    assert _mode(tmp_path / "seed") == 0o600


def test_keyring_can_be_declined(tmp_path: Path, dict_keyring: DictKeyring) -> None:
    assert save_seed(tmp_path, PHRASE, use_keyring=False) == "plain"
    assert dict_keyring.entries == {}
    assert load_seed(tmp_path) == (PHRASE, "")


def test_a_refusing_keyring_falls_back_to_plain(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(RefusingKeyring())
    try:
        assert save_seed(tmp_path, PHRASE) == "plain"
        assert load_seed(tmp_path) == (PHRASE, "")
    finally:
        keyring.set_keyring(previous)


def test_missing_keyring_entry_is_reported(tmp_path: Path, dict_keyring: DictKeyring) -> None:
    save_seed(tmp_path, PHRASE)
    dict_keyring.entries.clear()
    with pytest.raises(SeedKeyUnavailable, match="recovery phrase"):
        load_seed(tmp_path)


def test_keyring_gone_is_reported(tmp_path: Path, dict_keyring: DictKeyring) -> None:
    save_seed(tmp_path, PHRASE)
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(SeedKeyUnavailable):
        load_seed(tmp_path)
    assert seed_protection(tmp_path) == "keyring"


def test_wrong_or_damaged_key_and_tampered_file_fail(
    tmp_path: Path, dict_keyring: DictKeyring
) -> None:
    save_seed(tmp_path, PHRASE)
    document = json.loads((tmp_path / "seed").read_text())
    entry = (KEYRING_SERVICE, document["keyring_id"])
    good_key = dict_keyring.entries[entry]

    dict_keyring.entries[entry] = "A" * 44  # another 32-byte key
    with pytest.raises(SeedFileError):
        load_seed(tmp_path)
    dict_keyring.entries[entry] = "not base64!"
    with pytest.raises(SeedKeyUnavailable):
        load_seed(tmp_path)

    dict_keyring.entries[entry] = good_key
    ciphertext = bytearray(document["ciphertext"].encode())
    ciphertext[5] = ord("A") if ciphertext[5] != ord("A") else ord("B")
    (tmp_path / "seed").write_text(json.dumps({**document, "ciphertext": ciphertext.decode()}))
    with pytest.raises(SeedFileError):
        load_seed(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": 2, "protection": "plain"}',
        b'{"format": 1, "protection": "rot13"}',
        b'{"format": 1, "protection": "plain"}',
        b'{"format": 1, "protection": "keyring"}',
        b'{"format": 1, "protection": "plain", "phrase": 1, "passphrase": ""}',
    ],
)
def test_damaged_file_is_a_seed_file_error(
    tmp_path: Path, no_keyring: None, content: bytes
) -> None:
    (tmp_path / "seed").write_bytes(content)
    with pytest.raises(SeedFileError):
        load_seed(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    assert not seed_exists(tmp_path)
    with pytest.raises(SeedFileError, match="no seed file"):
        load_seed(tmp_path)


def test_invalid_phrase_writes_nothing(tmp_path: Path, no_keyring: None) -> None:
    with pytest.raises(InvalidMnemonic):
        save_seed(tmp_path, "abandon " * 12)
    assert not seed_exists(tmp_path)


def test_phrase_is_stored_normalised(tmp_path: Path, no_keyring: None) -> None:
    save_seed(tmp_path, "  " + PHRASE.upper() + "\n")
    assert load_seed(tmp_path) == (PHRASE, "")


def test_replacing_the_seed_forgets_the_old_keyring_entry(
    tmp_path: Path, dict_keyring: DictKeyring
) -> None:
    save_seed(tmp_path, PHRASE)
    save_seed(tmp_path, OTHER)
    assert load_seed(tmp_path) == (OTHER, "")
    assert len(dict_keyring.entries) == 1
    assert _dir_listing(tmp_path) == ["seed"]


def test_failed_write_keeps_the_old_file(
    tmp_path: Path, dict_keyring: DictKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_seed(tmp_path, PHRASE)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_seed(tmp_path, OTHER)
    monkeypatch.undo()
    assert load_seed(tmp_path) == (PHRASE, "")
    assert _dir_listing(tmp_path) == ["seed"]
    assert len(dict_keyring.entries) == 1


def test_wallet_dir_is_created_private(tmp_path: Path, no_keyring: None) -> None:
    wallet_dir = tmp_path / "wallets" / "regtest"
    save_seed(wallet_dir, PHRASE)
    assert _mode(wallet_dir) == 0o700
    assert load_seed(wallet_dir) == (PHRASE, "")


def test_delete_seed_removes_file_and_keyring_entry(
    tmp_path: Path, dict_keyring: DictKeyring
) -> None:
    save_seed(tmp_path, PHRASE)
    delete_seed(tmp_path)
    assert not seed_exists(tmp_path)
    assert dict_keyring.entries == {}
    delete_seed(tmp_path)  # nothing left: no error


def test_seed_never_reaches_a_log(
    tmp_path: Path, dict_keyring: DictKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    save_seed(tmp_path, PHRASE, "secret-pass")
    load_seed(tmp_path)
    dict_keyring.entries.clear()
    with pytest.raises(SeedKeyUnavailable) as info:
        load_seed(tmp_path)
    text = caplog.text + str(info.value)
    assert "legal" not in text and "secret-pass" not in text
