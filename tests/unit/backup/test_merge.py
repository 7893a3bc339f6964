"""How a remote change meets a pending local one, by kind of record (cairn.backup.merge)."""

from __future__ import annotations

from cairn.backup.merge import KEEP, Side, decide
from cairn.wire.payload import Clock

EARLY, LATE = Clock(1_000, 0, b"\x01" * 16), Clock(2_000, 0, b"\x02" * 16)


def test_a_reserved_index_belongs_to_the_device_that_reached_the_server_first():
    # However much later this device's reservation was made, the server's copy stands.
    mine, theirs = Side(b"aa" * 16, LATE), Side(b"bb" * 16, EARLY)
    decision = decide("wallet/reserved/external/7", mine, theirs)
    assert decision.local == theirs.value and decision.settled and not decision.conflict


def test_the_last_index_handed_out_is_the_larger_one_and_the_servers_at_a_tie():
    name = "wallet/revealed/external"
    assert decide(name, Side(b"9 aa", EARLY), Side(b"8 bb", LATE)).local is KEEP
    tie = decide(name, Side(b"8 aa", LATE), Side(b"8 bb", EARLY))
    assert tie.local == b"8 bb" and tie.settled


def test_a_label_edited_on_two_devices_keeps_both_values():
    decision = decide("labels/tx/1", Side(b"mine", LATE), Side(b"theirs", EARLY))
    assert decision.local is KEEP and not decision.settled
    assert {c.value for c in decision.conflict} == {b"mine", b"theirs"}


def test_a_copy_reads_zero_and_leaves_the_clock_where_it_was():
    from cairn.backup import hlc

    state = hlc.ClockState(5_000, 3)
    reading, after = hlc.stamp(state, hlc.COPY_AT_MS, b"d" * 16)
    assert (reading.wall_ms, reading.counter) == (0, 0) and after == state
    edit, _ = hlc.stamp(state, 1_000, b"d" * 16)
    assert (edit.wall_ms, edit.counter) == (5_000, 4)
    # A pending change meets a remote one with its own time, whatever the clock saw since.
    assert hlc.pending_reading(1_000, b"d" * 16).wall_ms == 1_000
