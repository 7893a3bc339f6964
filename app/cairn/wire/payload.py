"""What goes inside an envelope: a record (name, writer, clock, value), a tombstone, or the manifest.

A record's plaintext carries its own name, so a restore recovers names from the backup alone
and checks that each object sits under `wire_key(name)`. It also carries the id of the device
that wrote it and the hybrid logical clock of the change, by which devices settle concurrent
edits; a tombstone is the same with the deleted flag set and no value.

    record   = 0x03 || u16be(len(name)) || name utf-8 || writer(16)
                    || u64be(clock wall ms) || u32be(clock counter) || flags(1) || value
                    (flags bit 0: deleted; the value is then empty)
    manifest = 0x04 || JSON {"digest", "objects", "generation", "incarnation",
                             "previous_incarnation", "previous_generation", "written_at", "writer"
                             [, "filling"] [, "recent_writes"]}

Protocol v1 wrote `0x01 || u16be(len) || name || writer(16) || value` and a manifest `0x02 ||
JSON {"digest", "objects", "written_at", "writer"}`; both are still read (objects migrated
from a v1 server), never written.

The manifest is one more object, under `wire_key(MANIFEST_NAME)` (a name no record can have:
record names never contain NUL). It is rewritten in every batch, in the same atomic batch, and
holds a keyed set digest of every live (object key, version) pair in the store:

    digest = sum over objects of HMAC-SHA256(manifest_key, key ascii || u64be(version)) mod 2^256

The sum is incremental (a batch subtracts the old pair and adds the new one), and the server
cannot compute its terms without the manifest key, so it cannot serve an older object, drop one
or add one without the restore noticing (see "Backup engine" in docs/PROTOCOL.md).
"""

from __future__ import annotations

import hmac
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cairn.wire.addressing import wire_key
from cairn.wire.keyedhash import KeyedSha256

__all__ = [
    "MANIFEST_NAME",
    "RECENT_WRITES",
    "WRITER_SIZE",
    "Clock",
    "Manifest",
    "PayloadError",
    "Record",
    "decode_manifest",
    "decode_record",
    "digest_add",
    "digest_remove",
    "encode_manifest",
    "encode_record",
    "following",
    "manifest_key",
    "manifest_wire_key",
    "set_term",
]

LEGACY_RECORD_FORMAT = 0x01
LEGACY_MANIFEST_FORMAT = 0x02
RECORD_FORMAT = 0x03
MANIFEST_FORMAT = 0x04
FLAG_DELETED = 0x01
_CLOCK = struct.Struct(">QI")
WRITER_SIZE = 16
MANIFEST_NAME = "\x00cairn/manifest"
_MOD = 1 << 256
# How many write ids of the batches before it a manifest names (`recent_writes`), and the most
# a manifest may name: a device whose batch's answer was lost finds it there (PROTOCOL.md 11.3).
RECENT_WRITES = 16
MAX_RECENT_WRITES = 64
_HKDF_SALT = b"cairn-backup/v1"
_MANIFEST_INFO = b"manifest-mac"


class PayloadError(ValueError):
    """A plaintext that is not a well-formed record or manifest."""


@dataclass(frozen=True, order=True)
class Clock:
    """A hybrid logical clock reading: wall milliseconds, then a counter, then the device."""

    wall_ms: int = 0
    counter: int = 0
    device: bytes = b""


@dataclass(frozen=True)
class Record:
    """A decoded record payload (or tombstone, `deleted`, with an empty value)."""

    name: str
    writer: bytes
    value: bytes
    clock: Clock = Clock()
    deleted: bool = False


@dataclass(frozen=True)
class Manifest:
    """The store's table of contents: live object count and set digest (excluding itself).

    `incarnation` names this life of the store; `previous_incarnation` and `previous_generation`
    name the one it replaced (an erase) and how far it had got, so that a device that knew the
    old one can tell an erase by another device from a server replaying or faking one.
    """

    objects: int
    digest: int
    written_at: int
    writer: bytes
    generation: int = 0
    incarnation: str | None = None
    previous_incarnation: str | None = None
    previous_generation: int = 0
    # Devices whose full backup into this life has not finished yet (device ids, hex): while
    # any is named, the store may lack records those devices hold (PROTOCOL.md 5.4, 11.8).
    filling: tuple[str, ...] = ()
    # The write ids of the batches that wrote the manifest versions before this one, newest
    # first (at most RECENT_WRITES when Cairn writes them): a device whose batch's answer was
    # lost learns here that the batch was applied (PROTOCOL.md 5.4, 11.3).
    recent_writes: tuple[str, ...] = ()


def following(write_id: str | None, earlier: tuple[str, ...]) -> tuple[str, ...]:
    """The recent write ids after the batch `write_id` wrote a manifest naming `earlier`."""
    chain = earlier if write_id is None else (write_id, *earlier)
    return chain[:RECENT_WRITES]


def encode_record(
    name: str,
    writer: bytes,
    value: bytes,
    clock: Clock = Clock(),
    *,
    deleted: bool = False,
) -> bytes:
    raw = name.encode("utf-8")
    if len(writer) != WRITER_SIZE:
        raise ValueError(f"the writer id is {WRITER_SIZE} bytes")
    if deleted and value:
        raise ValueError("a tombstone has no value")
    return (
        bytes([RECORD_FORMAT])
        + struct.pack(">H", len(raw))
        + raw
        + writer
        + _CLOCK.pack(clock.wall_ms, clock.counter)
        + bytes([FLAG_DELETED if deleted else 0])
        + value
    )


