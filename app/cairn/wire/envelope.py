"""The envelope: how one record value is encrypted before it leaves the machine.

    blob      = b"CRN" || 0x02 || nonce(12) || AES-256-GCM-SIV(data_key, nonce, plaintext, aad)
    plaintext = flags(1) || payload            flags bit 0: payload is zstd-compressed
    aad       = b"CRN\\x02" || u16be(len(store_id)) || store_id
                || u16be(len(object_key)) || object_key || u64be(version)
                || write_id(16) || incarnation(16)

The AAD binds a blob to its store, object key, version, the write that made it and the store's
incarnation, so the server cannot move it elsewhere, present it as another write, or carry it
over into a later incarnation of the store unnoticed. Format 0x01 (protocol v1, without the
write id and incarnation) is still opened for objects a v1 client wrote before the server's
upgrade; nothing writes it any more. Pure functions; every failure to open a blob is one
DecryptionError.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

__all__ = [
    "FLAG_ZSTD",
    "HEADER",
    "MAX_PLAINTEXT",
    "NONCE_SIZE",
    "OVERHEAD",
    "DecryptionError",
    "Sealer",
    "StoreUnsealer",
    "Unsealer",
    "associated_data",
    "seal",
    "unseal",
]

MAGIC = b"CRN"
FORMAT_VERSION = 2
LEGACY_FORMAT = 1
HEADER = MAGIC + bytes([FORMAT_VERSION])
LEGACY_HEADER = MAGIC + bytes([LEGACY_FORMAT])
WRITE_ID_SIZE = 16
INCARNATION_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
FLAGS_SIZE = 1
FLAG_ZSTD = 0x01
KNOWN_FLAGS = FLAG_ZSTD
# Header, nonce, flags byte and tag: the size of a sealed empty payload.
OVERHEAD = len(HEADER) + NONCE_SIZE + FLAGS_SIZE + TAG_SIZE
# Payloads this small rarely shrink; compressing them only costs time.
COMPRESS_THRESHOLD = 64
# No record is larger than this; a blob claiming more after decompression is hostile.
MAX_PLAINTEXT = 8 * 1024 * 1024
ZSTD_LEVEL = 3
# Small enough that one slice cannot expand far past MAX_PLAINTEXT (zstd's best ratio is
# about 1:32k), large enough that an 8 MiB payload takes few calls.
_DECOMPRESS_SLICE = 1024
MAX_VERSION = 2**64 - 1
_CIPHERTEXT_START = len(HEADER) + NONCE_SIZE


class DecryptionError(Exception):
    """A blob that cannot be opened: damaged, forged, moved, or sealed with another key."""


def associated_data(
    store_id: str,
    object_key: str,
    version: int,
    write_id: bytes | None = None,
    incarnation: bytes | None = None,
) -> bytes:
    """The AAD that binds a blob to (store, key, version, write id, incarnation).

    Without a write id and incarnation it is the legacy (format 0x01) AAD.
    """
    if (write_id is None) != (incarnation is None):
        raise ValueError("a write id and an incarnation go together")
    if write_id is not None and incarnation is not None:
        if len(write_id) != WRITE_ID_SIZE or len(incarnation) != INCARNATION_SIZE:
            raise ValueError("the write id and the incarnation are 16 bytes each")
        return _legacy_or_v2_aad(HEADER, store_id, object_key, version) + write_id + incarnation
    return _legacy_or_v2_aad(LEGACY_HEADER, store_id, object_key, version)


def _legacy_or_v2_aad(header: bytes, store_id: str, object_key: str, version: int) -> bytes:
    store = store_id.encode("utf-8")
    key = object_key.encode("ascii")
    if len(store) > 0xFFFF or len(key) > 0xFFFF:
        raise ValueError("store id and object key must each fit in 65535 bytes")
    if not 0 <= version <= MAX_VERSION:
        raise ValueError("version must fit in an unsigned 64-bit integer")
    return (
        header
        + struct.pack(">H", len(store))
        + store
        + struct.pack(">H", len(key))
        + key
        + struct.pack(">Q", version)
    )


def _check_key(data_key: bytes) -> None:
    if len(data_key) != 32:
        raise ValueError("the data key is 32 bytes (AES-256)")


def seal(
    data_key: bytes,
    store_id: str,
    object_key: str,
    version: int,
    payload: bytes,
    *,
    write_id: bytes,
    incarnation: bytes,
    compress: bool | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """Encrypt `payload` for (store_id, object_key, version, write_id, incarnation).

    `compress=None` compresses when the payload has at least 64 bytes and shrinks.
    `nonce` is for test vectors only: GCM-SIV tolerates a repeated nonce, but a random one
    keeps equal payloads from giving equal blobs.
    """
    return Sealer(data_key).seal(
        store_id,
        object_key,
        version,
        payload,
        write_id=write_id,
        incarnation=incarnation,
        compress=compress,
        nonce=nonce,
    )


class Sealer:
    """Seals many payloads under one data key: the cipher and the compressor are built once.

    Building them for every record cost as much as sealing a 2 kB payload. A Sealer is for one
    thread at a time (the compressor keeps state between calls).
    """

    __slots__ = ("_cipher", "_compressor")

    def __init__(self, data_key: bytes) -> None:
        _check_key(data_key)
        self._cipher = AESGCMSIV(data_key)
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)

    def seal(
        self,
        store_id: str,
        object_key: str,
        version: int,
        payload: bytes,
        *,
        write_id: bytes,
        incarnation: bytes,
        compress: bool | None = None,
        nonce: bytes | None = None,
    ) -> bytes:
        """As `seal`, under this Sealer's data key."""
        if len(payload) > MAX_PLAINTEXT:
            raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PLAINTEXT}")
        if nonce is None:
            nonce = os.urandom(NONCE_SIZE)
        elif len(nonce) != NONCE_SIZE:
            raise ValueError(f"the nonce is {NONCE_SIZE} bytes")
        flags, body = 0, payload
        if compress or (compress is None and len(payload) >= COMPRESS_THRESHOLD):
            packed = self._compressor.compress(payload)
            if compress or len(packed) < len(payload):
                flags, body = FLAG_ZSTD, packed
        aad = associated_data(store_id, object_key, version, write_id, incarnation)
        return HEADER + nonce + self._cipher.encrypt(nonce, bytes([flags]) + body, aad)


