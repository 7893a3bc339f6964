"""Everything Cairn derives from the BIP39 seed: wallet descriptors and the backup keys.

Pure functions, no I/O. BIP32 derivation is bdkpython's; the backup keys are the private keys
of m/22476'/0' (request signing) and m/22476'/1' (encryption root).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import hmac
import secrets
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from cairn.ripemd160 import ripemd160
from cairn.usererrors import UserError, undecodable

if TYPE_CHECKING:
    import bdkpython as bdk
    from mnemonic import Mnemonic

__all__ = [
    "BACKUP_ENCRYPTION_PATH",
    "BACKUP_IDENTITY_PATH",
    "BackupKeys",
    "InvalidMnemonic",
    "Network",
    "bip84_descriptors",
    "derive_backup_keys",
    "derive_private_key",
    "generate_mnemonic",
    "master_xprv",
    "mnemonic_to_seed",
    "validate_mnemonic",
]

# 22476 spells CAIRN on a phone keypad.
BACKUP_PURPOSE = 22476
BACKUP_IDENTITY_PATH = "m/22476'/0'"
BACKUP_ENCRYPTION_PATH = "m/22476'/1'"
HKDF_SALT = b"cairn-backup/v1"
DATA_KEY_INFO = b"data-key"
KEY_NAME_KEY_INFO = b"key-name-key"

# The order of the secp256k1 group.
CURVE_ORDER = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141

BIP39_WORD_COUNTS = (12, 15, 18, 21, 24)
GENERATE_WORD_COUNTS = {12: 128, 24: 256}

# The BIP39, secp256k1 and HKDF libraries are imported where they are used: this module's
# `Network` is read by every start, including the main window's first frame, which needs none
# of them (together about 30 ms and 9 MiB; issue #14).


@functools.cache
def _wordlist() -> Mnemonic:
    from mnemonic import Mnemonic

    return Mnemonic("english")


class Network(StrEnum):
    """The Bitcoin networks Cairn knows; the value is also the backup store id."""

    BITCOIN = "bitcoin"
    TESTNET = "testnet"
    SIGNET = "signet"
    REGTEST = "regtest"

    @property
    def coin_type(self) -> int:
        """BIP44 coin type: 0 on mainnet, 1 on every test network."""
        return 0 if self is Network.BITCOIN else 1

    @property
    def is_mainnet(self) -> bool:
        return self is Network.BITCOIN


class InvalidMnemonic(ValueError, UserError):
    """A recovery phrase that is not a valid BIP39 English mnemonic.

    `unknown_word` and `position` (1-based) name the first word not in the list and
    `suggestions` its closest valid words; `checksum_failed` is set when every word is
    valid but the phrase does not check out.
    """

    def __init__(
        self,
        message: str,
        *,
        unknown_word: str | None = None,
        position: int | None = None,
        suggestions: Sequence[str] = (),
        checksum_failed: bool = False,
    ) -> None:
        super().__init__(message)
        self.unknown_word = unknown_word
        self.position = position
        self.suggestions: tuple[str, ...] = tuple(suggestions)
        self.checksum_failed = checksum_failed

    @property
    def message_without_words(self) -> str:
        """What is wrong, quoting no word: for a terminal or log someone else may read."""
        if self.position is not None:
            return f"word {self.position} is not in the BIP39 English word list"
        return str(self)


@dataclass(frozen=True, repr=False)
class BackupKeys:
    """The keys of the backup protocol, all derived from the seed."""

    signing_key: bytes  # 32-byte secp256k1 private key of m/22476'/0'
    node_id: str  # its compressed public key, 66 lower-case hex chars
    data_key: bytes  # AES-256-GCM-SIV key for envelopes
    key_name_key: bytes  # HMAC-SHA256 key turning record names into wire keys

    def __repr__(self) -> str:
        # Never let the secret halves reach a log through a repr.
        return f"BackupKeys(node_id={self.node_id!r})"


# --- BIP39 -------------------------------------------------------------------------------


def generate_mnemonic(words: int = 12) -> str:
    """A fresh random English BIP39 phrase of 12 or 24 words."""
    if words not in GENERATE_WORD_COUNTS:
        raise ValueError(f"a new phrase has 12 or 24 words, not {words}")
    return _wordlist().to_mnemonic(secrets.token_bytes(GENERATE_WORD_COUNTS[words] // 8))


def normalize_phrase(phrase: str) -> str:
    """NFKD, lower case, single spaces: the form BIP39 hashes.

    Invisible format characters (a byte-order mark an editor put first, a zero-width space a
    web page copied along) go too: no word of the list has one.
    """
    visible = "".join(ch for ch in phrase if unicodedata.category(ch) != "Cf")
    return " ".join(unicodedata.normalize("NFKD", visible).lower().split())


def phrase_and_passphrase(text: str) -> tuple[str, str, bool]:
    """The phrase and BIP39 passphrase of a words file or piped input, and whether a passphrase
    line was given.

    The words on the first line and, optionally, the passphrase alone on the second, kept
    exactly as typed; or the words alone over several lines (one a line, as many write them
    down). Blank lines count for nothing. InvalidMnemonic says what is wrong.
    """
    _refuse_undecodable(text)
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if not lines:
        raise InvalidMnemonic("no recovery words were given")
    if len(normalize_phrase(lines[0]).split()) not in BIP39_WORD_COUNTS and len(lines) > 1:
        return validate_mnemonic(" ".join(lines)), "", False
    if len(lines) > 2:
        raise InvalidMnemonic(
            f"the words go on the first line and a passphrase, if any, on the second; "
            f"there are {len(lines)} lines"
        )
    return validate_mnemonic(lines[0]), (lines[1] if len(lines) == 2 else ""), len(lines) == 2


def _refuse_undecodable(text: str) -> None:
    if undecodable(text):
        raise InvalidMnemonic(
            "the recovery words are not UTF-8 text (a file in another encoding, or not a "
            "text file): save them as UTF-8 and try again"
        )


def closest_words(word: str, limit: int = 3) -> list[str]:
    """The valid words a mistyped `word` most likely meant, best first."""
    wordlist: list[str] = _wordlist().wordlist
    # Words are unique in their first four letters, so a typed prefix is a strong hint.
    found = [w for w in wordlist if w.startswith(word)] if word else []
    if not found and len(word) >= 4:
        found = [w for w in wordlist if w.startswith(word[:4])]
    if not found:
        # A valid word with letters typed past its end ("zoology" for "zoo").
        found = [w for w in wordlist if len(w) >= 3 and word.startswith(w)]
    for match in difflib.get_close_matches(word, wordlist, n=limit, cutoff=0.6):
        if match not in found:
            found.append(match)
    return found[:limit]


def validate_mnemonic(phrase: str) -> str:
    """The normalised phrase, or InvalidMnemonic saying what is wrong with it."""
    _refuse_undecodable(phrase)
    normalized = normalize_phrase(phrase)
    words = normalized.split(" ") if normalized else []
    known = set(_wordlist().wordlist)
    for position, word in enumerate(words, start=1):
        if word not in known:
            suggestions = closest_words(word)
            hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
            raise InvalidMnemonic(
                f'word {position}, "{word}", is not in the BIP39 English word list{hint}',
                unknown_word=word,
                position=position,
                suggestions=suggestions,
            )
    if len(words) not in BIP39_WORD_COUNTS:
        raise InvalidMnemonic(
            f"a recovery phrase has 12 or 24 words (BIP39 also allows 15, 18, 21); "
            f"this one has {len(words)}"
        )
    if not _wordlist().check(normalized):
        raise InvalidMnemonic(
            "every word is valid but the checksum fails: a word is wrong or out of order",
            checksum_failed=True,
        )
    return normalized


def mnemonic_to_seed(phrase: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP39 seed of a valid phrase and an optional passphrase."""
    return _wordlist().to_seed(validate_mnemonic(phrase), passphrase)


