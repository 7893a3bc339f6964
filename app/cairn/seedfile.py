"""The seed at rest: the file `seed` in a wallet directory.

The recovery phrase (and optional BIP39 passphrase) is the one secret nothing else can bring
back, so it lives in its own small file (mode 0600, written atomically), never in the record
store, never in a backup, never in a log. Where the operating system offers a keyring, the file
is encrypted with AES-256-GCM under a random key kept there, so a copy of the wallet directory
alone does not give the seed away. Without a keyring the file is plain and `seed_protection`
says so, for the app to warn the user.

File format (JSON, UTF-8), one of:

    {"format": 1, "protection": "keyring", "keyring_id": <32 hex>, "nonce": <b64 12 bytes>,
     "ciphertext": <b64 AES-256-GCM of {"phrase", "passphrase"} JSON, AAD = b"cairn-seed/v1" ||
     keyring_id>}
    {"format": 1, "protection": "plain", "phrase": ..., "passphrase": ...}

The keyring entry is service "cairn", username = keyring_id, password = base64 of the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from cairn.files import keep_private, write_file_atomically
from cairn.keys import InvalidMnemonic, validate_mnemonic

__all__ = [
    "KEYRING_SERVICE",
    "SEED_FILE_NAME",
    "SeedFileError",
    "SeedKeyUnavailable",
    "SeedProtection",
    "delete_seed",
    "keyring_available",
    "load_seed",
    "save_seed",
    "seed_exists",
    "seed_protection",
]

SEED_FILE_NAME = "seed"
KEYRING_SERVICE = "cairn"
FILE_FORMAT = 1
AAD_PREFIX = b"cairn-seed/v1"
RESTORE_ADVICE = (
    "restore the wallet from its recovery words with `cairn restore --force` (the damaged "
    "wallet is kept beside it)"
)
SeedProtection = Literal["keyring", "plain"]


class SeedFileError(Exception):
    """The seed file is missing, unreadable or damaged (the message never contains the seed)."""


class SeedKeyUnavailable(SeedFileError):
    """The seed file is encrypted but its key cannot be read from the system keyring."""


# The keyring library and the cipher are imported where they are used, not here: importing the
# keyring reads its backends' entry points (about a tenth of a second and 6 MiB), the cipher
# loads OpenSSL's bindings, and the app's first frame only asks whether a seed file exists
# (issue #14).


def keyring_available() -> bool:
    """Whether the system keyring is one that actually stores secrets."""
    import keyring.backends.chainer
    import keyring.backends.fail
    import keyring.backends.null

    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        return False
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        return bool(backend.backends)
    return True


def seed_path(wallet_dir: Path | str) -> Path:
    return Path(wallet_dir) / SEED_FILE_NAME


def seed_exists(wallet_dir: Path | str) -> bool:
    """Whether anything is where the seed file goes: a damaged one still means a wallet is there.

    A folder that cannot be read raises (PermissionError): it is not "no wallet".
    """
    try:
        os.lstat(seed_path(wallet_dir))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def _damaged(path: Path, what: str) -> SeedFileError:
    return SeedFileError(f"the seed file {path} {what}; {RESTORE_ADVICE}")


def _read_document(wallet_dir: Path | str) -> dict[str, Any]:
    path = seed_path(wallet_dir)
    try:
        raw = path.read_bytes()
        # The words are in it (in plain text without a keyring): for this user only.
        keep_private(path)
        keep_private(path.parent, 0o700)
    except FileNotFoundError:
        raise SeedFileError(f"no seed file in {Path(wallet_dir)}") from None
    except IsADirectoryError:
        raise _damaged(path, "is a folder, not a file") from None
    except OSError as exc:
        raise SeedFileError(
            f"the seed file {path} cannot be read ({exc.strerror}); give your user access to "
            f"it, or {RESTORE_ADVICE}"
        ) from None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise _damaged(path, "is damaged (not a Cairn seed file)") from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise _damaged(path, "has an unknown format")
    if document.get("protection") not in ("keyring", "plain"):
        raise _damaged(path, "has an unknown protection")
    return document


def _secret_json(phrase: str, passphrase: str) -> bytes:
    return json.dumps({"phrase": phrase, "passphrase": passphrase}).encode("utf-8")


def _store_key_in_keyring(key: bytes) -> str | None:
    """A new keyring id holding `key`, or None when the keyring refuses it."""
    import keyring.errors

    keyring_id = secrets.token_hex(16)
    try:
        keyring.set_password(KEYRING_SERVICE, keyring_id, base64.b64encode(key).decode("ascii"))
    except keyring.errors.KeyringError:
        return None
    return keyring_id


def _forget_keyring_entry(keyring_id: str) -> None:
    import keyring.errors

    with contextlib.suppress(keyring.errors.KeyringError):
        keyring.delete_password(KEYRING_SERVICE, keyring_id)


def save_seed(
    wallet_dir: Path | str, phrase: str, passphrase: str = "", *, use_keyring: bool = True
) -> SeedProtection:
    """Write the seed file (replacing any previous one) and say how it is protected.

    The phrase is validated and stored normalised. `use_keyring=False` forces a plain file.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # see keyring_available

    phrase = validate_mnemonic(phrase)
    previous_id = _previous_keyring_id(wallet_dir)
    document: dict[str, Any] = {"format": FILE_FORMAT, "protection": "plain"}
    key = AESGCM.generate_key(bit_length=256)
    keyring_id = _store_key_in_keyring(key) if use_keyring and keyring_available() else None
    if keyring_id is not None:
        nonce = secrets.token_bytes(12)
        aad = AAD_PREFIX + keyring_id.encode("ascii")
        ciphertext = AESGCM(key).encrypt(nonce, _secret_json(phrase, passphrase), aad)
        document.update(
            protection="keyring",
            keyring_id=keyring_id,
            nonce=base64.b64encode(nonce).decode("ascii"),
            ciphertext=base64.b64encode(ciphertext).decode("ascii"),
        )
    else:
        document.update(phrase=phrase, passphrase=passphrase)
    try:
        write_file_atomically(seed_path(wallet_dir), json.dumps(document).encode("utf-8"))
    except BaseException:
        if keyring_id is not None:
            _forget_keyring_entry(keyring_id)
        raise
    if previous_id is not None and previous_id != keyring_id:
        _forget_keyring_entry(previous_id)
    protection: SeedProtection = document["protection"]
    return protection


