"""The manifest mirror (`local/backup/manifest`): what this device's next manifest carries on."""

from __future__ import annotations

import json

from cairn.backup.localrecords import ManifestState

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
