"""docs/PROTOCOL.md: its test vectors and constants agree with the implementation."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from coincurve import PublicKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cairn.backup import payload
from cairn.backup.envelope import MAX_PLAINTEXT, associated_data, seal, unseal
from cairn.backup.protocol import (
    LIST_LIMIT_MAX,
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    MAX_OBJECT_BYTES,
    MAX_SKEW,
    STORE_IDS,
    STORE_QUOTA_BYTES,
    PutItem,
    batch_body,
    objects_path,
    request_digest,
    sign_request,
    verify_request,
    wire_key,
)
from cairn.keys import derive_backup_keys, master_key, mnemonic_to_seed

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"


def _vectors() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```vectors\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "PROTOCOL.md has exactly one ```vectors block"
    vectors: dict[str, str] = {}
    for line in blocks[0].splitlines():
        name, sep, value = line.partition(": ")
        assert sep, f"not a `key: value` line: {line!r}"
        assert name not in vectors, f"{name} appears twice"
        vectors[name] = value
    return vectors


V = _vectors()


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, b"cairn-backup/v1", info).derive(ikm)


def test_every_vector_is_checked() -> None:
    assert set(V) == {
        "mnemonic", "seed", "signing_key", "node_id", "encryption_root", "data_key",
        "key_name_key", "manifest_key", "manifest_wire_key", "record_name", "wire_key",
        "record_writer", "record_value", "record_payload", "store_id", "envelope_version",
        "envelope_nonce", "aad", "envelope", "request_method", "request_target", "request_ts",
        "request_nonce", "request_body", "body_sha256", "request_digest", "authorization",
    }  # fmt: skip


def test_key_vectors() -> None:
    seed = mnemonic_to_seed(V["mnemonic"])
    assert seed.hex() == V["seed"]
    keys = derive_backup_keys(seed)
    assert keys.signing_key.hex() == V["signing_key"]
    assert keys.node_id == V["node_id"]
    root = master_key(seed).derive("m/22476'/1'").private_key
    assert root.hex() == V["encryption_root"]
    assert keys.data_key.hex() == V["data_key"] == _hkdf(root, b"data-key").hex()
    assert keys.key_name_key.hex() == V["key_name_key"] == _hkdf(root, b"key-name-key").hex()
    assert PublicKey.from_secret(keys.signing_key).format().hex() == V["node_id"]


def test_name_and_manifest_vectors() -> None:
    key_name_key = bytes.fromhex(V["key_name_key"])
    assert wire_key(key_name_key, V["record_name"]) == V["wire_key"]
    expected = hmac_hex(key_name_key, V["record_name"].encode())
    assert V["wire_key"] == expected
    assert payload.manifest_key(key_name_key).hex() == V["manifest_key"]
    assert _hkdf(key_name_key, b"manifest-mac").hex() == V["manifest_key"]
    assert payload.manifest_wire_key(key_name_key) == V["manifest_wire_key"]
    assert hmac_hex(key_name_key, b"\x00cairn/manifest") == V["manifest_wire_key"]


def hmac_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def test_envelope_vector() -> None:
    data_key = bytes.fromhex(V["data_key"])
    record = payload.encode_record(
        V["record_name"], bytes.fromhex(V["record_writer"]), V["record_value"].encode()
    )
    assert record.hex() == V["record_payload"]
    version = int(V["envelope_version"])
    nonce = bytes.fromhex(V["envelope_nonce"])
    aad = associated_data(V["store_id"], V["wire_key"], version)
    assert aad.hex() == V["aad"]
    blob = seal(data_key, V["store_id"], V["wire_key"], version, record, nonce=nonce)
    assert blob.hex() == V["envelope"]
    assert unseal(data_key, V["store_id"], V["wire_key"], version, blob) == record
    # The same from the primitives alone, as a reader of the document would do it.
    raw = bytes.fromhex(V["envelope"])
    assert raw[:4] == b"CRN\x01" and raw[4:16] == nonce
    assert AESGCMSIV(data_key).decrypt(raw[4:16], raw[16:], aad) == b"\x00" + record


def test_request_vector() -> None:
    body = V["request_body"].encode()
    blob = bytes.fromhex(V["envelope"])
    assert json.loads(body) == batch_body([PutItem(V["wire_key"], version=0, value=blob)])
    assert V["request_target"] == objects_path(V["node_id"], V["store_id"])
    assert hashlib.sha256(body).hexdigest() == V["body_sha256"]
    ts, nonce, method, target = (
        int(V["request_ts"]), V["request_nonce"], V["request_method"], V["request_target"]
    )  # fmt: skip
    digest = request_digest(method, target, ts, nonce, body)
    assert digest.hex() == V["request_digest"]
    message = b"\x00".join(
        [b"cairn-backup/v1", method.encode(), target.encode(), str(ts).encode(), nonce.encode(),
         hashlib.sha256(body).digest()]
    )  # fmt: skip
    assert hashlib.sha256(message).digest() == digest
    signing_key = bytes.fromhex(V["signing_key"])
    header = sign_request(signing_key, method, target, body, ts=ts, nonce=nonce)
    assert header == V["authorization"]
    assert verify_request(header, method, target, body, now=ts).node_id == V["node_id"]
    signature = bytes.fromhex(header.rpartition("sig=")[2])
    assert PublicKey(bytes.fromhex(V["node_id"])).verify(signature, digest, hasher=None)


@pytest.mark.parametrize(
    "needle",
    [
        f"{MAX_SKEW} s",
        f"{MAX_OBJECT_BYTES:_}".replace("_", " ") + " bytes",
        f"{MAX_BATCH_ITEMS} items",
        f"{MAX_BATCH_BYTES:_}".replace("_", " ") + " bytes",
        f"{STORE_QUOTA_BYTES:_}".replace("_", " ") + " bytes",
        f"{LIST_LIMIT_MAX} keys",
        f"{MAX_PLAINTEXT:_}".replace("_", " "),
        "`"
        + "`, `".join(sorted(STORE_IDS, key=["bitcoin", "testnet", "signet", "regtest"].index))
        + "`",
    ],
)
def test_constants_in_the_document_match_the_code(needle: str) -> None:
    assert needle in DOC.read_text(encoding="utf-8")
