"""The write ids a device remembers sending: a short record every batch rewrites, an older one."""

from __future__ import annotations

import json

import pytest

from cairn.backup.localrecords import SENT_KEPT, SENT_RECENT_KEPT, SentIds
from cairn.backup.localstate import SENT, SENT_RECENT, read_sent, remember_sent
from cairn.storage import SqliteStore


@pytest.fixture
def store(tmp_path):
    opened = SqliteStore(tmp_path / "wallet.sqlite")
    yield opened
    opened.close()


def _remember(store, write_id):
    store.batch(remember_sent(store, [write_id]))


def test_every_id_is_remembered_and_the_newest_is_always_a_recent_one(store):
    ids = [f"{i:032x}" for i in range(3 * SENT_RECENT_KEPT + 5)]
    for write_id in ids:
        _remember(store, write_id)
        assert write_id in read_sent(store.get_many([SENT_RECENT]), with_older=False).recent
    sent = read_sent(store.get_many([SENT_RECENT, SENT]), with_older=True)
    assert all(write_id in sent for write_id in ids)
    assert "f" * 32 not in sent
    assert len(json.loads(store.get(SENT_RECENT))) <= SENT_RECENT_KEPT


def test_a_batch_rewrites_only_the_short_record_until_it_fills_up(store):
    _remember(store, "a" * 32)
    assert store.get(SENT) is None
    older = store.get(SENT)
    for i in range(SENT_RECENT_KEPT - 1):
        _remember(store, f"{i:032x}")
        assert store.get(SENT) == older
    _remember(store, "b" * 32)  # one past: all but the newest move to the older ones
    assert json.loads(store.get(SENT_RECENT)) == ["b" * 32]
    assert len(json.loads(store.get(SENT))) == SENT_RECENT_KEPT


def test_the_oldest_ids_are_forgotten_past_the_limit(store):
    ids = [f"{i:032x}" for i in range(SENT_KEPT + 2 * SENT_RECENT_KEPT)]
    for write_id in ids:
        _remember(store, write_id)
    sent = read_sent(store.get_many([SENT_RECENT, SENT]), with_older=True)
    assert ids[0] not in sent
    assert all(write_id in sent for write_id in ids[-SENT_KEPT:])


def test_ids_kept_by_an_earlier_version_in_one_record_are_still_known(store):
    # Before the recent record existed, every id was in SENT.
    store.put(SENT, json.dumps(["c" * 32, "d" * 32]).encode())
    _remember(store, "e" * 32)
    sent = read_sent(store.get_many([SENT_RECENT, SENT]), with_older=True)
    assert "c" * 32 in sent and "d" * 32 in sent and "e" * 32 in sent


def test_asking_about_an_older_id_that_was_not_read_is_an_error():
    sent = SentIds(("a" * 32,), None)
    assert "a" * 32 in sent
    with pytest.raises(LookupError):
        _ = "b" * 32 in sent


def test_the_prediction_of_a_batch_ahead_matches_what_is_written(store):
    predicted = SentIds()
    for i in range(SENT_RECENT_KEPT + 4):
        write_id = f"{i:032x}"
        predicted = predicted.appended(write_id)
        _remember(store, write_id)
        written = read_sent(store.get_many([SENT_RECENT, SENT]), with_older=True)
        assert predicted == written