# --- BIP32 (bdkpython) ---------------------------------------------------------------------
#
# bdkpython derives every child key, descriptor and checksum. It builds an extended key only from
# a mnemonic (which would stretch the words with PBKDF2 once more: Cairn stretches them once, in
# mnemonic_to_seed) or from an xprv string; so BIP32's first step, the master key of a seed (one
# HMAC and its serialization), is written here and handed to bdkpython as that string.
# bdkpython is imported only when a key is derived: the devnet and the CLI's start-up do not
# pay for loading it.


_XPRV_VERSION = {True: 0x0488ADE4, False: 0x04358394}  # is_mainnet → xprv / tprv


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256 (the devnet's P2WPKH program)."""
    digest = hashlib.sha256(data).digest()
    try:
        return hashlib.new("ripemd160", digest).digest()
    except ValueError:  # OpenSSL 3 builds without the legacy provider
        return ripemd160(digest)


_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58check(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58_ALPHABET[rem] + out
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + out


def master_xprv(seed: bytes, network: Network = Network.BITCOIN) -> str:
    """The BIP32 master key of a seed (16 to 64 bytes), as xprv (mainnet) or tprv."""
    if not 16 <= len(seed) <= 64:
        raise ValueError("a BIP32 seed has 16 to 64 bytes")
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key, chain_code = digest[:32], digest[32:]
    if not 0 < int.from_bytes(key, "big") < CURVE_ORDER:
        raise ValueError("this seed gives an invalid master key; use another seed")
    version = _XPRV_VERSION[network.is_mainnet]
    # version, depth 0, parent fingerprint 0, child number 0, chain code, 0x00 ‖ key
    return base58check(struct.pack(">LB4sL", version, 0, b"", 0) + chain_code + b"\0" + key)


def _secret_key(seed: bytes, network: Network = Network.BITCOIN) -> bdk.DescriptorSecretKey:
    import bdkpython as bdk

    return bdk.DescriptorSecretKey.from_string(master_xprv(seed, network))


def derive_private_key(seed: bytes, path: str) -> bytes:
    """The 32-byte private key of the BIP32 node `path` (`m/22476'/0'`) of a seed."""
    import bdkpython as bdk

    try:
        derivation = bdk.DerivationPath(path)
    except bdk.Bip32Error as exc:
        raise ValueError(f"not a derivation path: {path!r}") from exc
    return bytes(_secret_key(seed).derive(derivation).secret_bytes())


# --- Wallet descriptors ------------------------------------------------------------------


def bip84_descriptors(seed: bytes, network: Network) -> tuple[str, str]:
    """BDK private descriptors (external, internal) of BIP84 account 0, with checksums.

    bdkpython's own `Descriptor.new_bip84`: `wpkh(xprv.../84'/0'/0'/0/*)#...` on mainnet,
    tprv and coin type 1 elsewhere.
    """
    import bdkpython as bdk

    kind = bdk.NetworkKind.MAIN if network.is_mainnet else bdk.NetworkKind.TEST
    secret = _secret_key(seed, network)
    external, internal = (
        bdk.Descriptor.new_bip84(secret, keychain, kind).to_string_with_secret()
        for keychain in (bdk.KeychainKind.EXTERNAL, bdk.KeychainKind.INTERNAL)
    )
    return external, internal


# --- Backup keys -------------------------------------------------------------------------


def _hkdf(root: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=info).derive(root)


def derive_backup_keys(seed: bytes) -> BackupKeys:
    """The backup identity (m/22476'/0') and the two keys derived from m/22476'/1'."""
    signing_key = derive_private_key(seed, BACKUP_IDENTITY_PATH)
    root = derive_private_key(seed, BACKUP_ENCRYPTION_PATH)
    return BackupKeys(
        signing_key=signing_key,
        node_id=node_id_of(signing_key),
        data_key=_hkdf(root, DATA_KEY_INFO),
        key_name_key=_hkdf(root, KEY_NAME_KEY_INFO),
    )


def node_id_of(signing_key: bytes) -> str:
    """The node id (compressed public key, hex) of a signing key."""
    from coincurve import PublicKey

    return PublicKey.from_secret(signing_key).format(compressed=True).hex()
