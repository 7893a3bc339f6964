"""The promise, end to end: a laptop dies, twelve words on a new machine bring everything back.

A wallet is used through the session (as the app does), against a real devnet and a real
cairn-backupd; the data dir is wiped; `cairn restore` (a separate process, words on standard
input) rebuilds it; the reopened wallet has the same funds, history, labels, email and the next
unused address — and `cairn backup status` says nothing is pending.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from cairn.config import AppConfig, save_config
from cairn.keys import Network
from cairn.session import Session
from tests.support.words import WORDS as TEST_WORDS

WORDS = list(TEST_WORDS)


def configure(path, backupd, devnet) -> None:
    save_config(
        path,
        AppConfig(
            network=Network.REGTEST,
            backup_server_url=backupd.url,
            esplora_url=devnet.url,
            devnet_url=devnet.url,
        ),
    )


def cairn(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def use_the_wallet(session: Session, devnet) -> dict[str, object]:
    await session.create_wallet(WORDS, email="dana@example.com")
    await session.run_initial_backup()
    await session.start()
    wallet = session.require_wallet()
    paid = await wallet.next_receive_address()
    devnet.faucet(paid.address, 250_000)
    devnet.mine(1)
    await wallet.sync()
    handed_out = await wallet.next_receive_address()  # given to someone, never paid yet
    txid = wallet.history()[0].txid
    await wallet.set_label("tx", txid, "Rent, November")
    await wallet.set_label("addr", handed_out.address, "Invoice 42")
    await wallet.set_preference("fiat_currency", "EUR")
    await session.back_up_now()
    return {
        "balance": wallet.balance(),
        "history": [(h.txid, h.amount_sat, h.label) for h in wallet.history()],
        "labels": sorted((lb.type, lb.ref, lb.label) for lb in wallet.labels()),
        "revealed": wallet.revealed_index(),
        "handed_out": handed_out.address,
    }


@pytest.mark.asyncio
async def test_twelve_words_on_a_new_machine_bring_everything_back(tmp_path, backupd, devnet):
    old_laptop = tmp_path / "old"
    configure(old_laptop, backupd, devnet)
    session = await Session.open(old_laptop)
    try:
        before = await use_the_wallet(session, devnet)
    finally:
        await session.close()
    status = json.loads(cairn("backup", "status", "--data-dir", str(old_laptop), "--json").stdout)
    assert status["pending_changes"] == 0

    shutil.rmtree(old_laptop)  # the laptop died
    new_laptop = tmp_path / "new"
    configure(new_laptop, backupd, devnet)
    restored = cairn("restore", "--data-dir", str(new_laptop), stdin=" ".join(WORDS) + "\n")
    assert restored.returncode == 0, restored.stderr
    assert "legal" not in restored.stdout + restored.stderr  # words never echoed

    session = await Session.open(new_laptop)
    try:
        await session.open_existing()
        wallet = session.require_wallet()
        # Each device learns the chain from its own chain source (checkpoints are not backed
        # up): the catch-up sync the app runs at start confirms what the backup brought back.
        await wallet.sync()
        assert wallet.balance() == before["balance"]
        assert [(h.txid, h.amount_sat, h.label) for h in wallet.history()] == before["history"]
        assert sorted((lb.type, lb.ref, lb.label) for lb in wallet.labels()) == before["labels"]
        assert session.email == "dana@example.com"
        assert wallet.preference("fiat_currency") == "EUR"
        assert wallet.revealed_index() == before["revealed"]
        fresh = await wallet.next_receive_address()
        assert fresh.address != before["handed_out"]
        assert fresh.index == before["revealed"] + 1
    finally:
        await session.close()