class SealerPool:
    """Sealers under one data key, kept for reuse: building one costs as much as sealing a
    small batch, and a backup seals a batch for every change. A thread borrows one at a time,
    so threads never share one (list.pop and append are atomic)."""

    __slots__ = ("_data_key", "_idle")

    def __init__(self, data_key: bytes) -> None:
        _check_key(data_key)
        self._data_key = data_key
        self._idle: list[Sealer] = []

    @contextlib.contextmanager
    def borrowed(self) -> Iterator[Sealer]:
        try:
            sealer = self._idle.pop()
        except IndexError:
            sealer = Sealer(self._data_key)
        try:
            yield sealer
        finally:
            self._idle.append(sealer)


def unseal(
    data_key: bytes,
    store_id: str,
    object_key: str,
    version: int,
    blob: bytes,
    *,
    write_id: bytes | None = None,
    incarnation: bytes | None = None,
) -> bytes:
    """The payload of a blob sealed for exactly this binding, or DecryptionError.

    A blob without a write id (an object a v1 client wrote) must be in the legacy format; a
    blob with one must be in the current format: neither can pass for the other.
    """
    return Unsealer(data_key).unseal(
        store_id, object_key, version, blob, write_id=write_id, incarnation=incarnation
    )


class Unsealer:
    """Opens many blobs under one data key: the cipher's key schedule is set up once.

    A restore opens tens of thousands of objects; building the cipher for each one cost about
    as much as decrypting it. Every check of `unseal` applies to every blob.
    """

    __slots__ = ("_cipher", "_stores")

    def __init__(self, data_key: bytes) -> None:
        _check_key(data_key)
        self._cipher = AESGCMSIV(data_key)
        # The part of the current format's AAD that is the same for every object of a store.
        self._stores: dict[str, bytes] = {}

    def unseal(
        self,
        store_id: str,
        object_key: str,
        version: int,
        blob: bytes,
        *,
        write_id: bytes | None = None,
        incarnation: bytes | None = None,
    ) -> bytes:
        """The payload of a blob sealed for exactly this binding, or DecryptionError."""
        if len(blob) < OVERHEAD:
            raise DecryptionError("blob is truncated")
        if blob[: len(MAGIC)] != MAGIC:
            raise DecryptionError("not a Cairn envelope")
        expected = LEGACY_FORMAT if write_id is None else FORMAT_VERSION
        if blob[len(MAGIC)] != expected:
            raise DecryptionError(f"unexpected envelope format version {blob[len(MAGIC)]}")
        try:
            aad = self._associated_data(store_id, object_key, version, write_id, incarnation)
        except (ValueError, UnicodeEncodeError, struct.error) as exc:
            raise DecryptionError("no blob can belong to this store, key and version") from exc
        # A view, so the nonce and the ciphertext are not copied out of the blob first.
        view = memoryview(blob)
        try:
            plaintext = self._cipher.decrypt(
                view[len(HEADER) : _CIPHERTEXT_START], view[_CIPHERTEXT_START:], aad
            )
        except InvalidTag:
            raise DecryptionError(
                "authentication failed: wrong key, damaged blob, or blob moved to another "
                "store, key or version"
            ) from None
        flags = plaintext[0]
        if flags & ~KNOWN_FLAGS:
            raise DecryptionError(f"unknown flags 0x{flags:02x}")
        if not flags & FLAG_ZSTD:
            return plaintext[FLAGS_SIZE:]
        return _decompress(plaintext[FLAGS_SIZE:])

    def _associated_data(
        self,
        store_id: str,
        object_key: str,
        version: int,
        write_id: bytes | None,
        incarnation: bytes | None,
    ) -> bytes:
        """`associated_data`, with the store's part of it built once per store."""
        if write_id is None or incarnation is None:
            return associated_data(store_id, object_key, version, write_id, incarnation)
        if len(write_id) != WRITE_ID_SIZE or len(incarnation) != INCARNATION_SIZE:
            raise ValueError("the write id and the incarnation are 16 bytes each")
        head = self._stores.get(store_id)
        if head is None:
            head = _legacy_or_v2_aad(HEADER, store_id, "", 0)[: -len(_KEY_AND_VERSION_EMPTY)]
            self._stores[store_id] = head
        key = object_key.encode("ascii")
        if len(key) > 0xFFFF:
            raise ValueError("store id and object key must each fit in 65535 bytes")
        # struct refuses a version outside u64, as associated_data does.
        return b"".join((head, _U16.pack(len(key)), key, _U64.pack(version), write_id, incarnation))


