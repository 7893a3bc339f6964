"""What goes inside an envelope: a record (name, writer, value) or the store manifest.

A record's plaintext carries its own name, so a restore recovers names from the backup alone
and checks that each object sits under `wire_key(name)`. It also carries the id of the device
that wrote it: a version conflict against our own earlier write (a crash between the server's
answer and our bookkeeping, a rollback) is not a conflict between devices.

    record   = 0x01 || u16be(len(name)) || name utf-8 || writer(16) || value
    manifest = 0x02 || JSON {"objects": n, "digest": hex64, "written_at": unix s, "writer": hex}

The manifest is one more object, under `wire_key(MANIFEST_NAME)` (a name no record can have:
record names never contain NUL). It is rewritten in every batch, in the same atomic batch, and
holds a keyed set digest of every (object key, version) pair in the store:

    digest = sum over objects of HMAC-SHA256(manifest_key, key ascii || u64be(version)) mod 2^256

The sum is incremental (a batch subtracts the old pair and adds the new one), and the server
cannot compute its terms without the manifest key, so it cannot serve an older object, drop one
or add one without the restore noticing (see "Backup engine" in docs/PROTOCOL.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cairn.backup.protocol import wire_key

__all__ = [
    "MANIFEST_NAME",
    "WRITER_SIZE",
    "Manifest",
    "PayloadError",
    "Record",
    "decode_manifest",
    "decode_record",
    "digest_add",
    "digest_remove",
    "encode_manifest",
    "encode_record",
    "manifest_key",
    "manifest_wire_key",
    "set_term",
]

RECORD_FORMAT = 0x01
MANIFEST_FORMAT = 0x02
WRITER_SIZE = 16
MANIFEST_NAME = "\x00cairn/manifest"
_MOD = 1 << 256
_HKDF_SALT = b"cairn-backup/v1"
_MANIFEST_INFO = b"manifest-mac"


class PayloadError(ValueError):
    """A plaintext that is not a well-formed record or manifest."""


@dataclass(frozen=True)
class Record:
    """A decoded record payload."""

    name: str
    writer: bytes
    value: bytes


@dataclass(frozen=True)
class Manifest:
    """The store's table of contents: object count and set digest (excluding itself)."""

    objects: int
    digest: int
    written_at: int
    writer: bytes


def encode_record(name: str, writer: bytes, value: bytes) -> bytes:
    raw = name.encode("utf-8")
    if len(writer) != WRITER_SIZE:
        raise ValueError(f"the writer id is {WRITER_SIZE} bytes")
    return bytes([RECORD_FORMAT]) + struct.pack(">H", len(raw)) + raw + writer + value


def decode_record(payload: bytes) -> Record:
    if len(payload) < 3 or payload[0] != RECORD_FORMAT:
        raise PayloadError("not a record payload")
    (size,) = struct.unpack_from(">H", payload, 1)
    end = 3 + size
    if len(payload) < end + WRITER_SIZE:
        raise PayloadError("record payload is truncated")
    try:
        name = payload[3:end].decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("record name is not UTF-8") from None
    if not name or "\x00" in name:
        raise PayloadError("record name is empty or contains NUL")
    return Record(name, payload[end : end + WRITER_SIZE], payload[end + WRITER_SIZE :])


def encode_manifest(manifest: Manifest) -> bytes:
    body = {
        "objects": manifest.objects,
        "digest": f"{manifest.digest:064x}",
        "written_at": manifest.written_at,
        "writer": manifest.writer.hex(),
    }
    return bytes([MANIFEST_FORMAT]) + json.dumps(body, sort_keys=True).encode("ascii")


def decode_manifest(payload: bytes) -> Manifest:
    if not payload or payload[0] != MANIFEST_FORMAT:
        raise PayloadError("not a manifest payload")
    try:
        body = json.loads(payload[1:])
        manifest = Manifest(
            objects=int(body["objects"]),
            digest=int(body["digest"], 16),
            written_at=int(body["written_at"]),
            writer=bytes.fromhex(body["writer"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise PayloadError(f"malformed manifest: {exc}") from None
    if manifest.objects < 0 or not 0 <= manifest.digest < _MOD:
        raise PayloadError("manifest values out of range")
    return manifest


def manifest_key(key_name_key: bytes) -> bytes:
    """The MAC key of the set digest (HKDF, so it never equals any wire key)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_MANIFEST_INFO)
    return hkdf.derive(key_name_key)


def manifest_wire_key(key_name_key: bytes) -> str:
    return wire_key(key_name_key, MANIFEST_NAME)


def set_term(mac_key: bytes, object_key: str, version: int) -> int:
    """One (key, version) pair's term of the set digest."""
    message = object_key.encode("ascii") + struct.pack(">Q", version)
    return int.from_bytes(hmac.new(mac_key, message, hashlib.sha256).digest(), "big")


def digest_add(digest: int, mac_key: bytes, pairs: Iterable[tuple[str, int]]) -> int:
    for key, version in pairs:
        digest = (digest + set_term(mac_key, key, version)) % _MOD
    return digest


def digest_remove(digest: int, mac_key: bytes, pairs: Iterable[tuple[str, int]]) -> int:
    for key, version in pairs:
        digest = (digest - set_term(mac_key, key, version)) % _MOD
    return digest
