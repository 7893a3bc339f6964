"""Labels as records and BIP-329 JSONL: round trips, pass-through fields, clear line errors."""

from __future__ import annotations

import json

import pytest

from cairn.events import Event, EventBus, LabelChanged
from cairn.keys import Network
from cairn.storage import MemoryStore
from cairn.wallet.labels import LabelBook, LabelError, parse_labels

TXID = "f91d0a8a78462bc59398f2c5d7a84fcff491c26ba54c4833478b202796c8aafd"
ADDRESS = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"


@pytest.fixture
def bus_events() -> tuple[EventBus, list[Event]]:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return bus, seen


def test_set_stores_a_record_and_publishes(bus_events):
    bus, seen = bus_events
    store = MemoryStore()
    book = LabelBook(store, bus)
    book.set("tx", TXID, "  rent  ")
    assert book.get("tx", TXID) == "rent"
    record = store.get(f"labels/tx/{TXID}")
    assert record is not None
    assert json.loads(record) == {"type": "tx", "ref": TXID, "label": "rent"}
    assert seen == [LabelChanged("tx", TXID, "rent")]
    assert LabelBook(store, bus).get("tx", TXID) == "rent"  # read back from records


def test_blank_or_none_removes_the_label(bus_events):
    bus, seen = bus_events
    store = MemoryStore()
    book = LabelBook(store, bus)
    book.set("addr", ADDRESS, "from Alice")
    book.set("addr", ADDRESS, "   ")
    book.set("addr", ADDRESS, None)  # already gone: no second event
    assert store.get(f"labels/addr/{ADDRESS}") is None
    assert seen == [
        LabelChanged("addr", ADDRESS, "from Alice"),
        LabelChanged("addr", ADDRESS, None),
    ]


@pytest.mark.parametrize(
    ("type_", "ref"),
    [("tx", "not-a-txid"), ("colour", TXID), ("addr", ""), ("output", TXID)],
)
def test_bad_references_are_refused(type_: str, ref: str):
    with pytest.raises(LabelError):
        LabelBook(MemoryStore(), EventBus()).set(type_, ref, "x")


@pytest.mark.parametrize("text", ["x" * 10_001, "rent \udcff", "\ud800"])
def test_text_that_cannot_be_a_label_is_refused_as_it_is_set_or_imported(text: str):
    book = LabelBook(MemoryStore(), EventBus())
    with pytest.raises(LabelError):
        book.set("tx", TXID, text)
    line = json.dumps({"type": "tx", "ref": TXID, "label": text})  # "\ud800" is valid JSON
    result = book.import_jsonl(line)
    assert (result.imported, [e.line for e in result.errors]) == (0, [1])
    assert book.get("tx", TXID) is None


def test_export_then_import_into_another_wallet_round_trips():
    source = LabelBook(MemoryStore(), EventBus())
    source.set("tx", TXID, "coffee ☕")
    source.set("addr", ADDRESS, 'for "Bob"')
    exported = source.export_jsonl()
    assert exported.endswith("\n")
    assert len(exported.splitlines()) == 2
    target = LabelBook(MemoryStore(), EventBus())
    result = target.import_jsonl(exported)
    assert result.imported == 2
    assert result.errors == []
    assert target.get("tx", TXID) == "coffee ☕"
    assert target.get("addr", ADDRESS) == 'for "Bob"'
    assert target.export_jsonl() == exported


