"""docs/PROTOCOL.md: its test vectors and constants agree with the implementation.

Each vector is checked twice where it can be: against the reference implementation, and from
the primitives alone, as a reader of the document would compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
from pathlib import Path

import pytest
import zstandard
from coincurve import PublicKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cairn.keys import derive_backup_keys, derive_private_key, mnemonic_to_seed
from cairn.server.config import Limits
from cairn.server.routes import SMALL_BODY
from cairn.wire import payload
from cairn.wire.addressing import changes_target, objects_path, store_path, wire_key
from cairn.wire.constants import (
    FEED_LIMIT_MAX,
    LIST_LIMIT_MAX,
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    MAX_JSON_DEPTH,
    MAX_OBJECT_BYTES,
    MAX_SKEW,
    STORE_IDS,
    STORE_QUOTA_BYTES,
)
from cairn.wire.envelope import MAX_PLAINTEXT, associated_data, seal, unseal
from cairn.wire.jsonbody import loads
from cairn.wire.messages import Batch, PutItem, encode_batch, parse_batch
from cairn.wire.signing import request_digest, sign_request, verify_request

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
TEXT = DOC.read_text(encoding="utf-8")


def _vectors() -> dict[str, str]:
    blocks = re.findall(r"^```vectors\n(.*?)^```$", TEXT, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "PROTOCOL.md has exactly one ```vectors block"
    vectors: dict[str, str] = {}
    for line in blocks[0].splitlines():
        name, sep, value = line.partition(": ")
        assert sep, f"not a `key: value` line: {line!r}"
        assert name not in vectors, f"{name} appears twice"
        assert value == value.strip(), f"{name} has surrounding whitespace"
        vectors[name] = value
    return vectors


V = _vectors()
CHECKED: set[str] = set()


def v(name: str) -> str:
    CHECKED.add(name)
    return V[name]


def vb(name: str) -> bytes:
    return bytes.fromhex(v(name))


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, b"cairn-backup/v1", info).derive(ikm)


def hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _aad(store: str, key: str, version: int, write_id: bytes, incarnation: bytes) -> bytes:
    """The v2 AAD from section 5.1, built by hand."""
    return (
        b"CRN\x02"
        + struct.pack(">H", len(store.encode()))
        + store.encode()
        + struct.pack(">H", len(key))
        + key.encode()
        + struct.pack(">Q", version)
        + write_id
        + incarnation
    )


def _record(name: str, writer: bytes, wall: int, counter: int, flags: int, value: bytes) -> bytes:
    """A record payload from section 5.3, built by hand."""
    raw = name.encode("utf-8")
    return (
        b"\x03" + struct.pack(">H", len(raw)) + raw + writer + struct.pack(">QI", wall, counter)
        + bytes([flags]) + value
    )  # fmt: skip


def _open_by_hand(blob: bytes, aad: bytes) -> tuple[int, bytes]:
    """(flags, body) of an envelope, from AES-256-GCM-SIV alone."""
    assert blob[:4] == b"CRN\x02"
    plaintext = AESGCMSIV(vb("data_key")).decrypt(blob[4:16], blob[16:], aad)
    return plaintext[0], plaintext[1:]


def test_key_vectors() -> None:
    seed = mnemonic_to_seed(v("mnemonic"))
    assert seed.hex() == v("seed")
    keys = derive_backup_keys(seed)
    assert keys.signing_key.hex() == v("signing_key")
    assert keys.node_id == v("node_id")
    root = derive_private_key(seed, "m/22476'/1'")
    assert root.hex() == v("encryption_root")
    assert keys.data_key.hex() == v("data_key") == _hkdf(root, b"data-key").hex()
    assert keys.key_name_key.hex() == v("key_name_key") == _hkdf(root, b"key-name-key").hex()
    assert PublicKey.from_secret(keys.signing_key).format().hex() == v("node_id")


def test_a_typed_phrase_is_normalised_before_it_is_hashed() -> None:
    typed = "  ABANDON\tabandon abandon abandon abandon abandon\u3000abandon abandon abandon "
    typed += "abandon abandon  About \n"
    assert mnemonic_to_seed(typed).hex() == v("seed")


def test_name_and_manifest_key_vectors() -> None:
    name_key = vb("key_name_key")
    assert wire_key(name_key, v("record_name")) == v("wire_key")
    assert hmac_hex(name_key, v("record_name").encode()) == v("wire_key")
    assert payload.manifest_key(name_key).hex() == v("manifest_key")
    assert _hkdf(name_key, b"manifest-mac").hex() == v("manifest_key")
    assert payload.manifest_wire_key(name_key) == v("manifest_wire_key")
    assert hmac_hex(name_key, b"\x00cairn/manifest") == v("manifest_wire_key")


def test_record_and_envelope_vectors() -> None:
    writer, inc, wid = vb("record_writer"), vb("incarnation"), vb("write_id")
    wall, counter = int(v("record_clock_wall_ms")), int(v("record_clock_counter"))
    clock = payload.Clock(wall, counter, writer)
    record = payload.encode_record(v("record_name"), writer, v("record_value").encode(), clock)
    assert record.hex() == v("record_payload")
    assert record == _record(v("record_name"), writer, wall, counter, 0, v("record_value").encode())
    version, nonce, store = int(v("envelope_version")), vb("envelope_nonce"), v("store_id")
    aad = associated_data(store, v("wire_key"), version, wid, inc)
    assert aad.hex() == v("aad") == _aad(store, v("wire_key"), version, wid, inc).hex()
    blob = seal(
        vb("data_key"), store, v("wire_key"), version, record, nonce=nonce, write_id=wid,
        incarnation=inc,
    )  # fmt: skip
    assert blob.hex() == v("envelope")
    assert blob[4:16] == nonce
    assert _open_by_hand(blob, aad) == (0, record)
    opened = unseal(
        vb("data_key"), store, v("wire_key"), version, blob, write_id=wid, incarnation=inc
    )
    assert opened == record


def test_compressed_envelope_vector() -> None:
    writer, inc, wid = vb("record_writer"), vb("incarnation"), vb("write_id")
    clock = payload.Clock(int(v("record_clock_wall_ms")), int(v("record_clock_counter")), writer)
    assert wire_key(vb("key_name_key"), v("compressed_name")) == v("compressed_wire_key")
    record = payload.encode_record(
        v("compressed_name"), writer, v("compressed_value").encode(), clock
    )
    assert record.hex() == v("compressed_payload") and len(record) >= 64
    blob = vb("compressed_envelope")
    aad = _aad(v("store_id"), v("compressed_wire_key"), 1, wid, inc)
    flags, frame = _open_by_hand(blob, aad)
    assert flags == 1 and len(frame) < len(record)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(frame) == record
    assert blob[4:16] == vb("compressed_nonce")
    opened = unseal(
        vb("data_key"), v("store_id"), v("compressed_wire_key"), 1, blob, write_id=wid,
        incarnation=inc,
    )  # fmt: skip
    assert opened == record


def test_manifest_vectors() -> None:
    mac_key = vb("manifest_key")
    term = payload.set_term(mac_key, v("wire_key"), 1)
    assert f"{term:064x}" == v("manifest_term")
    by_hand = hmac.new(mac_key, v("wire_key").encode() + struct.pack(">Q", 1), hashlib.sha256)
    assert by_hand.hexdigest() == v("manifest_term")
    other = payload.set_term(mac_key, v("compressed_wire_key"), 1)
    digest = (term + other) % 2**256
    assert f"{digest:064x}" == v("manifest_digest")
    manifest = payload.Manifest(
        objects=2, digest=digest, written_at=1_700_000_000, writer=vb("record_writer"),
        generation=1, incarnation=v("incarnation"), previous_incarnation=None,
        previous_generation=0,
    )  # fmt: skip
    encoded = payload.encode_manifest(manifest)
    assert encoded.hex() == v("manifest_payload")
    assert encoded == b"\x04" + v("manifest_json").encode("ascii")
    assert v("manifest_json") == json.dumps(json.loads(v("manifest_json")), sort_keys=True)
    body = json.loads(v("manifest_json"))
    assert body["digest"] == v("manifest_digest") and isinstance(body["written_at"], int)
    assert payload.decode_manifest(encoded) == manifest
    aad = _aad(v("store_id"), v("manifest_wire_key"), 1, vb("write_id"), vb("incarnation"))
    flags, frame = _open_by_hand(vb("manifest_envelope"), aad)
    assert flags == 1  # over 64 bytes, and JSON compresses
    assert zstandard.ZstdDecompressor().decompressobj().decompress(frame) == encoded
    opened = unseal(
        vb("data_key"), v("store_id"), v("manifest_wire_key"), 1, vb("manifest_envelope"),
        write_id=vb("write_id"), incarnation=vb("incarnation"),
    )  # fmt: skip
    assert opened == encoded
    assert vb("manifest_envelope")[4:16] == vb("manifest_nonce")


def test_tombstone_vector() -> None:
    writer, inc, wid = vb("record_writer"), vb("incarnation"), vb("tombstone_write_id")
    wall = int(v("tombstone_clock_wall_ms"))
    tombstone = payload.encode_record(
        v("record_name"), writer, b"", payload.Clock(wall, 0, writer), deleted=True
    )
    assert tombstone.hex() == v("tombstone_payload")
    assert tombstone == _record(v("record_name"), writer, wall, 0, 1, b"")
    version = int(v("tombstone_version"))
    blob = seal(
        vb("data_key"), v("store_id"), v("wire_key"), version, tombstone,
        nonce=vb("tombstone_nonce"), write_id=wid, incarnation=inc,
    )  # fmt: skip
    assert blob.hex() == v("tombstone_envelope")
    aad = _aad(v("store_id"), v("wire_key"), version, wid, inc)
    assert _open_by_hand(blob, aad) == (0, tombstone)
    assert payload.decode_record(tombstone).deleted


def test_non_ascii_record_name_vector() -> None:
    name = v("unicode_name")
    assert name.encode("utf-8").hex() == v("unicode_name_utf8")
    assert len(name.encode("utf-8")) != len(name)
    assert wire_key(vb("key_name_key"), name) == v("unicode_wire_key")
    assert hmac_hex(vb("key_name_key"), vb("unicode_name_utf8")) == v("unicode_wire_key")
    writer = vb("record_writer")
    clock = payload.Clock(int(v("record_clock_wall_ms")), 0, writer)
    encoded = payload.encode_record(name, writer, b"x", clock)
    assert encoded.hex() == v("unicode_payload")
    assert encoded == _record(name, writer, clock.wall_ms, 0, 0, b"x")
    assert encoded[1:3] == struct.pack(">H", len(vb("unicode_name_utf8")))


def _check_signature(prefix: str, method: str, target: str, body: bytes) -> None:
    ts, nonce = int(v(f"{prefix}_ts")), v(f"{prefix}_nonce")
    digest = request_digest(method, target, ts, nonce, body)
    assert digest.hex() == v(f"{prefix}_digest")
    message = b"\x00".join(
        [b"cairn-backup/v2", method.encode(), target.encode(), str(ts).encode(), nonce.encode(),
         hashlib.sha256(body).digest()]
    )  # fmt: skip
    assert hashlib.sha256(message).digest() == digest
    header = sign_request(vb("signing_key"), method, target, body, ts=ts, nonce=nonce)
    assert header == v(f"{prefix}_authorization")
    assert verify_request(header, method, target, body, now=ts).node_id == v("node_id")
    signature = bytes.fromhex(header.rpartition("sig=")[2])
    assert PublicKey(vb("node_id")).verify(signature, digest, hasher=None)


def test_batch_request_vector() -> None:
    body = v("request_body").encode()
    batch = Batch(
        v("incarnation"),
        0,
        v("write_id"),
        (
            PutItem(v("wire_key"), 0, vb("envelope")),
            PutItem(v("compressed_wire_key"), 0, vb("compressed_envelope")),
            PutItem(v("manifest_wire_key"), 0, vb("manifest_envelope")),
        ),
        (),
    )
    assert body == encode_batch(batch)
    assert parse_batch(loads(body)) == batch
    assert v("request_method") == "PUT"
    assert v("request_target") == objects_path(v("node_id"), v("store_id"))
    assert hashlib.sha256(body).hexdigest() == v("body_sha256")
    ts, nonce = int(v("request_ts")), v("request_nonce")
    digest = request_digest("PUT", v("request_target"), ts, nonce, body)
    assert digest.hex() == v("request_digest")
    message = b"\x00".join(
        [b"cairn-backup/v2", b"PUT", v("request_target").encode(), str(ts).encode(),
         nonce.encode(), hashlib.sha256(body).digest()]
    )  # fmt: skip
    assert hashlib.sha256(message).digest() == digest
    header = sign_request(vb("signing_key"), "PUT", v("request_target"), body, ts=ts, nonce=nonce)
    assert header == v("authorization")
    assert verify_request(header, "PUT", v("request_target"), body, now=ts).node_id == v("node_id")


def test_get_with_a_query_and_delete_vectors() -> None:
    target = changes_target(v("node_id"), v("store_id"), since=1, limit=100)
    assert target == v("get_target") and target.endswith("/changes?since=1&limit=100")
    _check_signature("get", "GET", v("get_target"), b"")
    assert v("delete_target") == store_path(v("node_id"), v("store_id"))
    _check_signature("delete", "DELETE", v("delete_target"), b"")


def test_every_vector_is_checked() -> None:
    for test in (
        test_key_vectors, test_name_and_manifest_key_vectors, test_record_and_envelope_vectors,
        test_compressed_envelope_vector, test_manifest_vectors, test_tombstone_vector,
        test_non_ascii_record_name_vector, test_batch_request_vector,
        test_get_with_a_query_and_delete_vectors,
    ):  # fmt: skip
        test()
    assert set(V) - CHECKED == set()


@pytest.mark.parametrize(
    "needle",
    [
        f"{MAX_SKEW} s",
        f"{MAX_OBJECT_BYTES:_}".replace("_", " ") + " bytes",
        f"{MAX_BATCH_ITEMS} items",
        f"{MAX_BATCH_BYTES:_}".replace("_", " ") + " bytes",
        f"{STORE_QUOTA_BYTES:_}".replace("_", " ") + " bytes",
        f"{Limits().max_body_bytes:_}".replace("_", " ") + " bytes",
        f"{SMALL_BODY:_}".replace("_", " ") + " bytes",
        f"{LIST_LIMIT_MAX} keys",
        f"{FEED_LIMIT_MAX} items",
        f"{Limits().rate_limit} requests per node per {Limits().rate_window} s",
        f"{MAX_PLAINTEXT:_}".replace("_", " "),
        "`/v2/stores/{node_id}/{store_id}`",
        "`cairn-backup/v2`",
        "`"
        + "`, `".join(sorted(STORE_IDS, key=["bitcoin", "testnet", "signet", "regtest"].index))
        + "`",
    ],
)
def test_constants_in_the_document_match_the_code(needle: str) -> None:
    assert needle in TEXT


def test_the_json_nesting_bound_of_the_document_is_the_parsers() -> None:
    from cairn.wire.jsonbody import ProtocolError

    assert "count MUST NOT exceed 64" in TEXT and "| JSON nesting | 64 |" in TEXT
    loads(b"[" * 64 + b"]" * 64)
    with pytest.raises(ProtocolError):
        loads(b"[" * 65 + b"]" * 65)
    assert MAX_JSON_DEPTH <= 64


def test_every_error_code_is_in_the_error_table() -> None:
    from cairn.wire.constants import ERROR_STATUS

    table = TEXT.split("## 8. Errors and limits", 1)[1].split("| limit", 1)[0]
    for code, status in ERROR_STATUS.items():
        if code == "gone":  # reserved by the code, answered by no endpoint
            continue
        assert re.search(rf"^\| {status} \| [^\n]*`{code}`", table, flags=re.MULTILINE), code


def test_the_export_frame_encoding_is_the_documented_one() -> None:
    from cairn.wire.export import FRAMES_MAGIC, FRAMES_MEDIA_TYPE, MAX_FRAME_VALUE

    section = TEXT.split("### 7.5", 1)[1].split("### 7.6", 1)[0]
    assert f"`{FRAMES_MEDIA_TYPE}`" in section
    assert 'magic  = "CRNX" || 0x01' in section and FRAMES_MAGIC == b"CRNX\x01"
    assert f"{MAX_FRAME_VALUE:,}".replace(",", " ") in section
