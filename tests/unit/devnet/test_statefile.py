"""The devnet state file: a real SQLite file, reopened."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cairn.devnet.chain import Chain
from cairn.devnet.statefile import StateFile

NOW = 1_700_000_000
SCRIPT = bytes.fromhex("0014" + "44" * 20)


def test_a_new_file_holds_a_new_chain(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "s.sqlite")
    chain = state.load(NOW)
    state.close()
    assert chain.tip_height == 1

    again = StateFile(tmp_path / "s.sqlite")
    assert [b.hash for b in again.load(NOW + 999).blocks] == [b.hash for b in chain.blocks]


def test_blocks_and_mempool_survive_reopening(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "s.sqlite")
    chain = state.load(NOW)
    confirmed = chain.faucet(SCRIPT, 1_000)
    chain.mine(3, NOW)
    pending = chain.faucet(SCRIPT, 2_000)
    state.save(chain)
    state.save(chain)  # saving twice appends nothing twice
    state.close()

    reopened = StateFile(tmp_path / "s.sqlite").load(NOW)

    assert reopened.tip.hash == chain.tip.hash
    assert reopened.confirmations[confirmed] == chain.confirmations[confirmed]
    assert reopened.mempool == [pending]


def test_settings_survive_reopening(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "s.sqlite")
    state.set_setting("fee_estimates", {"1": 3.5})
    state.close()
    assert StateFile(tmp_path / "s.sqlite").get_setting("fee_estimates") == {"1": 3.5}


def test_a_tampered_block_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    StateFile(path).load(NOW)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE blocks SET hash = ? WHERE height = 1", ("00" * 32,))
    with pytest.raises(ValueError, match="corrupt at height 1"):
        StateFile(path).load(NOW)


def test_a_file_from_another_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ValueError, match="version 99"):
        StateFile(path)


def test_restore_keeps_the_chain_that_was_saved(tmp_path: Path) -> None:
    chain = Chain.create(NOW)
    state = StateFile(tmp_path / "s.sqlite")
    state.save(chain)
    state.close()
    assert StateFile(tmp_path / "s.sqlite").load(NOW + 5).tip.hash == chain.tip.hash


def test_a_reorg_is_saved_in_place_of_the_old_blocks(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "s.sqlite")
    chain = state.load(NOW)
    chain.mine(3, NOW)
    state.save(chain)
    chain.reorg(2, 1, NOW)
    state.save(chain)
    state.close()

    reopened = StateFile(tmp_path / "s.sqlite").load(NOW)

    assert [b.hash for b in reopened.blocks] == [b.hash for b in chain.blocks]
    assert reopened.tip_height == 3