def decode_record(payload: bytes) -> Record:
    name, writer, value, wall_ms, counter, deleted = _record_fields(payload)
    return Record(name, writer, value, Clock(wall_ms, counter, writer), deleted)


def decode_record_entry(payload: bytes) -> tuple[str, bytes, bool]:
    """The name, value and tombstone flag of a record payload, with every check of
    `decode_record`: a restore needs no more, and building the frozen Record and Clock cost
    more than decrypting the object."""
    name, _writer, value, _wall_ms, _counter, deleted = _record_fields(payload)
    return name, value, deleted


def _record_fields(payload: bytes) -> tuple[str, bytes, bytes, int, int, bool]:
    """(name, writer, value, wall ms, counter, deleted); a legacy record has clock (0, 0)."""
    if len(payload) < 3 or payload[0] not in (RECORD_FORMAT, LEGACY_RECORD_FORMAT):
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
    writer = payload[end : end + WRITER_SIZE]
    rest = end + WRITER_SIZE
    if payload[0] == LEGACY_RECORD_FORMAT:
        return name, writer, payload[rest:], 0, 0, False
    if len(payload) < rest + _CLOCK.size + 1:
        raise PayloadError("record payload is truncated")
    wall_ms, counter = _CLOCK.unpack_from(payload, rest)
    flags = payload[rest + _CLOCK.size]
    if flags & ~FLAG_DELETED:
        raise PayloadError(f"unknown record flags 0x{flags:02x}")
    value = payload[rest + _CLOCK.size + 1 :]
    deleted = bool(flags & FLAG_DELETED)
    if deleted and value:
        raise PayloadError("a tombstone carries a value")
    return name, writer, value, wall_ms, counter, deleted


def encode_manifest(manifest: Manifest) -> bytes:
    body: dict[str, object] = {
        "objects": manifest.objects,
        "digest": f"{manifest.digest:064x}",
        "generation": manifest.generation,
        "incarnation": manifest.incarnation,
        "previous_incarnation": manifest.previous_incarnation,
        "previous_generation": manifest.previous_generation,
        "written_at": manifest.written_at,
        "writer": manifest.writer.hex(),
    }
    if manifest.filling:
        body["filling"] = sorted(set(manifest.filling))
    if manifest.recent_writes:
        body["recent_writes"] = list(manifest.recent_writes)
    return bytes([MANIFEST_FORMAT]) + json.dumps(body, sort_keys=True).encode("ascii")


def decode_manifest(payload: bytes) -> Manifest:
    if not payload or payload[0] not in (MANIFEST_FORMAT, LEGACY_MANIFEST_FORMAT):
        raise PayloadError("not a manifest payload")
    try:
        body = json.loads(payload[1:])
        if not isinstance(body, dict):
            raise TypeError("not an object")
        manifest = Manifest(
            objects=int(body["objects"]),
            digest=int(body["digest"], 16),
            written_at=int(body["written_at"]),
            writer=bytes.fromhex(body["writer"]),
        )
        if payload[0] == MANIFEST_FORMAT:
            manifest = Manifest(
                manifest.objects,
                manifest.digest,
                manifest.written_at,
                manifest.writer,
                generation=int(body["generation"]),
                incarnation=_optional_text(body["incarnation"]),
                previous_incarnation=_optional_text(body["previous_incarnation"]),
                previous_generation=int(body["previous_generation"]),
                filling=_device_ids(body.get("filling", [])),
                recent_writes=_write_ids(body.get("recent_writes", [])),
            )
    except (ValueError, KeyError, TypeError) as exc:
        raise PayloadError(f"malformed manifest: {type(exc).__name__}") from None
    if manifest.objects < 0 or not 0 <= manifest.digest < _MOD:
        raise PayloadError("manifest values out of range")
    return manifest


def _device_ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(_is_device_id(v) for v in value):
        raise ValueError("filling is not a list of device ids")
    return tuple(sorted(set(value)))


def _write_ids(value: object) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_RECENT_WRITES
        or not all(_is_device_id(v) for v in value)  # a write id is 16 bytes too
    ):
        raise ValueError("recent_writes is not a list of write ids")
    return tuple(value)


def _is_device_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 2 * WRITER_SIZE
        and all(c in "0123456789abcdef" for c in value)
    )


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def manifest_key(key_name_key: bytes) -> bytes:
    """The MAC key of the set digest (HKDF, so it never equals any wire key)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_MANIFEST_INFO)
    return hkdf.derive(key_name_key)


def manifest_wire_key(key_name_key: bytes) -> str:
    return wire_key(key_name_key, MANIFEST_NAME)


def set_term(mac_key: bytes, object_key: str, version: int) -> int:
    """One (key, version) pair's term of the set digest."""
    message = object_key.encode("ascii") + struct.pack(">Q", version)
    return int.from_bytes(hmac.digest(mac_key, message, "sha256"), "big")


class SetTerms:
    """`set_term` for many pairs under one manifest key: a restore adds one per object."""

    __slots__ = ("_mac",)

    def __init__(self, mac_key: bytes) -> None:
        self._mac = KeyedSha256(mac_key)

    def __call__(self, object_key: str, version: int) -> int:
        message = object_key.encode("ascii") + struct.pack(">Q", version)
        return int.from_bytes(self._mac.digest(message), "big")


def digest_add(digest: int, mac_key: bytes, pairs: Iterable[tuple[str, int]]) -> int:
    for key, version in pairs:
        digest = (digest + set_term(mac_key, key, version)) % _MOD
    return digest


def digest_remove(digest: int, mac_key: bytes, pairs: Iterable[tuple[str, int]]) -> int:
    for key, version in pairs:
        digest = (digest - set_term(mac_key, key, version)) % _MOD
    return digest