def test_other_types_and_fields_pass_through():
    lines = [
        {"type": "output", "ref": f"{TXID}:1", "label": "change", "spendable": False},
        {
            "type": "xpub",
            "ref": "tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4N",
            "label": "acct",
        },
        {"type": "tx", "ref": TXID, "label": "rent", "origin": "wpkh([73c5da0a/84'/1'/0'])"},
        {"type": "pubkey", "ref": "02" + "11" * 32, "label": "key"},
        {"type": "input", "ref": f"{TXID}:0", "label": "in"},
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    book = LabelBook(MemoryStore(), EventBus())
    result = book.import_jsonl(text)
    assert result.errors == []
    exported = [json.loads(line) for line in book.export_jsonl().splitlines()]
    assert sorted(exported, key=lambda d: (d["type"], d["ref"])) == sorted(
        lines, key=lambda d: (d["type"], d["ref"])
    )


def test_invalid_lines_are_reported_and_valid_ones_kept(bus_events):
    bus, seen = bus_events
    text = "\n".join(
        [
            json.dumps({"type": "tx", "ref": TXID, "label": "ok"}),
            "{broken json",
            json.dumps(["not", "an", "object"]),
            json.dumps({"type": "tx", "label": "no ref"}),
            json.dumps({"type": "wallet", "ref": "x", "label": "unknown type"}),
            json.dumps({"type": "tx", "ref": "abc", "label": "bad txid"}),
            json.dumps({"type": "addr", "ref": ADDRESS, "label": 5}),
            "",
            json.dumps({"type": "addr", "ref": ADDRESS, "label": "kept"}),
        ]
    )
    book = LabelBook(MemoryStore(), bus)
    result = book.import_jsonl(text)
    assert result.imported == 2
    assert [error.line for error in result.errors] == [2, 3, 4, 5, 6, 7]
    reasons = [error.reason for error in result.errors]
    assert reasons[0] == "not valid JSON"
    assert reasons[1] == "not a JSON object"
    assert reasons[2] == 'missing "ref"'
    assert "unknown label type" in reasons[3]
    assert "64 hex" in reasons[4]
    assert reasons[5] == '"label" must be a string'
    assert book.get("tx", TXID) == "ok"
    assert book.get("addr", ADDRESS) == "kept"
    assert {type(event) for event in seen} == {LabelChanged}
    assert len(seen) == 2


def test_reimporting_the_same_labels_changes_nothing(bus_events):
    bus, seen = bus_events
    store = MemoryStore()
    book = LabelBook(store, bus)
    book.set("tx", TXID, "rent")
    exported = book.export_jsonl()
    seen.clear()
    pending_before = store.outbox_stats().count
    book.import_jsonl(exported)
    assert seen == []
    assert store.outbox_stats().count == pending_before


def test_parse_labels_skips_blank_lines():
    labels, errors = parse_labels("\n\n" + json.dumps({"type": "tx", "ref": TXID}) + "\n\n")
    assert errors == []
    assert labels[0].label is None


MAINNET_ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # the BIP84 test vector


def test_an_import_merges_and_keeps_what_the_file_does_not_say(bus_events):
    bus, seen = bus_events
    store = MemoryStore()
    book = LabelBook(store, bus)
    book.set("addr", ADDRESS, "rent from Bob")
    book.set("tx", TXID, "old text")
    text = "\n".join(
        json.dumps(line)
        for line in [
            {"type": "addr", "ref": ADDRESS, "origin": "wpkh([73c5da0a/84'/1'/0'])"},  # no label
            {"type": "tx", "ref": TXID, "label": "new text"},
            {"type": "output", "ref": f"{TXID}:0", "label": "cold storage"},
        ]
    )
    seen.clear()
    result = book.import_jsonl(text, Network.REGTEST)
    assert (result.imported, result.changed, result.unchanged, result.errors) == (3, 3, 0, [])
    assert book.get("addr", ADDRESS) == "rent from Bob"  # the line had no label: kept
    assert book.get("tx", TXID) == "new text"
    assert book.get("output", f"{TXID}:0") == "cold storage"
    exported = {(d["type"], d["ref"]): d for d in map(json.loads, book.export_jsonl().splitlines())}
    assert exported[("addr", ADDRESS)]["origin"] == "wpkh([73c5da0a/84'/1'/0'])"
    assert len(seen) == 3
    # Every change is queued for backup like any label change.
    assert store.pending_for([f"labels/addr/{ADDRESS}", f"labels/output/{TXID}:0"])
    again = book.import_jsonl(text, Network.REGTEST)
    assert (again.changed, again.unchanged) == (0, 3)
    assert again.summary() == "0 labels imported, 3 already here."


def test_hostile_lines_are_skipped_with_reasons_and_nothing_is_lost():
    book = LabelBook(MemoryStore(), EventBus())
    book.set("tx", TXID, "keep me")
    lines = [
        b"{not json",
        json.dumps({"type": "wallet", "ref": "x", "label": "unknown type"}).encode(),
        json.dumps({"type": "tx", "ref": TXID, "label": "x" * 70_000}).encode(),  # huge line
        b"\xff\xfe not utf-8",
        json.dumps({"type": "addr", "ref": MAINNET_ADDRESS, "label": "mainnet"}).encode(),
        json.dumps({"type": "addr", "ref": "not-an-address", "label": "junk"}).encode(),
        json.dumps({"type": "addr", "ref": ADDRESS, "label": "fine"}).encode(),
        b"[" * 30_000 + b"]" * 30_000,  # valid JSON that no parser should recurse through
    ]
    result = book.import_jsonl(b"\n".join(lines), Network.REGTEST)
    reasons = {error.line: error.reason for error in result.errors}
    assert reasons == {
        1: "not valid JSON",
        2: 'unknown label type "wallet" (BIP-329 has tx, addr, pubkey, input, output, xpub)',
        3: "longer than 64 KiB, not a label",
        4: "not UTF-8 text",
        5: "a mainnet (bitcoin) address, but this wallet is on regtest",
        6: "an addr label's ref must be a Bitcoin address",
        8: "nested too deeply, not a label",
    }
    assert result.imported == 1
    assert book.get("tx", TXID) == "keep me"
    assert book.get("addr", ADDRESS) == "fine"
    assert book.get("addr", MAINNET_ADDRESS) is None
    summary = result.summary()
    assert summary.startswith("1 label imported. 7 lines skipped (line 1: not valid JSON; ")
    assert summary.endswith("; and 2 more lines).")


def test_a_file_far_too_large_for_labels_is_refused_whole():
    book = LabelBook(MemoryStore(), EventBus())
    line = json.dumps({"type": "tx", "ref": TXID, "label": "x"}).encode() + b"\n"
    with pytest.raises(LabelError, match="larger than 16 MiB"):
        book.import_jsonl(line * (17 * 1024 * 1024 // len(line)), Network.REGTEST)
    assert book.all() == []


def test_a_label_an_older_cairn_stored_under_an_upper_case_ref_is_the_same_label(bus_events):
    bus, _seen = bus_events
    store = MemoryStore()
    old = f"labels/tx/{TXID.upper()}"
    store.put(old, json.dumps({"type": "tx", "ref": TXID.upper(), "label": "rent"}).encode())
    book = LabelBook(store, bus)
    assert book.get("tx", TXID) == book.get("tx", TXID.upper()) == "rent"
    assert [(label.type, label.ref) for label in book.all()] == [("tx", TXID)]
    # Its next change is stored under the one name, and the old record goes.
    book.set("tx", TXID, "rent, March")
    assert store.get(old) is None
    assert json.loads(store.get(f"labels/tx/{TXID}") or b"")["label"] == "rent, March"
    assert LabelBook(store, bus).all() == book.all()


@pytest.mark.parametrize("text", ["\udcff", "rent \udc80"])
def test_text_that_is_not_utf8_is_refused_set_or_imported(text: str):
    book = LabelBook(MemoryStore(), EventBus())
    with pytest.raises(LabelError, match="UTF-8"):
        book.set("tx", TXID, text)
    line = json.dumps({"type": "tx", "ref": TXID, "label": text})  # "\udcff" as a JSON escape
    result = book.import_jsonl(line + "\n")
    assert result.imported == 0 and "UTF-8" in result.errors[0].reason
    assert book.all() == []


def test_an_import_keeps_a_label_as_set_would_and_escapes_what_it_quotes():
    padded = json.dumps({"type": "tx", "ref": TXID, "label": "  rent \n"})
    # Past the limit only by its padding: what is kept is within it, as `set` keeps it.
    long = json.dumps({"type": "tx", "ref": TXID.replace("f", "e"), "label": "x" * 10_000 + " "})
    hostile = json.dumps({"type": "tx\x1b[2J", "ref": TXID, "label": "x"})
    labels, errors = parse_labels("\n".join([padded, long, hostile]))
    assert [label.label for label in labels] == ["rent", "x" * 10_000]
    assert len(errors) == 1 and "\x1b" not in errors[0].reason and "\\x1b" in errors[0].reason
