"""The compare-and-swap rules and export paging, as pure functions."""

from __future__ import annotations

import pytest

from cairn.backup.protocol import DeleteItem, PutItem
from cairn.server.backend import (
    EXPORT_PAGE_BYTES,
    Conflict,
    QuotaExceeded,
    StoreInfo,
    export_page_end,
)
from cairn.server.batch import Stored, plan_batch

A, B, C = "a" * 64, "b" * 64, "c" * 64
EMPTY = StoreInfo(generation=0, objects=0, bytes=0)


def test_a_plan_counts_objects_bytes_and_versions() -> None:
    info = StoreInfo(generation=7, objects=2, bytes=30)
    stored = {A: Stored(version=3, size=10), B: Stored(version=1, size=20)}
    plan = plan_batch(
        [PutItem(A, 3, b"x" * 15), PutItem(C, 0, b"y")], [DeleteItem(B, 1)], stored, info, 100
    )
    assert (plan.generation, plan.objects, plan.bytes) == (8, 2, 16)
    assert plan.versions == {A: 4, C: 1, B: 0}


def test_every_mismatch_is_reported_with_all_current_versions() -> None:
    stored = {A: Stored(version=2, size=1)}
    with pytest.raises(Conflict) as err:
        plan_batch([PutItem(A, 2, b""), PutItem(B, 1, b"")], [DeleteItem(C, 0)], stored, EMPTY, 100)
    assert err.value.current == {A: 2, B: 0, C: 0}


def test_quota_refuses_growth_only() -> None:
    with pytest.raises(QuotaExceeded):
        plan_batch([PutItem(A, 0, b"x" * 11)], [], {}, EMPTY, 10)
    over = StoreInfo(generation=1, objects=1, bytes=50)
    plan = plan_batch([PutItem(A, 1, b"x" * 40)], [], {A: Stored(1, 50)}, over, 10)
    assert plan.bytes == 40


def test_an_export_page_holds_at_least_one_object_and_stays_within_its_budget() -> None:
    assert export_page_end([(A, EXPORT_PAGE_BYTES * 2), (B, 1)]) == A
    assert export_page_end([(A, 1), (B, EXPORT_PAGE_BYTES), (C, 1)]) == A
    assert export_page_end([(A, 1), (B, 2), (C, 3)]) == C


def test_a_group_call_slices_each_batch_out_of_the_item_arrays() -> None:
    import asyncio

    from cairn.server.backend import StoreRef
    from cairn.server.pg_group import PendingBatch, group_args

    loop = asyncio.new_event_loop()
    try:
        first = PendingBatch(
            StoreRef("02" + "1" * 64, "regtest"),
            [PutItem(A, 0, b"a"), PutItem(B, 2, b"bb")],
            [],
            100,
            None,
            loop.create_future(),
        )
        second = PendingBatch(
            StoreRef("03" + "2" * 64, "signet"),
            [],
            [DeleteItem(C, 4)],
            50,
            None,
            loop.create_future(),
        )
        args = group_args([first, second])
    finally:
        loop.close()
    assert args[0] == [first.store.node_id, second.store.node_id]
    assert (args[7], args[8], args[9]) == ([1, 3], [2, 0], [A, B])  # put start, count, keys
    assert (args[12], args[13], args[14], args[15]) == ([1, 1], [0, 1], [C], [4])
