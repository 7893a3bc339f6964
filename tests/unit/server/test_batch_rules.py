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
