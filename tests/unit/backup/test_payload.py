"""Record and manifest payloads, and the keyed set digest of the manifest."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.backup import payload
from cairn.backup.protocol import wire_key

WRITER = bytes(range(16))
names = st.text(min_size=1, max_size=60).filter(lambda n: "\x00" not in n)


@given(name=names, value=st.binary(max_size=300))
def test_a_record_payload_round_trips(name, value):
    record = payload.decode_record(payload.encode_record(name, WRITER, value))
    assert (record.name, record.writer, record.value) == (name, WRITER, value)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x02abc",
        b"\x01\x00",
        b"\x01\x00\x05abc",
        b"\x01\x00\x01a" + b"w" * 15,
        b"\x01\x00\x00" + WRITER,
    ],
)
def test_malformed_record_payloads_are_refused(blob):
    with pytest.raises(payload.PayloadError):
        payload.decode_record(blob)


def test_a_manifest_round_trips_and_rejects_garbage():
    manifest = payload.Manifest(
        objects=3, digest=2**255 + 7, written_at=1_700_000_000, writer=WRITER
    )
    assert payload.decode_manifest(payload.encode_manifest(manifest)) == manifest
    for bad in (b"", b"\x01{}", b"\x02not json", b'\x02{"objects": -1}'):
        with pytest.raises(payload.PayloadError):
            payload.decode_manifest(bad)


def test_the_manifest_name_can_never_be_a_record_name():
    with pytest.raises(ValueError):
        from cairn.storage.protocol import check_name

        check_name(payload.MANIFEST_NAME)


def test_the_manifest_mac_key_is_not_any_wire_key():
    name_key = os.urandom(32)
    mac_key = payload.manifest_key(name_key)
    assert mac_key.hex() != wire_key(name_key, payload.MANIFEST_NAME)
    assert payload.manifest_key(name_key) == mac_key  # deterministic from the seed


@given(
    pairs=st.lists(
        st.tuples(st.sampled_from(["a" * 64, "b" * 64, "c" * 64]), st.integers(1, 2**64 - 1)),
        max_size=8,
    )
)
def test_the_digest_is_incremental_and_order_free(pairs):
    key = b"k" * 32
    forward = payload.digest_add(0, key, pairs)
    backward = payload.digest_add(0, key, reversed(pairs))
    assert forward == backward
    assert payload.digest_remove(forward, key, pairs) == 0


def test_an_older_version_changes_the_digest():
    key = b"k" * 32
    current = payload.digest_add(0, key, [("a" * 64, 5), ("b" * 64, 2)])
    replayed = payload.digest_add(0, key, [("a" * 64, 4), ("b" * 64, 2)])
    assert current != replayed
