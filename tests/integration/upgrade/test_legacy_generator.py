"""The format-1 generator against a real devnet, then the upgrade and a sync on the same chain."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from cairn.keys import Network, mnemonic_to_seed
from cairn.seedfile import load_seed
from cairn.storage import SqliteStore
from cairn.upgrade import detect_format, upgrade_data_dir
from cairn.upgrade.cli import main as legacy_main
from cairn.upgrade.compare import compare_wallets
from cairn.upgrade.legacy import LegacyInputs, LegacyWalletError, Payment, create_legacy_wallet
from cairn.wallet import CairnWallet, SyncState
from tests.support.devnet import DevnetProcess
from tests.support.words import PHRASE

WORDS = PHRASE
OTHER = "bcrt1qc74th7kymdhva56ntt26yzzsn5ujz2wtz3al4w"


def small_inputs() -> LegacyInputs:
    return LegacyInputs(
        mnemonic=WORDS,
        funding=[200_000, 50_000],
        payments=[Payment(OTHER, 70_000, 3.0)],
        unused_addresses=1,
        pending_funding=[25_000],
        settings={"email": "carol@example.org", "fiat_currency": "CHF"},
        labels=[
            {"type": "tx", "ref": "{payment[0]}", "label": "Coffee beans"},
            {"type": "addr", "ref": "{address[2]}", "label": "Shop"},
        ],
    )


@pytest.mark.asyncio
async def test_generated_wallet_upgrades_and_syncs_on_its_chain(
    tmp_path: Path, devnet: DevnetProcess
) -> None:
    data_dir = tmp_path / "data"
    wallet_dir = data_dir / "wallets" / "regtest"
    report = create_legacy_wallet(wallet_dir, small_inputs(), devnet.url)

    assert detect_format(wallet_dir) == 1
    assert sorted(p.name for p in wallet_dir.iterdir()) == [
        "format",
        "labels.jsonl",
        "seed.txt",
        "settings.json",
        "wallet.sqlite",
    ]
    assert (wallet_dir / "seed.txt").read_text() == WORDS + "\n"
    assert stat.S_IMODE((wallet_dir / "seed.txt").stat().st_mode) == 0o600
    with sqlite3.connect(wallet_dir / "wallet.sqlite") as bdk_db:
        assert bdk_db.execute("SELECT count(*) FROM bdk_txs").fetchone() == (4,)
        assert bdk_db.execute("SELECT count(*) FROM bdk_anchors").fetchone() == (3,)
    settings = json.loads((wallet_dir / "settings.json").read_text())
    assert settings == {
        "network": "regtest",
        "esplora_url": devnet.url,
        "email": "carol@example.org",
        "fiat_currency": "CHF",
    }
    labels = [json.loads(line) for line in (wallet_dir / "labels.jsonl").read_text().splitlines()]
    assert labels == [
        {"type": "tx", "ref": report.payment[0], "label": "Coffee beans"},
        {"type": "addr", "ref": report.address[2], "label": "Shop"},
    ]
    fee = 200_000 + 50_000 + 25_000 - 70_000 - report.balance_sat
    assert 0 < fee < 1_000  # one payment at 3 sat/vB

    legacy_copy = tmp_path / "legacy-copy"
    legacy_copy.mkdir()
    for path in wallet_dir.iterdir():
        (legacy_copy / path.name).write_bytes(path.read_bytes())
    assert [r.migrated for r in upgrade_data_dir(data_dir)] == [True]
    assert compare_wallets(legacy_copy, wallet_dir, Network.REGTEST).problems == []

    # On the chain it came from, the upgraded wallet syncs without a rescan and sees the
    # pending payment confirm.
    devnet.mine(1)
    with SqliteStore(wallet_dir / "records.sqlite") as store:
        wallet = CairnWallet.open(
            store,
            mnemonic_to_seed(load_seed(wallet_dir)[0]),
            Network.REGTEST,
            esplora_url=devnet.url,
        )
        try:
            assert not wallet.needs_full_scan()
            status = await wallet.sync()
            assert (status.state, status.error) == (SyncState.ONLINE, None)
            assert status.height == report.tip_height + 1
            pending = {item.txid: item for item in wallet.history()}[report.pending[0]]
            assert pending.confirmations == 1
            assert wallet.balance().confirmed_sat == report.balance_sat
        finally:
            wallet.close()


def test_the_generator_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "seed").write_text("{}")
    with pytest.raises(LegacyWalletError, match="not empty"):
        create_legacy_wallet(tmp_path / "w", small_inputs(), "http://127.0.0.1:9")


def test_the_command_writes_and_compares(tmp_path: Path, devnet: DevnetProcess, capsys) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(small_inputs().to_json()))
    data_dir = tmp_path / "qa"
    code = legacy_main(
        ["create", "--data-dir", str(data_dir), "--devnet-url", devnet.url, "--inputs", str(inputs)]
    )
    assert code == 0
    legacy_copy = tmp_path / "legacy-copy"
    (data_dir / "wallets" / "regtest").rename(legacy_copy)
    (data_dir / "wallets" / "regtest").mkdir()
    for path in legacy_copy.iterdir():
        (data_dir / "wallets" / "regtest" / path.name).write_bytes(path.read_bytes())
    assert legacy_main(["migrate", "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    assert legacy_main(["compare", "--legacy", str(legacy_copy), "--data-dir", str(data_dir)]) == 0
    assert "OK: everything the legacy wallet held is there" in capsys.readouterr().out
    # Something missing makes it fail: drop a label from the migrated store.
    with SqliteStore(data_dir / "wallets" / "regtest" / "records.sqlite") as store:
        (name, _), *_ = store.scan("labels/")
        store.delete(name)
    assert legacy_main(["compare", "--legacy", str(legacy_copy), "--data-dir", str(data_dir)]) == 1
    assert "MISSING: the " in capsys.readouterr().out
