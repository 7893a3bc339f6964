"""Everything Cairn derives from the BIP39 seed: wallet descriptors and the backup keys.

Pure functions, no I/O. BIP32 is implemented here on top of coincurve and hmac because
bdkpython does not expose raw private keys, and the backup keys need the private keys of
m/22476'/0' (request signing) and m/22476'/1' (encryption root).
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import secrets
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from mnemonic import Mnemonic

from cairn.ripemd160 import ripemd160

__all__ = [
    "BACKUP_ENCRYPTION_PATH",
    "BACKUP_IDENTITY_PATH",
    "BackupKeys",
    "ExtendedKey",
    "InvalidMnemonic",
    "Network",
    "bip84_account_xpub",
    "bip84_account_zpub",
    "bip84_descriptors",
    "derive_backup_keys",
    "generate_mnemonic",
    "master_key",
    "mnemonic_to_seed",
    "parse_path",
    "validate_mnemonic",
]

HARDENED = 0x8000_0000
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

_WORDLIST = Mnemonic("english")


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


class InvalidMnemonic(ValueError):
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
    return _WORDLIST.to_mnemonic(secrets.token_bytes(GENERATE_WORD_COUNTS[words] // 8))


def normalize_phrase(phrase: str) -> str:
    """NFKD, lower case, single spaces: the form BIP39 hashes."""
    return " ".join(unicodedata.normalize("NFKD", phrase).lower().split())


def closest_words(word: str, limit: int = 3) -> list[str]:
    """The valid words a mistyped `word` most likely meant, best first."""
    wordlist: list[str] = _WORDLIST.wordlist
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
    normalized = normalize_phrase(phrase)
    words = normalized.split(" ") if normalized else []
    known = set(_WORDLIST.wordlist)
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
    if not _WORDLIST.check(normalized):
        raise InvalidMnemonic(
            "every word is valid but the checksum fails: a word is wrong or out of order",
            checksum_failed=True,
        )
    return normalized


def mnemonic_to_seed(phrase: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP39 seed of a valid phrase and an optional passphrase."""
    return Mnemonic.to_seed(validate_mnemonic(phrase), passphrase)


# --- BIP32 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Versions:
    xprv: int
    xpub: int
    zpub: int  # SLIP-132 version for native segwit account keys (zpub / vpub)


_MAINNET = _Versions(xprv=0x0488ADE4, xpub=0x0488B21E, zpub=0x04B24746)
_TESTNET = _Versions(xprv=0x04358394, xpub=0x043587CF, zpub=0x045F1CF6)


