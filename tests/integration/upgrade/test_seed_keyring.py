"""The plain seed.txt goes only once the new seed file is known to hold the same phrase."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import pytest

from cairn.seedfile import load_seed, seed_protection
from cairn.upgrade import upgrade_wallet_dir
from tests.integration.upgrade.helpers import FIXTURE, INPUTS, NETWORK, copy_fixture


def make_desktop_keyring() -> keyring.backend.KeyringBackend:
    """An unlocked desktop keyring, in memory.

    The class is made here, not at import: keyring would otherwise offer it to every test that
    lets keyring choose its backend.
    """

    class DictKeyring(keyring.backend.KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            del self.entries[(service, username)]

    return DictKeyring()


@pytest.fixture
def desktop_keyring() -> Iterator[keyring.backend.KeyringBackend]:
    previous = keyring.get_keyring()
    backend = make_desktop_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_seed_txt_stays_while_the_keyring_is_locked(
    tmp_path: Path, desktop_keyring: keyring.backend.KeyringBackend
) -> None:
    wallet_dir = copy_fixture(tmp_path / "data")
    upgrade_wallet_dir(wallet_dir, NETWORK)
    assert seed_protection(wallet_dir) == "keyring"
    assert INPUTS["mnemonic"] not in (wallet_dir / "seed").read_text()  # encrypted, not plain
    # A kill right after the commit left the plain seed behind; the keyring is locked now.
    plain = (FIXTURE / "data" / "wallets" / "regtest" / "seed.txt").read_bytes()
    (wallet_dir / "seed.txt").write_bytes(plain)
    sealed = (wallet_dir / "seed").read_bytes()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    result = upgrade_wallet_dir(wallet_dir, NETWORK)
    assert "seed.txt" not in result.cleaned
    assert (wallet_dir / "seed.txt").exists()
    assert (wallet_dir / "seed").read_bytes() == sealed  # not rewritten in plain text
    # Unlocked again: the seed file checks out and the plain copy goes.
    keyring.set_keyring(desktop_keyring)
    assert "seed.txt" in upgrade_wallet_dir(wallet_dir, NETWORK).cleaned
    assert not (wallet_dir / "seed.txt").exists()
    assert load_seed(wallet_dir) == (INPUTS["mnemonic"], "")
