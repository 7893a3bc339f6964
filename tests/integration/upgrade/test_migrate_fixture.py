"""Migrating the committed format-1 fixture: everything it held is in the new wallet."""

from __future__ import annotations

import json
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cairn.backup.localstate import full_backup_reason
from cairn.config import load_config
from cairn.keys import mnemonic_to_seed
from cairn.seedfile import load_seed, seed_protection
from cairn.storage import SqliteStore
from cairn.upgrade import (
    FULL_BACKUP_REASON,
    UnknownFormatError,
    UpgradeError,
    detect_format,
    upgrade_data_dir,
    upgrade_wallet_dir,
)
from cairn.upgrade.compare import compare_wallets, read_legacy
from cairn.wallet import CairnWallet, Direction
from tests.integration.upgrade.helpers import (
    FIXTURE,
    INPUTS,
    NETWORK,
    REPORT,
    copy_fixture,
    dump_records,
    legacy_bytes,
    sqlite_ok,
)

OFFLINE = "http://127.0.0.1:9"


@pytest.fixture
def migrated(tmp_path: Path) -> tuple[Path, Path]:
    """(data dir, wallet dir) of a migrated copy of the fixture."""
    data_dir = tmp_path / "data"
    wallet_dir = copy_fixture(data_dir)
    results = upgrade_data_dir(data_dir)
    assert [r.migrated for r in results] == [True]
    return data_dir, wallet_dir


def open_wallet(wallet_dir: Path) -> tuple[SqliteStore, CairnWallet]:
    phrase, passphrase = load_seed(wallet_dir)
    store = SqliteStore(wallet_dir / "records.sqlite")
    wallet = CairnWallet.open(
        store, mnemonic_to_seed(phrase, passphrase), NETWORK, esplora_url=OFFLINE
    )
    return store, wallet


def test_every_transaction_comes_over_with_its_confirmation(migrated: tuple[Path, Path]) -> None:
    _, wallet_dir = migrated
    legacy = read_legacy(FIXTURE / "data" / "wallets" / NETWORK.value, NETWORK)
    store, wallet = open_wallet(wallet_dir)
    try:
        history = {item.txid: item for item in wallet.history()}
        created = REPORT["funding"] + REPORT["payment"] + REPORT["pending"]
        assert set(created) <= set(history)
        assert set(history) == set(legacy.transactions)
        for txid, position in legacy.transactions.items():
            item = history[txid]
            if position is None:
                assert item.height is None and item.confirmations == 0
            else:
                assert (item.height, item.time) == (position[0], position[2])
                assert item.confirmations == REPORT["tip_height"] - position[0] + 1
        assert {history[t].direction for t in REPORT["payment"]} == {Direction.OUT}
        assert [history[t].amount_sat for t in REPORT["payment"]] == [
            p["amount_sat"] for p in INPUTS["payments"]
        ]
        assert not any(history[t].confirmed for t in REPORT["pending"])
        assert wallet.balance().total_sat == REPORT["balance_sat"] == legacy.balance_sat
        # Addresses handed out stay handed out: the next one is new, no rescan is needed.
        assert wallet.revealed_index() == len(REPORT["address"]) - 1 == legacy.external_index
        assert not wallet.needs_full_scan()
        assert wallet.sync_status.height == REPORT["tip_height"]
    finally:
        wallet.close()
        store.close()