def _versions(network: Network) -> _Versions:
    return _MAINNET if network.is_mainnet else _TESTNET


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of SHA-256: the hash of BIP32 key fingerprints."""
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


def parse_path(path: str) -> list[int]:
    """`m/84'/0'/0'` (or with h for hardened) as a list of child indexes."""
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise ValueError(f"a derivation path starts with m: {path!r}")
    indexes: list[int] = []
    for part in parts[1:]:
        hardened = part.endswith(("'", "h", "H"))
        digits = part[:-1] if hardened else part
        if not digits.isdigit() or int(digits) >= HARDENED:
            raise ValueError(f"bad path element {part!r} in {path!r}")
        indexes.append(int(digits) + (HARDENED if hardened else 0))
    return indexes


@dataclass(frozen=True, repr=False)
class ExtendedKey:
    """A BIP32 extended private key."""

    private_key: bytes
    chain_code: bytes
    depth: int = 0
    parent_fingerprint: bytes = b"\0\0\0\0"
    child_number: int = 0

    def __repr__(self) -> str:
        return f"ExtendedKey(depth={self.depth}, child_number={self.child_number})"

    @property
    def public_key(self) -> bytes:
        """The compressed (33-byte) secp256k1 public key."""
        return PrivateKey(self.private_key).public_key.format(compressed=True)

    @property
    def fingerprint(self) -> bytes:
        return hash160(self.public_key)[:4]

    def child(self, index: int) -> ExtendedKey:
        """CKDpriv of BIP32."""
        if index >= HARDENED:
            data = b"\0" + self.private_key + struct.pack(">L", index)
        else:
            data = self.public_key + struct.pack(">L", index)
        digest = hmac.new(self.chain_code, data, hashlib.sha512).digest()
        tweak, chain_code = digest[:32], digest[32:]
        tweak_int = int.from_bytes(tweak, "big")
        child_int = (tweak_int + int.from_bytes(self.private_key, "big")) % CURVE_ORDER
        if tweak_int >= CURVE_ORDER or child_int == 0:
            # Probability below 2^-127; BIP32 says to skip to the next index.
            return self.child(index + 1)
        return ExtendedKey(
            private_key=child_int.to_bytes(32, "big"),
            chain_code=chain_code,
            depth=self.depth + 1,
            parent_fingerprint=self.fingerprint,
            child_number=index,
        )

    def derive(self, path: str | Sequence[int]) -> ExtendedKey:
        indexes = parse_path(path) if isinstance(path, str) else path
        key = self
        for index in indexes:
            key = key.child(index)
        return key

    def _serialize(self, version: int, key_data: bytes) -> str:
        return base58check(
            struct.pack(">L", version)
            + bytes([self.depth])
            + self.parent_fingerprint
            + struct.pack(">L", self.child_number)
            + self.chain_code
            + key_data
        )

    def xprv(self, network: Network = Network.BITCOIN) -> str:
        """The key as xprv (mainnet) or tprv (every test network)."""
        return self._serialize(_versions(network).xprv, b"\0" + self.private_key)

    def xpub(self, network: Network = Network.BITCOIN) -> str:
        """The public half as xpub (mainnet) or tpub."""
        return self._serialize(_versions(network).xpub, self.public_key)

    def zpub(self, network: Network = Network.BITCOIN) -> str:
        """The public half with the SLIP-132 native segwit version: zpub or vpub."""
        return self._serialize(_versions(network).zpub, self.public_key)


def master_key(seed: bytes) -> ExtendedKey:
    """The BIP32 master key of a seed (16 to 64 bytes)."""
    if not 16 <= len(seed) <= 64:
        raise ValueError("a BIP32 seed has 16 to 64 bytes")
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    key_int = int.from_bytes(digest[:32], "big")
    if key_int == 0 or key_int >= CURVE_ORDER:
        raise ValueError("this seed gives an invalid master key; use another seed")
    return ExtendedKey(private_key=digest[:32], chain_code=digest[32:])


# --- Wallet descriptors ------------------------------------------------------------------


def _bip84_account_path(network: Network) -> str:
    return f"m/84'/{network.coin_type}'/0'"


_DESCRIPTOR_INPUT_CHARSET = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_POLYMOD_GENERATORS = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)


def _descriptor_polymod(symbols: list[int]) -> int:
    checksum = 1
    for value in symbols:
        top = checksum >> 35
        checksum = ((checksum & 0x7_FFFF_FFFF) << 5) ^ value
        for bit, generator in enumerate(_POLYMOD_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def descriptor_checksum(descriptor: str) -> str:
    """The 8-character checksum of an output descriptor (BIP380)."""
    symbols: list[int] = []
    groups: list[int] = []
    for char in descriptor:
        position = _DESCRIPTOR_INPUT_CHARSET.find(char)
        if position < 0:
            raise ValueError(f"character {char!r} cannot appear in a descriptor")
        symbols.append(position & 31)
        groups.append(position >> 5)
        if len(groups) == 3:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        symbols.append(groups[0])
    elif len(groups) == 2:
        symbols.append(groups[0] * 3 + groups[1])
    checksum = _descriptor_polymod([*symbols, 0, 0, 0, 0, 0, 0, 0, 0]) ^ 1
    return "".join(_CHECKSUM_CHARSET[(checksum >> (5 * (7 - i))) & 31] for i in range(8))


def _with_checksum(descriptor: str) -> str:
    return f"{descriptor}#{descriptor_checksum(descriptor)}"


def bip84_descriptors(seed: bytes, network: Network) -> tuple[str, str]:
    """BDK private descriptors (external, internal) of BIP84 account 0, with checksums.

    The master key with the full path, the same string bdkpython's `Descriptor.new_bip84`
    gives: `wpkh(xprv.../84'/0'/0'/0/*)#...` on mainnet, tprv and coin type 1 elsewhere.
    """
    root = master_key(seed).xprv(network)
    account = f"84'/{network.coin_type}'/0'"
    return (
        _with_checksum(f"wpkh({root}/{account}/0/*)"),
        _with_checksum(f"wpkh({root}/{account}/1/*)"),
    )


def bip84_account_xpub(seed: bytes, network: Network) -> str:
    """The BIP84 account-0 public key as xpub / tpub."""
    return master_key(seed).derive(_bip84_account_path(network)).xpub(network)


def bip84_account_zpub(seed: bytes, network: Network) -> str:
    """The BIP84 account-0 public key as zpub / vpub (what other wallets show)."""
    return master_key(seed).derive(_bip84_account_path(network)).zpub(network)


# --- Backup keys -------------------------------------------------------------------------


def _hkdf(root: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=info).derive(root)


def derive_backup_keys(seed: bytes) -> BackupKeys:
    """The backup identity (m/22476'/0') and the two keys derived from m/22476'/1'."""
    master = master_key(seed)
    identity = master.derive(BACKUP_IDENTITY_PATH)
    root = master.derive(BACKUP_ENCRYPTION_PATH).private_key
    return BackupKeys(
        signing_key=identity.private_key,
        node_id=identity.public_key.hex(),
        data_key=_hkdf(root, DATA_KEY_INFO),
        key_name_key=_hkdf(root, KEY_NAME_KEY_INFO),
    )


def node_id_of(signing_key: bytes) -> str:
    """The node id (compressed public key, hex) of a signing key."""
    return PublicKey.from_secret(signing_key).format(compressed=True).hex()