def _previous_keyring_id(wallet_dir: Path | str) -> str | None:
    if not seed_exists(wallet_dir):
        return None
    try:
        document = _read_document(wallet_dir)
    except SeedFileError:
        return None
    keyring_id = document.get("keyring_id")
    return keyring_id if isinstance(keyring_id, str) else None


def seed_protection(wallet_dir: Path | str) -> SeedProtection:
    """ "keyring" when the seed file is encrypted under a keyring key, "plain" otherwise."""
    protection: SeedProtection = _read_document(wallet_dir)["protection"]
    return protection


def _secret_fields(secret: object) -> tuple[str, str]:
    if not isinstance(secret, dict):
        raise ValueError("the secret is not an object")
    phrase, passphrase = secret.get("phrase"), secret.get("passphrase")
    if not isinstance(phrase, str) or not isinstance(passphrase, str):
        raise ValueError("phrase and passphrase must be strings")
    return phrase, passphrase


def load_seed(wallet_dir: Path | str) -> tuple[str, str]:
    """(phrase, passphrase) from the seed file; SeedFileError if it cannot be read.

    The phrase is checked as BIP39 here, so damaged words are a damaged file, not a crash
    further on (the message never says which word).
    """
    phrase, passphrase = _read_secret(wallet_dir)
    try:
        return validate_mnemonic(phrase), passphrase
    except InvalidMnemonic:
        raise _damaged(
            seed_path(wallet_dir), "is damaged: its words do not form a valid recovery phrase"
        ) from None


def _read_secret(wallet_dir: Path | str) -> tuple[str, str]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = seed_path(wallet_dir)
    document = _read_document(wallet_dir)
    try:
        if document["protection"] == "plain":
            return _secret_fields(document)
        keyring_id = document["keyring_id"]
        nonce = base64.b64decode(document["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise _damaged(path, "is damaged") from None
    if not isinstance(keyring_id, str) or not keyring_id.isascii():
        raise _damaged(path, "is damaged")
    key = _key_from_keyring(keyring_id)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, AAD_PREFIX + keyring_id.encode("ascii"))
        return _secret_fields(json.loads(plaintext))
    except (InvalidTag, ValueError, UnicodeError, RecursionError):
        raise _damaged(
            path,
            "does not open with the key in the system keyring (it is damaged, or the keyring "
            "entry belongs to another file)",
        ) from None


def _key_from_keyring(keyring_id: str) -> bytes:
    import keyring.errors

    if not keyring_available():
        raise SeedKeyUnavailable(
            "the seed file is encrypted with a key kept in the system keyring, and no keyring "
            "is available; unlock or start the keyring, or restore from the recovery phrase"
        )
    try:
        encoded = keyring.get_password(KEYRING_SERVICE, keyring_id)
    except keyring.errors.KeyringError as exc:
        raise SeedKeyUnavailable(f"the system keyring refused access: {exc}") from None
    if encoded is None:
        raise SeedKeyUnavailable(
            "the key of the seed file is missing from the system keyring; restore the wallet "
            "from its recovery phrase"
        )
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SeedKeyUnavailable("the keyring entry of the seed file is damaged") from None
    if len(key) != 32:
        raise SeedKeyUnavailable("the keyring entry of the seed file is damaged")
    return key


def delete_seed(wallet_dir: Path | str) -> None:
    """Remove the seed file and its keyring entry (no error if there is none)."""
    keyring_id = _previous_keyring_id(wallet_dir)
    with contextlib.suppress(FileNotFoundError):
        seed_path(wallet_dir).unlink()
    if keyring_id is not None:
        _forget_keyring_entry(keyring_id)