def test_labels_settings_and_seed_come_over(migrated: tuple[Path, Path]) -> None:
    data_dir, wallet_dir = migrated
    store, wallet = open_wallet(wallet_dir)
    try:
        legacy_labels = [
            json.loads(line)
            for line in (FIXTURE / "data/wallets/regtest/labels.jsonl").read_text().splitlines()
        ]

        def key(label: dict[str, str]) -> tuple[str, str]:
            return (label["type"], label["ref"])

        assert sorted((label.to_json() for label in wallet.labels()), key=key) == sorted(
            legacy_labels, key=key
        )
        assert wallet.label("tx", REPORT["payment"][1]) == "Bike — Émile's shop"
        assert wallet.preference("email") == INPUTS["settings"]["email"]
        assert wallet.preference("fiat_currency") == "EUR"
        assert wallet.preference("unit") == "sat"
        assert wallet.preference("esplora_url") is None  # app configuration, not a preference
    finally:
        wallet.close()
        store.close()
    assert load_seed(wallet_dir) == (INPUTS["mnemonic"], "")
    assert seed_protection(wallet_dir) == "plain"  # no keyring on the test machines
    assert stat.S_IMODE((wallet_dir / "seed").stat().st_mode) == 0o600
    assert stat.S_IMODE((wallet_dir / "records.sqlite").stat().st_mode) == 0o600
    assert not (wallet_dir / "seed.txt").exists()
    config = load_config(data_dir)
    assert (config.network, config.esplora_url) == (NETWORK, "http://127.0.0.1:3002")


def test_the_new_directory_is_format_2_with_the_full_backup_required(
    migrated: tuple[Path, Path],
) -> None:
    _, wallet_dir = migrated
    assert (wallet_dir / "format").read_text() == "2\n"
    assert detect_format(wallet_dir) == 2
    assert sorted(p.name for p in wallet_dir.iterdir()) == [
        "format",
        "records.sqlite",
        "seed",
        "upgrade-backup",
    ]
    with SqliteStore(wallet_dir / "records.sqlite") as store:
        assert full_backup_reason(store) == FULL_BACKUP_REASON
        backed_up = {name for name, _ in store.snapshot().records}
        queued = {entry.name for entry in store.outbox_pending(1000)}
    assert backed_up == queued  # every record is also waiting for the uploader
    assert all(not name.startswith("local/") for name in queued)


def test_the_legacy_files_are_kept_in_upgrade_backup(migrated: tuple[Path, Path]) -> None:
    _, wallet_dir = migrated
    original = FIXTURE / "data" / "wallets" / NETWORK.value
    backup = wallet_dir / "upgrade-backup"
    assert sorted(p.name for p in backup.iterdir()) == [
        "labels.jsonl",
        "settings.json",
        "wallet.sqlite",
    ]
    assert sqlite_ok(backup / "wallet.sqlite")
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    counts = "SELECT (SELECT count(*) FROM bdk_txs), (SELECT count(*) FROM bdk_anchors)"
    for query in (tables, counts):
        with (
            sqlite3.connect(backup / "wallet.sqlite") as copy,
            sqlite3.connect(f"file:{original / 'wallet.sqlite'}?mode=ro", uri=True) as source,
        ):
            assert copy.execute(query).fetchall() == source.execute(query).fetchall()
    for name in ("settings.json", "labels.jsonl"):
        assert (backup / name).read_bytes() == (original / name).read_bytes()
    assert "seed.txt" not in {p.name for p in backup.iterdir()}


def test_compare_finds_nothing_missing(migrated: tuple[Path, Path]) -> None:
    _, wallet_dir = migrated
    result = compare_wallets(FIXTURE / "data" / "wallets" / NETWORK.value, wallet_dir, NETWORK)
    assert result.problems == []
    assert result.summary()["transactions"] == 7


def test_running_it_again_changes_nothing(migrated: tuple[Path, Path]) -> None:
    data_dir, wallet_dir = migrated
    before = dump_records(wallet_dir / "records.sqlite")
    results = upgrade_data_dir(data_dir)
    assert [(r.format_before, r.migrated, r.cleaned) for r in results] == [(2, False, [])]
    assert dump_records(wallet_dir / "records.sqlite") == before


