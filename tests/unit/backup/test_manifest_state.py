"""The manifest mirror (`local/backup/manifest`): what this device's next manifest carries on."""

from __future__ import annotations

import json

from cairn.backup.localrecords import InDoubt, ManifestState
from cairn.wire.payload import RECENT_WRITES

DEVICE = "ab" * 16


def test_the_devices_filling_the_store_round_trip_and_none_is_left_out():
    mirror = ManifestState(7, 3, 5, (DEVICE,))
    assert ManifestState.decode(mirror.encode()) == mirror
    plain = ManifestState(7, 3, 5)
    assert b"filling" not in plain.encode()
    assert ManifestState.decode(plain.encode()) == plain


def test_a_damaged_filling_never_reaches_the_next_manifest():
    base = {"version": 7, "objects": 3, "digest": "0" * 63 + "5"}
    for damaged in (42, "ab", [1, None], ["AB" * 16, "x" * 32, DEVICE, DEVICE]):
        raw = json.dumps({**base, "filling": damaged}).encode()
        assert ManifestState.decode(raw).filling in ((), (DEVICE,))
    raw = json.dumps({**base, "filling": ["AB" * 16, DEVICE]}).encode()
    assert ManifestState.decode(raw).filling == (DEVICE,)


def test_the_recent_writes_round_trip_and_a_damaged_one_is_dropped():
    write = "cd" * 16
    mirror = ManifestState(7, 3, 5, (), (write, DEVICE))
    assert ManifestState.decode(mirror.encode()) == mirror
    base = {"version": 7, "objects": 3, "digest": "0" * 63 + "5"}
    raw = json.dumps({**base, "recent": ["zz", write, 3]}).encode()
    assert ManifestState.decode(raw).recent == (write,)
    raw = json.dumps({**base, "recent": [write] * 40}).encode()
    assert len(ManifestState.decode(raw).recent) == RECENT_WRITES


def test_a_batch_in_doubt_round_trips_and_a_damaged_record_is_none():
    doubt = InDoubt("cd" * 16, 12, (3, 4, 9))
    assert InDoubt.decode(doubt.encode()) == doubt
    ours = b'"write_id": "' + b"cd" * 16 + b'"'
    for damaged in (b"", b"[]", b"{}", b'{"write_id": "xx", "generation": 1, "seqs": []}',
                    b"{" + ours + b', "generation": 1, "seqs": "12"}',
                    b"{" + ours + b', "generation": "1", "seqs": []}',
                    b"{" + ours + b', "generation": 1, "seqs": [1.5]}'):  # fmt: skip
        assert InDoubt.decode(damaged) is None
    assert InDoubt.decode(None) is None


def test_the_manifest_tells_whether_a_batch_in_doubt_was_applied_only_within_its_window():
    ours, other = "cd" * 16, "ef" * 16
    doubt = InDoubt(ours, 12, (3,))
    assert doubt.settled_by(12, ours, ()) is True  # it wrote the manifest
    assert doubt.settled_by(20, other, (other, ours)) is True  # named among the recent writes
    assert doubt.settled_by(12, other, ()) is False  # another batch made generation 12
    assert doubt.settled_by(14, other, (other, other)) is False  # 12, 13 and 14 spoken for
    assert doubt.settled_by(15, other, (other, other)) is None  # 13 to 15: cannot tell
    assert doubt.settled_by(11, other, (other,)) is None  # not at that generation yet
