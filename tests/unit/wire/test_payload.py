"""Record, tombstone and manifest payloads (and the v1 ones still read), and the set digest."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.wire import payload
from cairn.wire.addressing import wire_key

WRITER = bytes(range(16))
names = st.text(min_size=1, max_size=60).filter(lambda n: "\x00" not in n)


@given(
    name=names,
    value=st.binary(max_size=300),
    wall_ms=st.integers(0, 2**64 - 1),
    counter=st.integers(0, 2**32 - 1),
)
def test_a_record_payload_round_trips(name, value, wall_ms, counter):
    clock = payload.Clock(wall_ms, counter, WRITER)
    record = payload.decode_record(payload.encode_record(name, WRITER, value, clock))
    assert record == payload.Record(name, WRITER, value, clock, deleted=False)


@given(name=names, wall_ms=st.integers(0, 2**64 - 1))
def test_a_tombstone_round_trips_with_no_value(name, wall_ms):
    clock = payload.Clock(wall_ms, 0, WRITER)
    encoded = payload.encode_record(name, WRITER, b"", clock, deleted=True)
    assert encoded[-1] == 0x01  # the flags byte is last: a tombstone has no value
    assert payload.decode_record(encoded) == payload.Record(name, WRITER, b"", clock, deleted=True)
    with pytest.raises(ValueError):
        payload.encode_record(name, WRITER, b"x", clock, deleted=True)


def test_the_record_layout_counts_the_name_in_utf8_bytes():
    name = "labels/café ₿"
    raw = name.encode("utf-8")
    encoded = payload.encode_record(name, WRITER, b"v", payload.Clock(258, 3, WRITER))
    assert encoded == (
        b"\x03" + len(raw).to_bytes(2, "big") + raw + WRITER
        + (258).to_bytes(8, "big") + (3).to_bytes(4, "big") + b"\x00" + b"v"
    )  # fmt: skip
    assert len(raw) == 16 != len(name)


def test_a_v1_record_is_still_read():
    legacy = b"\x01\x00\x01n" + WRITER + b"value"
    record = payload.decode_record(legacy)
    assert (record.name, record.value, record.deleted) == ("n", b"value", False)
    assert record.clock == payload.Clock(0, 0, WRITER)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x02abc",
        b"\x01\x00",
        b"\x01\x00\x05abc",
        b"\x01\x00\x01a" + b"w" * 15,
        b"\x01\x00\x00" + WRITER,
        b"\x03\x00\x01a" + WRITER + bytes(11),  # clock truncated
        b"\x03\x00\x01a" + WRITER + bytes(12) + b"\x02",  # unknown flag
        b"\x03\x00\x01a" + WRITER + bytes(12) + b"\x01x",  # a tombstone with a value
        b"\x03\x00\x02\xff\xfe" + WRITER + bytes(13),  # name not UTF-8
        b"\x03\x00\x01\x00" + WRITER + bytes(13),  # NUL in the name
    ],
)
def test_malformed_record_payloads_are_refused(blob):
    with pytest.raises(payload.PayloadError):
        payload.decode_record(blob)
    with pytest.raises(payload.PayloadError):
        payload.decode_record_entry(blob)


@given(name=names, value=st.binary(max_size=100), deleted=st.booleans())
def test_a_record_entry_is_what_the_full_decoding_says(name, value, deleted):
    value = b"" if deleted else value
    encoded = payload.encode_record(
        name, WRITER, value, payload.Clock(5, 1, WRITER), deleted=deleted
    )
    record = payload.decode_record(encoded)
    assert payload.decode_record_entry(encoded) == (record.name, record.value, record.deleted)
    legacy = b"\x01" + len(name.encode()).to_bytes(2, "big") + name.encode() + WRITER + value
    assert payload.decode_record_entry(legacy) == (name, value, False)


ids16 = st.one_of(st.none(), st.binary(min_size=16, max_size=16).map(bytes.hex))


@given(
    objects=st.integers(0, 2**40),
    digest=st.integers(0, 2**256 - 1),
    written_at=st.integers(0, 2**40),
    generation=st.integers(0, 2**63 - 1),
    incarnation=ids16,
    previous_incarnation=ids16,
    previous_generation=st.integers(0, 2**63 - 1),
)
def test_a_manifest_round_trips(
    objects, digest, written_at, generation, incarnation, previous_incarnation, previous_generation
):
    manifest = payload.Manifest(
        objects, digest, written_at, WRITER, generation, incarnation, previous_incarnation,
        previous_generation,
    )  # fmt: skip
    encoded = payload.encode_manifest(manifest)
    assert encoded[0] == 0x04
    assert payload.decode_manifest(encoded) == manifest


def test_the_manifest_json_form_is_exact():
    manifest = payload.Manifest(3, 5, 1_700_000_000, WRITER, 9, "1" * 32, None, 0)
    assert payload.encode_manifest(manifest) == (
        b'\x04{"digest": "' + b"0" * 63 + b'5", "generation": 9, "incarnation": "' + b"1" * 32
        + b'", "objects": 3, "previous_generation": 0, "previous_incarnation": null, '
        b'"writer": "' + WRITER.hex().encode() + b'", "written_at": 1700000000}'
    )  # fmt: skip


def test_a_manifest_names_the_devices_still_filling_it_sorted_and_only_when_there_are_any():
    one, two = "ab" * 16, "01" * 16
    manifest = payload.Manifest(3, 5, 1_700_000_000, WRITER, 9, "1" * 32, None, 0, (one, two))
    encoded = payload.encode_manifest(manifest)
    assert b'"digest": "' + b"0" * 63 + b'5", "filling": ["' + two.encode() in encoded
    decoded = payload.decode_manifest(encoded)
    assert decoded.filling == (two, one)
    # Without `filling` (every manifest of a store not being filled, and older writers').
    plain = payload.encode_manifest(payload.Manifest(3, 5, 1, WRITER, 9, "1" * 32))
    assert b"filling" not in plain
    assert payload.decode_manifest(plain).filling == ()


@pytest.mark.parametrize(
    "filling", ['"ab"', "[1]", '["' + "AB" * 16 + '"]', '["' + "a" * 31 + '"]', "null", "{}"]
)
def test_a_filling_that_is_not_a_list_of_device_ids_is_a_malformed_manifest(filling):
    good = payload.encode_manifest(payload.Manifest(3, 5, 1, WRITER, 9, "1" * 32))
    bad = good[:-1] + b', "filling": ' + filling.encode() + b"}"
    with pytest.raises(payload.PayloadError):
        payload.decode_manifest(bad)


def test_a_v1_manifest_is_still_read_and_garbage_is_refused():
    legacy = b'\x02{"digest": "ff", "objects": 2, "writer": "' + WRITER.hex().encode()
    legacy += b'", "written_at": 5}'
    assert payload.decode_manifest(legacy) == payload.Manifest(2, 255, 5, WRITER)
    for bad in (b"", b"\x01{}", b"\x02not json", b'\x02{"objects": -1}', b"\x04[]", b"\x04{}"):
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


def test_a_manifest_names_the_recent_writes_in_order_and_only_when_there_are_any():
    newer, older = "cd" * 16, "01" * 16
    manifest = payload.Manifest(3, 5, 1, WRITER, 9, "1" * 32, recent_writes=(newer, older))
    encoded = payload.encode_manifest(manifest)
    assert b'"recent_writes": ["' + newer.encode() + b'", "' + older.encode() in encoded
    assert payload.decode_manifest(encoded).recent_writes == (newer, older)
    plain = payload.encode_manifest(payload.Manifest(3, 5, 1, WRITER, 9, "1" * 32))
    assert b"recent_writes" not in plain
    assert payload.decode_manifest(plain).recent_writes == ()


@pytest.mark.parametrize(
    "recent",
    ['"ab"', "[1]", '["' + "AB" * 16 + '"]', "null", "{}", "[" + ",".join(['"' + "a" * 32 + '"'] * 65) + "]"],
)  # fmt: skip
def test_recent_writes_that_are_not_a_short_list_of_write_ids_are_a_malformed_manifest(recent):
    good = payload.encode_manifest(payload.Manifest(3, 5, 1, WRITER, 9, "1" * 32))
    bad = good[:-1] + b', "recent_writes": ' + recent.encode() + b"}"
    with pytest.raises(payload.PayloadError):
        payload.decode_manifest(bad)


def test_each_batch_names_the_one_before_it_and_the_window_stays_bounded():
    chain: tuple[str, ...] = ()
    ids = [f"{i:032x}" for i in range(payload.RECENT_WRITES + 5)]
    for write_id in ids:
        chain = payload.following(write_id, chain)
    assert chain == tuple(reversed(ids))[: payload.RECENT_WRITES]
    assert payload.following(None, chain) == chain  # a legacy manifest, with no write id