def test_new_wallets_never_get_the_flag(tmp_path: Path) -> None:
    wallet_dir = tmp_path / "wallets" / "regtest"
    wallet_dir.mkdir(parents=True)
    assert upgrade_data_dir(tmp_path)[0].format_before is None  # empty: nothing happens
    with SqliteStore(wallet_dir / "records.sqlite") as store:
        store.put("prefs/email", b"a@example.org")
    result = upgrade_wallet_dir(wallet_dir, NETWORK)
    assert (result.format_before, result.migrated) == (2, False)
    with SqliteStore(wallet_dir / "records.sqlite") as store:
        assert full_backup_reason(store) is None
    assert not (tmp_path / "config.json").exists()


def test_a_seed_that_does_not_match_leaves_the_legacy_wallet_as_it_was(tmp_path: Path) -> None:
    wallet_dir = copy_fixture(tmp_path / "data")
    (wallet_dir / "seed.txt").write_text(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
        "abandon about\n"
    )
    before = legacy_bytes(wallet_dir)
    with pytest.raises(UpgradeError, match="does not open with the recovery phrase"):
        upgrade_wallet_dir(wallet_dir, NETWORK)
    assert detect_format(wallet_dir) == 1
    assert legacy_bytes(wallet_dir) == before
    assert not (wallet_dir / "seed").exists()
    assert not (wallet_dir / "records.sqlite").exists()


def test_two_starts_at_once_take_turns(tmp_path: Path) -> None:
    reference_dir = copy_fixture(tmp_path / "reference")
    upgrade_wallet_dir(reference_dir, NETWORK)
    wallet_dir = copy_fixture(tmp_path / "data")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: upgrade_wallet_dir(wallet_dir, NETWORK), range(2)))
    assert sorted(r.migrated for r in results) == [False, True]
    assert dump_records(wallet_dir / "records.sqlite") == dump_records(
        reference_dir / "records.sqlite"
    )


def test_unreadable_legacy_lines_and_settings_are_kept_aside(tmp_path: Path) -> None:
    wallet_dir = copy_fixture(tmp_path / "data")
    labels = wallet_dir / "labels.jsonl"
    labels.write_text(labels.read_text() + '{"type": "tx", "ref": "not a txid"}\nnot json\n')
    settings = json.loads((wallet_dir / "settings.json").read_text())
    settings.update({"Bad Name!": "x", "hide_balance": True, "empty": ""})
    (wallet_dir / "settings.json").write_text(json.dumps(settings))
    result = upgrade_wallet_dir(wallet_dir, NETWORK)
    assert (result.labels, result.skipped_labels) == (7, 2)
    assert result.preferences == ["email", "fiat_currency", "hide_balance", "unit"]
    with SqliteStore(wallet_dir / "records.sqlite") as store:
        assert store.get("prefs/hide_balance") == b"true"
    # The originals, unreadable lines included, stay in upgrade-backup/.
    assert (wallet_dir / "upgrade-backup" / "labels.jsonl").read_text().endswith("not json\n")


def test_a_directory_of_a_newer_cairn_is_left_alone(tmp_path: Path) -> None:
    wallet_dir = copy_fixture(tmp_path / "data")
    (wallet_dir / "format").write_text("3\n")
    with pytest.raises(UnknownFormatError, match="newer Cairn"):
        upgrade_data_dir(tmp_path / "data")
    assert sorted(p.name for p in wallet_dir.iterdir()) == sorted(
        ["format", "seed.txt", "wallet.sqlite", "settings.json", "labels.jsonl"]
    )


def test_a_bdk_file_of_a_newer_schema_is_refused_not_half_read(tmp_path: Path) -> None:
    wallet_dir = copy_fixture(tmp_path / "data")
    with sqlite3.connect(wallet_dir / "wallet.sqlite") as bdk_db:
        bdk_db.execute("UPDATE bdk_schemas SET version = 99 WHERE name = 'bdk_txgraph'")
    before = legacy_bytes(wallet_dir)
    with pytest.raises(UpgradeError, match="bdk_txgraph is at version 99"):
        upgrade_wallet_dir(wallet_dir, NETWORK)
    assert legacy_bytes(wallet_dir) == before
    assert detect_format(wallet_dir) == 1
