"""The compare-and-swap rules of a batch, feed paging and export paging, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.server.backend import (
    EXPORT_PAGE_BYTES,
    Conflict,
    QuotaExceeded,
    export_page_end,
    feed_cut,
)
from cairn.server.batch import Stored, StoreRow, plan_batch
from cairn.wire.messages import Batch, DeleteItem, PutItem

A, B, C = "a" * 64, "b" * 64, "c" * 64
INC, OTHER_INC, WRITE = "1" * 32, "2" * 32, "3" * 32
EMPTY = StoreRow()


def batch(
    puts: list[PutItem] | None = None,
    deletes: list[DeleteItem] | None = None,
    *,
    generation: int = 0,
    incarnation: str = INC,
) -> Batch:
    return Batch(incarnation, generation, WRITE, tuple(puts or ()), tuple(deletes or ()))


def test_every_item_gets_the_next_generation_as_its_version() -> None:
    row = StoreRow(generation=7, incarnation=INC, objects=2, bytes=30)
    stored = {A: Stored(version=3, size=10), B: Stored(version=6, size=20)}
    plan = plan_batch(
        batch([PutItem(A, 3, b"x" * 15), PutItem(C, 0, b"y")], [DeleteItem(B, 6, b"t")], generation=7),
        stored,
        row,
        100,
    )  # fmt: skip
    # B became a tombstone of 1 byte: live objects A and C, bytes 15 + 1 + 1.
    assert (plan.generation, plan.objects, plan.bytes) == (8, 2, 17)
    assert plan.versions == {A: 8, C: 8, B: 8}


def test_a_batch_based_on_an_older_generation_is_refused() -> None:
    row = StoreRow(generation=5, incarnation=INC)
    with pytest.raises(Conflict) as err:
        plan_batch(batch([PutItem(A, 0, b"")], generation=4), {}, row, 100)
    assert err.value.info.state.generation == 5 and err.value.info.current == {A: 0}
    with pytest.raises(Conflict):
        plan_batch(batch([PutItem(A, 0, b"")], generation=6), {}, row, 100)


def test_another_incarnation_is_refused_and_a_store_without_one_takes_the_batchs() -> None:
    row = StoreRow(generation=5, incarnation=INC)
    with pytest.raises(Conflict) as err:
        plan_batch(batch([PutItem(A, 0, b"")], generation=5, incarnation=OTHER_INC), {}, row, 100)
    assert err.value.info.state.incarnation == INC
    erased = StoreRow(generation=5, incarnation=None, erased=True)
    plan = plan_batch(
        batch([PutItem(A, 0, b"")], generation=5, incarnation=OTHER_INC), {}, erased, 100
    )
    assert plan.generation == 6


def test_every_mismatch_is_reported_with_all_current_versions_and_write_ids() -> None:
    row = StoreRow(generation=2, incarnation=INC, objects=1, bytes=1)
    stored = {A: Stored(version=2, size=1, write_id="4" * 32)}
    with pytest.raises(Conflict) as err:
        plan_batch(batch([PutItem(A, 1, b""), PutItem(B, 0, b"")], [DeleteItem(C, 0, b"t")],
                         generation=2), stored, row, 100)  # fmt: skip
    assert err.value.info.current == {A: 2, B: 0, C: 0}
    assert err.value.info.write_ids == {A: "4" * 32}


def test_version_zero_matches_an_absent_key_or_a_tombstone_and_nothing_else() -> None:
    row = StoreRow(generation=4, incarnation=INC, objects=1, bytes=2)
    tomb = {A: Stored(version=3, size=1, deleted=True)}
    plan = plan_batch(
        batch([PutItem(A, 0, b"x"), PutItem(C, 0, b"y")], generation=4), tomb, row, 100
    )
    assert plan.versions == {A: 5, C: 5} and plan.objects == 3
    # A tombstone may also be named by its own version.
    assert plan_batch(batch([PutItem(A, 3, b"x")], generation=4), tomb, row, 100).objects == 2
    with pytest.raises(Conflict):
        live = {B: Stored(version=4, size=1)}
        plan_batch(batch([PutItem(B, 0, b"z")], generation=4), live, row, 100)


def test_a_delete_names_the_version_it_deletes() -> None:
    row = StoreRow(generation=4, incarnation=INC, objects=1, bytes=1)
    stored = {B: Stored(version=4, size=1)}
    plan = plan_batch(batch(deletes=[DeleteItem(B, 4, b"tomb")], generation=4), stored, row, 100)
    assert (plan.objects, plan.bytes, plan.versions) == (0, 4, {B: 5})
    with pytest.raises(Conflict):
        plan_batch(batch(deletes=[DeleteItem(B, 3, b"t")], generation=4), stored, row, 100)


def test_the_incarnation_is_checked_before_the_generation_and_both_before_the_quota() -> None:
    row = StoreRow(generation=1, incarnation=INC, objects=0, bytes=0)
    with pytest.raises(Conflict, match="incarnation"):
        plan_batch(
            batch([PutItem(A, 0, b"x" * 50)], generation=0, incarnation=OTHER_INC), {}, row, 10
        )
    with pytest.raises(Conflict, match="generation"):
        plan_batch(batch([PutItem(A, 0, b"x" * 50)], generation=0), {}, row, 10)
    with pytest.raises(QuotaExceeded):
        plan_batch(batch([PutItem(A, 0, b"x" * 50)], generation=1), {}, row, 10)


def test_quota_refuses_growth_only() -> None:
    with pytest.raises(QuotaExceeded):
        plan_batch(batch([PutItem(A, 0, b"x" * 11)]), {}, EMPTY, 10)
    over = StoreRow(generation=1, incarnation=INC, objects=1, bytes=50)
    plan = plan_batch(batch([PutItem(A, 1, b"x" * 40)], generation=1), {A: Stored(1, 50)}, over, 10)
    assert plan.bytes == 40


def test_an_export_page_holds_at_least_one_object_and_stays_within_its_budget() -> None:
    assert export_page_end([(A, EXPORT_PAGE_BYTES * 2), (B, 1)]) == A
    assert export_page_end([(A, 1), (B, EXPORT_PAGE_BYTES), (C, 1)]) == A
    assert export_page_end([(A, 1), (B, 2), (C, 3)]) == C


def test_a_feed_page_never_splits_a_generation() -> None:
    assert feed_cut([1, 2, 2], 5) == 3
    assert feed_cut([1, 2, 2, 3], 3) == 3
    assert feed_cut([1, 2, 2, 2], 3) == 1
    assert feed_cut([2, 2, 2, 2], 3) == 0  # the caller reads generation 2 whole


@given(st.lists(st.integers(1, 6), max_size=30).map(sorted), st.integers(1, 10))
def test_feed_cut_keeps_whole_generations_and_as_many_as_fit(
    versions: list[int], limit: int
) -> None:
    rows = versions[: limit + 1]
    keep = feed_cut(rows, limit)
    assert keep <= limit
    if len(rows) <= limit:
        assert keep == len(rows)
    elif keep:
        assert rows[keep - 1] != rows[keep]  # the cut falls between two generations
        assert all(v == rows[keep] for v in rows[keep : limit + 1])
    else:
        assert all(v == rows[0] for v in rows)