class StoreUnsealer:
    """Opens many blobs of one store and incarnation, for a restore: `unseal` per blob.

    A blob of the current format under a 64-character key (every object key) is opened here
    with the AAD's fixed part built once; anything else, and every blob that fails a check,
    goes through `Unsealer.unseal`, so each check and error is that of `unseal` exactly.
    """

    __slots__ = ("_decrypt", "_head", "_incarnation", "_store_id", "_unsealer")

    def __init__(self, data_key: bytes, store_id: str, incarnation: bytes | None) -> None:
        self._unsealer = Unsealer(data_key)
        self._decrypt = self._unsealer._cipher.decrypt
        self._store_id = store_id
        self._incarnation = incarnation
        # The AAD up to the object key, for keys of 64 characters.
        head = _legacy_or_v2_aad(HEADER, store_id, "", 0)[: -len(_KEY_AND_VERSION_EMPTY)]
        self._head = head + _U16.pack(_OBJECT_KEY_SIZE)

    def unseal(self, object_key: str, version: int, blob: bytes, write_id: bytes | None) -> bytes:
        """As `unseal` for (this store, `object_key`, `version`, `write_id`, this incarnation);
        a blob without a write id must be of the legacy format."""
        incarnation = self._incarnation
        if (
            write_id is not None
            and incarnation is not None
            and len(write_id) == WRITE_ID_SIZE
            and len(object_key) == _OBJECT_KEY_SIZE
            and object_key.isascii()
            and 0 <= version <= MAX_VERSION
            and len(blob) >= OVERHEAD
            and blob.startswith(HEADER)
        ):
            aad = b"".join(
                (self._head, object_key.encode("ascii"), _U64.pack(version), write_id, incarnation)
            )
            try:
                plaintext = self._decrypt(
                    blob[len(HEADER) : _CIPHERTEXT_START], blob[_CIPHERTEXT_START:], aad
                )
            except InvalidTag:
                pass  # the general path gives the error
            else:
                flags = plaintext[0]
                if not flags:
                    return plaintext[FLAGS_SIZE:]
                if not flags & ~KNOWN_FLAGS:
                    return _decompress(plaintext[FLAGS_SIZE:])
        return self._unsealer.unseal(
            self._store_id,
            object_key,
            version,
            blob,
            write_id=write_id,
            incarnation=None if write_id is None else incarnation,
        )


_OBJECT_KEY_SIZE = 64  # hex of 32 bytes
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_KEY_AND_VERSION_EMPTY = _U16.pack(0) + _U64.pack(0)  # the tail of an AAD for key "" version 0


def _decompress(body: bytes) -> bytes:
    """One complete zstd frame, refusing output beyond MAX_PLAINTEXT (a decompression bomb).

    zstandard's one-shot decompress trusts a declared content size over max_output_size, so
    the frame is fed in small slices and the output counted as it grows.
    """
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    chunks: list[bytes] = []
    produced = fed = 0
    try:
        while fed < len(body) and not decompressor.eof:
            chunk = decompressor.decompress(body[fed : fed + _DECOMPRESS_SLICE])
            fed += _DECOMPRESS_SLICE
            produced += len(chunk)
            if produced > MAX_PLAINTEXT:
                raise DecryptionError("payload is larger than any record")
            chunks.append(chunk)
    except zstandard.ZstdError as exc:
        raise DecryptionError(f"compressed payload is damaged: {exc}") from None
    if not decompressor.eof or decompressor.unused_data or fed < len(body):
        raise DecryptionError("compressed payload is not exactly one complete frame")
    return b"".join(chunks)
