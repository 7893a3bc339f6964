"""`cairn backup status|now` and `cairn restore` on a real data dir against a real server."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cairn import exitcodes
from cairn.commands import backup as commands
from cairn.config import AppConfig, save_config, wallet_dir
from cairn.exitcodes import EXIT_INCOMPLETE
from cairn.keys import Network
from cairn.seedfile import load_seed, save_seed
from cairn.storage import SqliteStore
from tests.integration.backup.helpers import OTHER_WORDS, current_words, records_of, sample_records

ROOT = Path(__file__).resolve().parents[3]


def make_wallet(data_dir: Path, url: str, count: int = 30) -> Path:
    save_config(data_dir, AppConfig(network=Network.REGTEST, backup_server_url=url))
    wallet = wallet_dir(data_dir, Network.REGTEST)
    wallet.mkdir(parents=True)
    save_seed(wallet, current_words(), use_keyring=False)
    store = SqliteStore(wallet / "records.sqlite")
    store.batch(sample_records(count))
    store.close()
    return wallet


def run(argv, monkeypatch, stdin: str = "") -> int:
    """main() as the `cairn` program runs it, in a thread of its own: its asyncio.run must not
    replace the event loop pytest-asyncio keeps for this thread."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(commands.main, argv).result()


def test_backup_now_then_restore_into_a_wiped_data_dir(backupd, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    wallet = make_wallet(data, backupd.url)
    assert run(["backup", "status", "--data-dir", str(data), "--json"], monkeypatch) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending_changes"] == 30 and status["last_success"] is None

    assert run(["backup", "now", "--data-dir", str(data), "--json"], monkeypatch) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sent"] == 30 and report["pending_changes"] == 0 and report["error"] is None
    expected = records_of(wallet / "records.sqlite")

    shutil.rmtree(wallet)
    code = run(["restore", "--data-dir", str(data)], monkeypatch, stdin=current_words() + "\n")
    out = capsys.readouterr()
    assert code == 0, out
    assert "restored 30 records" in out.out
    assert " ".join(current_words().split()[:3]) not in out.out + out.err  # never echoed
    assert records_of(wallet / "records.sqlite") == expected
    assert load_seed(wallet) == (current_words(), "")

    # A second restore would replace the wallet: only with --force.
    assert run(["restore", "--data-dir", str(data)], monkeypatch, stdin=current_words()) == 8


def test_status_tells_the_last_refusal_until_a_backup_succeeds(
    backupd_factory, tmp_path, monkeypatch, capsys
):
    server = backupd_factory()
    data = tmp_path / "data"
    make_wallet(data, server.url, count=3)
    server.stop()
    assert (
        run(["backup", "now", "--data-dir", str(data)], monkeypatch) == exitcodes.EXIT_UNREACHABLE
    )
    capsys.readouterr()
    # Another process, later: the status still says why nothing went up.
    assert run(["backup", "status", "--data-dir", str(data), "--json"], monkeypatch) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending_changes"] == 3
    assert "cannot reach the backup server" in status["last_error"], status
    server.start()
    assert run(["backup", "now", "--data-dir", str(data)], monkeypatch) == 0
    capsys.readouterr()
    assert run(["backup", "status", "--data-dir", str(data), "--json"], monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["last_error"] is None


def test_restore_outcomes_have_distinct_exit_codes(backupd, tmp_path, monkeypatch, capsys):
    source = tmp_path / "source"
    make_wallet(source, backupd.url)
    assert run(["backup", "now", "--data-dir", str(source)], monkeypatch) == 0

    fresh = tmp_path / "fresh"
    args = ["restore", "--data-dir", str(fresh), "--server", backupd.url, "--network", "regtest"]
    assert run(args, monkeypatch, stdin=OTHER_WORDS) == exitcodes.EXIT_NO_BACKUP
    capsys.readouterr()
    # The right words on the wrong network: told as the network, not as the words.
    on_mainnet = [*args[:-1], "bitcoin"]
    assert run(on_mainnet, monkeypatch, stdin=current_words()) == exitcodes.EXIT_NO_BACKUP
    out = capsys.readouterr().out
    assert "no bitcoin backup" in out and "--network regtest" in out, out
    assert run(args, monkeypatch, stdin="legal winner thank year") == exitcodes.EXIT_USAGE
    err = capsys.readouterr().err
    assert "legal" not in err
    backupd.stop()
    assert run(args, monkeypatch, stdin=current_words()) == exitcodes.EXIT_UNREACHABLE
    assert not (wallet_dir(fresh, Network.REGTEST) / "seed").exists()
    assert run(["backup", "now", "--data-dir", str(source)], monkeypatch) in (0, 4)
    assert (
        run(["backup", "status", "--data-dir", str(fresh)], monkeypatch) == exitcodes.EXIT_NO_WALLET
    )


def test_words_are_read_from_a_file_and_never_from_the_command_line(backupd, tmp_path, monkeypatch):
    source = tmp_path / "source"
    make_wallet(source, backupd.url, count=3)
    assert run(["backup", "now", "--data-dir", str(source)], monkeypatch) == 0
    with pytest.raises(SystemExit) as caught:
        run(["restore", "--data-dir", str(tmp_path / "x"), *current_words().split()], monkeypatch)
    assert caught.value.code == 2
    words = tmp_path / "words.txt"
    words.write_text(current_words() + "\n")
    fresh = tmp_path / "fresh"
    argv = ["restore", "--data-dir", str(fresh), "--server", backupd.url, "--network", "regtest"]
    assert run([*argv, "--words-file", str(words)], monkeypatch) == 0


def test_a_passphrase_line_is_said_to_be_one_and_opens_another_backup(
    backupd, tmp_path, monkeypatch, capsys
):
    source = tmp_path / "source"
    make_wallet(source, backupd.url, count=3)
    assert run(["backup", "now", "--data-dir", str(source)], monkeypatch) == 0
    capsys.readouterr()
    words = tmp_path / "words.txt"
    # One word a line, with an editor's BOM: the words of the backup.
    words.write_text("\ufeff" + "\r\n".join(current_words().split()) + "\r\n")
    argv = ["restore", "--server", backupd.url, "--network", "regtest", "--words-file", str(words)]
    assert run([*argv, "--data-dir", str(tmp_path / "one")], monkeypatch) == 0
    assert "passphrase" not in capsys.readouterr().err
    # A second line is a BIP39 passphrase: another wallet, which has no backup here.
    words.write_text(current_words() + "\nextra words\n")
    assert (
        run([*argv, "--data-dir", str(tmp_path / "two")], monkeypatch) == exitcodes.EXIT_NO_BACKUP
    )
    err = capsys.readouterr().err
    assert "the second line is taken as the BIP39 passphrase" in err
    assert "extra words" not in err


def test_the_module_runs_as_a_program_reading_standard_input(backupd, tmp_path):
    source = tmp_path / "source"
    make_wallet(source, backupd.url, count=3)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    now = subprocess.run(
        [sys.executable, "-m", "cairn.commands.backup", "backup", "now", "--data-dir", str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert now.returncode == 0, now.stderr
    fresh = tmp_path / "fresh"
    restore = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn.commands.backup",
            "restore",
            "--data-dir",
            str(fresh),
            "--server",
            backupd.url,
            "--network",
            "regtest",
        ],
        input=current_words() + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert restore.returncode == 0, restore.stderr
    assert "restored 3 records" in restore.stdout


def test_restore_force_never_leaves_changes_behind_unasked(backupd, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    wallet = make_wallet(data, backupd.url, count=5)
    assert run(["backup", "now", "--data-dir", str(data)], monkeypatch) == 0
    with SqliteStore(wallet / "records.sqlite") as store:
        store.put("labels/tx/" + "ab" * 32, b"not backed up yet")
    before = records_of(wallet / "records.sqlite")
    capsys.readouterr()

    args = ["restore", "--data-dir", str(data), "--force"]
    assert run(args, monkeypatch, stdin=current_words()) == exitcodes.EXIT_PENDING
    err = capsys.readouterr().err
    assert "1 change(s) not backed up" in err and "cairn backup now" in err
    assert records_of(wallet / "records.sqlite") == before
    assert [p.name for p in wallet.parent.iterdir()] == [wallet.name]

    # Once backed up, the restore brings the change back with everything else.
    assert run(["backup", "now", "--data-dir", str(data)], monkeypatch) == 0
    assert run(args, monkeypatch, stdin=current_words()) == 0
    assert records_of(wallet / "records.sqlite") == before


def test_restore_force_keeps_the_replaced_wallet_and_puts_it_back_when_nothing_came(
    backupd, tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    wallet = make_wallet(data, backupd.url, count=5)
    assert run(["backup", "now", "--data-dir", str(data)], monkeypatch) == 0
    with SqliteStore(wallet / "records.sqlite") as store:
        store.put("prefs/only-here", b"not backed up yet")  # what the replaced wallet held
    before = records_of(wallet / "records.sqlite")

    # Words without a backup: nothing is replaced, the wallet is back where it was.
    args = ["restore", "--data-dir", str(data), "--force", "--leave-pending"]
    assert run(args, monkeypatch, stdin=OTHER_WORDS) == exitcodes.EXIT_NO_BACKUP
    assert records_of(wallet / "records.sqlite") == before
    assert load_seed(wallet) == (current_words(), "")
    assert [p.name for p in wallet.parent.iterdir()] == [wallet.name]

    # The right words: the backup comes back and the replaced wallet is kept beside it, whole.
    assert run(args, monkeypatch, stdin=current_words()) == 0
    assert "the replaced wallet is kept in" in capsys.readouterr().err
    kept = [p for p in wallet.parent.iterdir() if p.name.startswith(f"{wallet.name}.replaced-")]
    assert len(kept) == 1
    assert records_of(kept[0] / "records.sqlite") == before
    assert "prefs/only-here" not in records_of(wallet / "records.sqlite")


def test_a_full_backup_killed_partway_is_refused_by_restore_until_asked(
    backupd_factory, tmp_path, monkeypatch, capsys
):
    """The old laptop moves to a new server and is switched off mid-upload; the new laptop's
    restore says the backup is incomplete (exit 14) and changes nothing, unless --incomplete."""
    old, new = backupd_factory(), backupd_factory()
    source = tmp_path / "source"
    wallet = make_wallet(source, old.url, count=6000)
    assert run(["backup", "now", "--data-dir", str(source)], monkeypatch) == 0
    save_config(source, AppConfig(network=Network.REGTEST, backup_server_url=new.url))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    backup = subprocess.Popen(
        [sys.executable, "-m", "cairn.commands.backup", "backup", "now", "--data-dir", str(source)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert backup.stderr is not None
    for line in backup.stderr:
        shown = re.search(r"full backup: (\d+)/(\d+) records", line)
        if shown is not None and 0 < int(shown[1]) < int(shown[2]):
            backup.kill()  # as a power cut would
            break
    backup.wait(timeout=60)
    backup.stderr.close()
    assert backup.returncode == -9, "the full backup ended before it could be cut off"

    fresh = tmp_path / "fresh"
    args = ["restore", "--data-dir", str(fresh), "--server", new.url, "--network", "regtest"]
    capsys.readouterr()
    assert run(args, monkeypatch, stdin=current_words()) == EXIT_INCOMPLETE
    out = capsys.readouterr().out
    assert "incomplete" in out and "--incomplete" in out and "Nothing was changed" in out
    assert not wallet_dir(fresh, Network.REGTEST).exists()

    assert run([*args, "--incomplete"], monkeypatch, stdin=current_words()) == 0
    part = records_of(wallet_dir(fresh, Network.REGTEST) / "records.sqlite")
    assert 0 < len(part) < 6000

    # The old laptop comes back and finishes; now the backup is whole.
    assert run(["backup", "now", "--data-dir", str(source)], monkeypatch) == 0
    again = tmp_path / "again"
    args = ["restore", "--data-dir", str(again), "--server", new.url, "--network", "regtest"]
    assert run(args, monkeypatch, stdin=current_words()) == 0
    restored = records_of(wallet_dir(again, Network.REGTEST) / "records.sqlite")
    assert restored == records_of(wallet / "records.sqlite")


def test_a_folder_where_the_backup_lock_goes_is_the_data_dirs_fault(
    backupd, tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    wallet = make_wallet(data, backupd.url, count=2)
    (wallet / "backup.lock").mkdir()
    for command in (["backup", "now"], ["sync"]):
        assert run([*command, "--data-dir", str(data)], monkeypatch) == exitcodes.EXIT_DAMAGED
        err = capsys.readouterr().err
        assert "backup.lock: Is a directory" in err and "Move it away" in err
    (wallet / "backup.lock").rmdir()
    assert run(["backup", "now", "--data-dir", str(data)], monkeypatch) == 0


def test_output_closed_early_ends_quietly(backupd, tmp_path):
    data = tmp_path / "data"
    make_wallet(data, backupd.url, count=2)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    status = subprocess.Popen(
        [sys.executable, "-m", "cairn", "backup", "status", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert status.stdout is not None and status.stderr is not None
    status.stdout.close()  # as `| head -0` does
    assert status.wait(timeout=60) == exitcodes.EXIT_OUTPUT_CLOSED
    assert status.stderr.read() == b""
    status.stderr.close()
