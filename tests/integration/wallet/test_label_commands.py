"""`cairn wallet labels import FILE` on a real data dir: merged, queued for backup, hostile
lines named on stderr with the valid ones kept, unreadable or oversized files refused whole."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from cairn import cli
from cairn.config import wallet_dir
from cairn.keys import Network
from cairn.storage import SqliteStore
from cairn.wallet.labels import MAX_IMPORT_BYTES
from tests.integration.datadir_support import offline_wallet

TXID = "f91d0a8a78462bc59398f2c5d7a84fcff491c26ba54c4833478b202796c8aafd"
ADDRESS = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"
MAINNET_ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = offline_wallet(tmp_path / "data")
    assert cli.main(["wallet", "label", "set", "tx", TXID, "rent", "--data-dir", str(data)]) == 0
    return data


def labels_in(data: Path) -> dict[tuple[str, str], dict[str, object]]:
    store = SqliteStore(wallet_dir(data, Network.REGTEST) / "records.sqlite")
    try:
        return {
            (d["type"], d["ref"]): d
            for d in (json.loads(value) for _name, value in store.scan("labels/"))
        }
    finally:
        store.close()


def pending(data: Path) -> set[str]:
    store = SqliteStore(wallet_dir(data, Network.REGTEST) / "records.sqlite")
    try:
        return {entry.name for entry in store.outbox_pending()}
    finally:
        store.close()


def test_a_sparrow_export_is_merged_and_queued_for_backup(data_dir, tmp_path, capsys):
    exported = tmp_path / "sparrow.jsonl"
    exported.write_text(
        json.dumps({"type": "addr", "ref": ADDRESS, "label": "Shop"})
        + "\n"
        + json.dumps({"type": "output", "ref": f"{TXID}:0", "label": "cold", "spendable": False})
        + "\n"
        + json.dumps({"type": "tx", "ref": TXID, "origin": "wpkh([73c5da0a/84'/1'/0'])"})
        + "\n"
    )
    capsys.readouterr()
    code = cli.main(["wallet", "labels", "import", str(exported), "--data-dir", str(data_dir)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.strip() == "3 labels imported."
    labels = labels_in(data_dir)
    assert labels[("addr", ADDRESS)]["label"] == "Shop"
    assert labels[("output", f"{TXID}:0")]["spendable"] is False
    assert labels[("tx", TXID)]["label"] == "rent"  # the file said nothing of it: kept
    assert labels[("tx", TXID)]["origin"] == "wpkh([73c5da0a/84'/1'/0'])"
    assert {f"labels/addr/{ADDRESS}", f"labels/output/{TXID}:0"} <= pending(data_dir)


def test_hostile_lines_are_named_and_the_rest_is_imported(data_dir, tmp_path, capsys):
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_bytes(
        b"\n".join(
            [
                b"][ not json",
                json.dumps({"type": "bogus", "ref": "x", "label": "y"}).encode(),
                json.dumps({"type": "tx", "ref": TXID, "label": "z" * 100_000}).encode(),
                json.dumps({"type": "addr", "ref": MAINNET_ADDRESS, "label": "main"}).encode(),
                json.dumps({"type": "addr", "ref": ADDRESS, "label": "Shop"}).encode(),
            ]
        )
    )
    capsys.readouterr()
    code = cli.main(["wallet", "label", "import", str(hostile), "--data-dir", str(data_dir)])
    out = capsys.readouterr()
    assert code == 2
    said = out.err.splitlines()
    assert said[0] == f"cairn: {hostile}: line 1 skipped: not valid JSON"
    assert said[1].startswith(f"cairn: {hostile}: line 2 skipped: unknown label type")
    assert said[2] == f"cairn: {hostile}: line 3 skipped: longer than 64 KiB, not a label"
    assert said[3] == (
        f"cairn: {hostile}: line 4 skipped: a mainnet (bitcoin) address, "
        "but this wallet is on regtest"
    )
    assert out.out.startswith("1 label imported. 4 lines skipped (line 1: not valid JSON;")
    labels = labels_in(data_dir)
    assert labels[("addr", ADDRESS)]["label"] == "Shop"
    assert labels[("tx", TXID)]["label"] == "rent"
    assert ("addr", MAINNET_ADDRESS) not in labels


def test_unreadable_and_oversized_files_are_refused_whole(data_dir, tmp_path, capsys, monkeypatch):
    before = labels_in(data_dir)
    missing = tmp_path / "nope.jsonl"
    args = ["wallet", "labels", "import", str(missing), "--data-dir", str(data_dir)]
    assert cli.main(args) == 2
    assert f"cairn: cannot read {missing}" in capsys.readouterr().err
    line = json.dumps({"type": "addr", "ref": ADDRESS, "label": "x"}).encode() + b"\n"
    big = line * (MAX_IMPORT_BYTES // len(line) + 2)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(big)))
    assert cli.main(["wallet", "labels", "import", "-", "--data-dir", str(data_dir)]) == 2
    assert "was not imported: the file is larger than 16 MiB" in capsys.readouterr().err
    assert labels_in(data_dir) == before


def wallet_cli(data: Path, *argv: str) -> int:
    return cli.main(["wallet", *argv, "--data-dir", str(data)])


def test_a_label_set_by_hand_is_checked_as_an_import_checks_it(data_dir, tmp_path, capsys):
    assert wallet_cli(data_dir, "label", "set", "addr", "not-an-address", "x") == 2
    assert "must be a Bitcoin address" in capsys.readouterr().err
    assert wallet_cli(data_dir, "label", "set", "addr", MAINNET_ADDRESS, "x") == 2
    assert "mainnet (bitcoin) address, but this wallet is on regtest" in capsys.readouterr().err
    assert wallet_cli(data_dir, "label", "set", "addr", "bcrt1\nq", "x") == 2
    assert "cannot contain control characters" in capsys.readouterr().err
    assert wallet_cli(data_dir, "label", "set", "addr", ADDRESS, "Shop") == 0
    # What `label list` writes is always taken back by `label import`.
    exported = tmp_path / "list.jsonl"
    capsys.readouterr()
    assert wallet_cli(data_dir, "label", "list") == 0
    exported.write_text(capsys.readouterr().out)
    assert wallet_cli(data_dir, "label", "import", str(exported)) == 0
    assert "skipped" not in capsys.readouterr().err


def test_get_prints_control_characters_as_escapes_on_one_line(data_dir, capsys):
    assert wallet_cli(data_dir, "label", "set", "tx", TXID, "paid\x1b[2J\nrent") == 0
    capsys.readouterr()
    assert wallet_cli(data_dir, "label", "get", "tx", TXID) == 0
    assert capsys.readouterr().out == "paid\\x1b[2J\\nrent\n"
    assert wallet_cli(data_dir, "prefs", "set", "note", "a\tb") == 0
    assert wallet_cli(data_dir, "prefs", "get", "note") == 0
    assert capsys.readouterr().out == "a\\tb\n"


def test_the_preferences_the_app_reads_are_checked_as_its_settings_check_them(data_dir, capsys):
    assert wallet_cli(data_dir, "prefs", "set", "unit", "garbage") == 2
    assert "unit is one of BTC, sat" in capsys.readouterr().err
    assert wallet_cli(data_dir, "prefs", "set", "unit", "SAT") == 0
    assert wallet_cli(data_dir, "prefs", "get", "unit") == 0
    assert capsys.readouterr().out == "sat\n"
    assert wallet_cli(data_dir, "prefs", "set", "email", "not mail") == 2
    assert "does not look like an email address" in capsys.readouterr().err
    assert wallet_cli(data_dir, "prefs", "set", "email", " alice@example.com ") == 0
    assert wallet_cli(data_dir, "prefs", "get", "email") == 0
    assert capsys.readouterr().out == "alice@example.com\n"
    assert wallet_cli(data_dir, "prefs", "set", "unit", "") == 0  # empty: removed
    assert wallet_cli(data_dir, "prefs", "get", "unit") == 13


BASE58_ADDRESS = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"  # its case is part of it


def test_a_ref_in_upper_case_names_the_same_label_everywhere(data_dir, tmp_path, capsys):
    assert wallet_cli(data_dir, "label", "set", "tx", TXID.upper(), "Rent, March") == 0
    assert wallet_cli(data_dir, "label", "get", "tx", TXID) == 0
    assert capsys.readouterr().out == "Rent, March\n"
    assert wallet_cli(data_dir, "label", "set", "addr", ADDRESS.upper(), "Shop") == 0
    assert wallet_cli(data_dir, "label", "get", "addr", ADDRESS) == 0
    assert wallet_cli(data_dir, "label", "get", "addr", ADDRESS.upper()) == 0
    assert capsys.readouterr().out == "Shop\nShop\n"
    assert set(labels_in(data_dir)) == {("tx", TXID), ("addr", ADDRESS)}
    # A bech32 address in mixed case is no address; a base58 one is kept exactly as it is.
    mixed = ADDRESS[:10].upper() + ADDRESS[10:]
    assert wallet_cli(data_dir, "label", "set", "addr", mixed, "x") == 2
    assert "mixes upper and lower case" in capsys.readouterr().err
    assert wallet_cli(data_dir, "label", "set", "addr", BASE58_ADDRESS, "Old") == 0
    assert wallet_cli(data_dir, "label", "set", "addr", BASE58_ADDRESS.lower(), "x") == 2
    assert ("addr", BASE58_ADDRESS) in labels_in(data_dir)
    # An import names them in any case too: one label each, merged.
    exported = tmp_path / "upper.jsonl"
    exported.write_text(
        json.dumps({"type": "tx", "ref": TXID.upper(), "label": "Rent"})
        + "\n"
        + json.dumps({"type": "output", "ref": f"{TXID.upper()}:1", "label": "change"})
        + "\n"
    )
    assert wallet_cli(data_dir, "label", "import", str(exported)) == 0
    assert set(labels_in(data_dir)) == {
        ("tx", TXID),
        ("addr", ADDRESS),
        ("addr", BASE58_ADDRESS),
        ("output", f"{TXID}:1"),
    }
    capsys.readouterr()
    # And removing it in upper case removes it.
    assert wallet_cli(data_dir, "label", "set", "tx", TXID.upper(), "") == 0
    assert wallet_cli(data_dir, "label", "get", "tx", TXID) == 13


def test_what_is_not_there_is_said_on_stderr(data_dir, capsys):
    capsys.readouterr()
    assert wallet_cli(data_dir, "label", "get", "addr", ADDRESS) == 13
    out = capsys.readouterr()
    assert out.out == "" and out.err == f"cairn: no addr label for {ADDRESS}\n"
    assert wallet_cli(data_dir, "prefs", "get", "fiat_currency") == 13
    out = capsys.readouterr()
    assert out.out == "" and out.err == "cairn: no preference fiat_currency is set\n"
    assert wallet_cli(data_dir, "label", "get", "tx", "not-a-txid") == 2
    assert "must be a transaction id" in capsys.readouterr().err
