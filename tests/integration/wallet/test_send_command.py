"""`cairn wallet send` on a real data dir against the devnet and a real backup server: it shows
the payment, sends only once confirmed, and the payment and its memo come back on a restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cairn.config import AppConfig, save_config
from cairn.exitcodes import (
    EXIT_CODES,
    EXIT_DECLINED,
    EXIT_OUTPUT_CLOSED,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from cairn.keys import Network, generate_mnemonic
from tests.support.backupd import BackupServer
from tests.support.devnet import DevnetProcess

OTHER = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"


def cairn(
    home: Path, *args: str, stdin: str | None = None, stdout: str = "pipe", timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run `cairn ARGS --data-dir HOME`; `stdout` "full" writes to /dev/full, "closed" starts
    it with standard output closed (`>&-`)."""
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_DATA_DIR"}
    with open(os.devnull if stdout != "full" else "/dev/full", "w") as sink:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args, "--data-dir", str(home)],
            input=stdin,
            stdout=subprocess.PIPE if stdout == "pipe" else sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            preexec_fn=(lambda: os.close(1)) if stdout == "closed" else None,
        )


def funded_wallet(
    tmp_path: Path, devnet: DevnetProcess, backupd: BackupServer | None, sat: int
) -> Path:
    """A new wallet on the devnet (backed up to `backupd`) holding `sat`, confirmed."""
    home = tmp_path / "laptop"
    home.mkdir(mode=0o700)
    url = backupd.url if backupd is not None else None
    config = AppConfig(network=Network.REGTEST, backup_server_url=url, esplora_url=devnet.url)
    save_config(home, config)
    create = ["wallet", "create", "--words-stdin", *([] if url else ["--no-backup"])]
    made = cairn(home, *create, stdin=generate_mnemonic())
    assert made.returncode == 0, made.stderr
    received = cairn(home, "wallet", "receive")
    assert received.returncode == 0, received.stderr
    devnet.faucet(received.stdout.split()[0], sat, mine=True)
    return home


def test_a_payment_is_shown_confirmed_sent_and_backed_up(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    words = generate_mnemonic()
    home = tmp_path / "laptop"
    home.mkdir(mode=0o700)
    config = AppConfig(
        network=Network.REGTEST, backup_server_url=backupd.url, esplora_url=devnet.url
    )
    save_config(home, config)
    made = cairn(home, "wallet", "create", "--words-stdin", stdin=words)
    assert made.returncode == 0, made.stderr
    received = cairn(home, "wallet", "receive")
    assert received.returncode == 0, received.stderr
    devnet.faucet(received.stdout.split()[0], 200_000, mine=True)

    # Bad input is refused before anything is planned; without a terminal, only with --yes.
    bad = cairn(home, "wallet", "send", OTHER, "1,5", "--fee-rate", "2", "--yes")
    assert bad.returncode == EXIT_USAGE and "1,5" in bad.stderr
    unasked = cairn(home, "wallet", "send", OTHER, "50000 sat", "--fee-rate", "2")
    assert unasked.returncode == EXIT_USAGE and "add --yes" in unasked.stderr
    too_much = cairn(home, "wallet", "send", OTHER, "1", "--fee-rate", "2", "--yes")
    assert too_much.returncode == EXIT_USAGE and "not enough funds" in too_much.stderr

    sent = cairn(
        home, "wallet", "send", OTHER, "50000 sat", "--fee-rate", "2", "--memo", "rent", "--yes"
    )
    assert sent.returncode == 0, sent.stderr
    txid = sent.stdout.strip()
    assert len(txid) == 64
    assert "0.00050000 BTC" in sent.stderr and "fee:" in sent.stderr
    # Its memo is its label, and it went to the backup with the payment.
    assert cairn(home, "wallet", "label", "get", "tx", txid).stdout == "rent\n"

    restored_home = tmp_path / "new-laptop"
    restored_home.mkdir(mode=0o700)
    save_config(restored_home, config)
    restored = cairn(restored_home, "restore", stdin=words)
    assert restored.returncode == 0, restored.stderr
    assert cairn(restored_home, "wallet", "label", "get", "tx", txid).stdout == "rent\n"
    # Both laptops show the payment, with its memo, and the same balance.
    shown = [cairn(h, "wallet", "history", "--json") for h in (home, restored_home)]
    assert all(s.returncode == 0 for s in shown), [s.stderr for s in shown]
    first, second = (json.loads(s.stdout) for s in shown)
    assert first["balance"] == second["balance"]

    def seen(history):  # an unconfirmed payment's time is when that device first saw it
        return [{k: v for k, v in t.items() if k != "time"} for t in history["transactions"]]

    assert seen(first) == seen(second)
    paid = next(t for t in first["transactions"] if t["txid"] == txid)
    assert (paid["direction"], paid["amount_sat"], paid["label"]) == ("out", 50_000, "rent")
    assert first["balance"]["spendable_sat"] == 200_000 - 50_000 - paid["fee_sat"]
    text = cairn(home, "wallet", "history")
    assert txid in text.stdout and "rent" in text.stdout and text.stdout.startswith("spendable:")


def test_a_payment_not_confirmed_at_the_terminal_is_not_sent(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    home = tmp_path / "laptop"
    home.mkdir(mode=0o700)
    save_config(
        home,
        AppConfig(network=Network.REGTEST, backup_server_url=backupd.url, esplora_url=devnet.url),
    )
    made = cairn(home, "wallet", "create", "--words-stdin", stdin=generate_mnemonic())
    assert made.returncode == 0, made.stderr
    address = cairn(home, "wallet", "receive").stdout.split()[0]
    devnet.faucet(address, 100_000, mine=True)
    # A terminal that answers "n": `script` gives the command one.
    command = f"{sys.executable} -m cairn wallet send {OTHER} max --fee-rate 1 --data-dir {home}"
    for answer in (b"n\n", b"\xff\n"):  # no, and bytes that are not text (not a yes either)
        answered = subprocess.run(
            ["script", "-qec", command, "/dev/null"],
            input=answer,
            capture_output=True,
            timeout=180,
            check=False,
        )
        said = answered.stdout.decode("utf-8", "replace")
        # Declined: its own exit code, not a server's refusal.
        assert answered.returncode == EXIT_DECLINED, said
        assert "everything spendable" in said
        assert "not confirmed; nothing was sent" in said and "Traceback" not in said
    shown = json.loads(cairn(home, "wallet", "history", "--json").stdout)
    assert [t["direction"] for t in shown["transactions"]] == ["in"]


def test_without_the_chain_server_nothing_is_sent_and_history_says_so(
    tmp_path: Path, backupd: BackupServer
) -> None:
    home = tmp_path / "laptop"
    home.mkdir(mode=0o700)
    offline = AppConfig(
        network=Network.REGTEST, backup_server_url=backupd.url, esplora_url="http://127.0.0.1:9"
    )
    save_config(home, offline)
    made = cairn(home, "wallet", "create", "--words-stdin", stdin=generate_mnemonic())
    assert made.returncode == 0, made.stderr
    sent = cairn(home, "wallet", "send", OTHER, "1000 sat", "--fee-rate", "2", "--yes")
    assert sent.returncode == EXIT_UNREACHABLE and "nothing was sent" in sent.stderr
    assert sent.stdout == ""
    shown = cairn(home, "wallet", "history", "--json")
    assert shown.returncode == EXIT_UNREACHABLE and "as of the last sync" in shown.stderr
    assert json.loads(shown.stdout)["transactions"] == []


def test_an_output_that_cannot_be_written_is_told_and_a_payment_sent_says_it_was(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    home = funded_wallet(tmp_path, devnet, backupd, 100_000)
    # Started with standard output closed, nothing is done: no payment, no address handed out.
    for command in (["send", OTHER, "1000 sat", "--fee-rate", "2", "--yes"], ["receive"]):
        closed = cairn(home, "wallet", *command, stdout="closed")
        assert closed.returncode == EXIT_OUTPUT_CLOSED, closed.stderr
        assert "standard output is closed; nothing was done" in closed.stderr
    for command in (["history"], ["label", "list"]):
        closed = cairn(home, "wallet", *command, stdout="closed")
        assert closed.returncode == EXIT_OUTPUT_CLOSED, closed.stderr
    (faucet,) = json.loads(cairn(home, "wallet", "history", "--json").stdout)["transactions"]
    assert cairn(home, "wallet", "label", "set", "tx", faucet["txid"], "coins").returncode == 0
    assert cairn(home, "wallet", "receive").stdout.split()[1] == "1"  # index 0 was the faucet's

    # On a full disk, the output's failure is told as such, never as the data dir's.
    for command in (["history"], ["receive"], ["label", "list"]):
        full = cairn(home, "wallet", *command, stdout="full")
        assert full.returncode == EXIT_OUTPUT_CLOSED, full.stderr
        assert "could not write to standard output: No space left on device" in full.stderr
        assert "data dir" not in full.stderr
    # A payment broadcast before its txid could be printed: stderr says it went, and which.
    sent = cairn(
        home, "wallet", "send", OTHER, "1000 sat", "--fee-rate", "2", "--yes", stdout="full"
    )
    assert sent.returncode == EXIT_OUTPUT_CLOSED, sent.stderr
    assert "the payment was sent (txid " in sent.stderr and "do not send it again" in sent.stderr
    txid = sent.stderr.split("(txid ", 1)[1][:64]
    shown = json.loads(cairn(home, "wallet", "history", "--json").stdout)
    assert [t["txid"] for t in shown["transactions"] if t["direction"] == "out"] == [txid]


def test_a_wallet_created_before_its_line_could_be_printed_says_it_was(
    tmp_path: Path, devnet: DevnetProcess
) -> None:
    home = tmp_path / "laptop"
    home.mkdir(mode=0o700)
    save_config(home, AppConfig(network=Network.REGTEST, esplora_url=devnet.url))
    words = generate_mnemonic()
    made = cairn(
        home, "wallet", "create", "--words-stdin", "--no-backup", stdin=words, stdout="full"
    )
    assert made.returncode == EXIT_OUTPUT_CLOSED, made.stderr
    assert made.stderr == (
        f"cairn: created a regtest wallet in {home / 'wallets' / 'regtest'}, but standard "
        "output could not be written: No space left on device\n"
    )
    assert cairn(home, "wallet", "receive").returncode == 0  # the wallet is there


def test_a_payment_spends_only_what_is_spendable_never_an_unconfirmed_one_from_others(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    home = funded_wallet(tmp_path, devnet, backupd, 2_000_000)
    devnet.faucet(cairn(home, "wallet", "receive").stdout.split()[0], 300_000)  # not mined
    before = json.loads(cairn(home, "wallet", "history", "--json").stdout)["balance"]
    assert before["spendable_sat"] == 2_000_000 and before["pending_sat"] == 300_000

    more = cairn(home, "wallet", "send", OTHER, "0.0205 BTC", "--fee-rate", "2", "--yes")
    assert more.returncode == EXIT_USAGE, more.stderr
    assert "not enough funds: 2,000,000 sat available" in more.stderr
    everything = cairn(home, "wallet", "send", OTHER, "max", "--fee-rate", "2", "--yes")
    assert everything.returncode == 0, everything.stderr
    assert "(everything spendable)" in everything.stderr
    assert "total:   0.02000000 BTC" in everything.stderr
    # The payment from others still waiting for its block is untouched, and still incoming.
    after = json.loads(cairn(home, "wallet", "history", "--json").stdout)["balance"]
    assert after["spendable_sat"] == 0 and after["pending_sat"] == 300_000


def test_a_memo_that_cannot_be_its_label_is_refused_before_anything_is_sent(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    home = funded_wallet(tmp_path, devnet, backupd, 100_000)
    # Too long for a label, or bytes that are not UTF-8 ($'\xff' arrives surrogate-escaped).
    for memo in ("m" * 10_001, "rent \udcff"):
        refused = cairn(
            home, "wallet", "send", OTHER, "1000 sat", "--fee-rate", "2", "--memo", memo, "--yes"
        )
        assert refused.returncode == EXIT_USAGE, refused.stderr
        assert "the memo (the payment's label) is refused" in refused.stderr
        assert "nothing was sent" in refused.stderr and "pay to:" not in refused.stderr
    shown = json.loads(cairn(home, "wallet", "history", "--json").stdout)
    assert [t["direction"] for t in shown["transactions"]] == ["in"]
    # The same text is refused as a label, with the same reason.
    txid = shown["transactions"][0]["txid"]
    labelled = cairn(home, "wallet", "label", "set", "tx", txid, "rent \udcff")
    assert labelled.returncode == EXIT_USAGE and "not UTF-8" in labelled.stderr


def test_a_stalled_chain_server_ends_the_command_after_its_timeout(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    home = funded_wallet(tmp_path, devnet, backupd, 100_000)
    assert cairn(home, "wallet", "history").returncode == 0
    devnet.pause()  # it accepts connections and never answers
    try:
        ran: dict[str, subprocess.CompletedProcess[str]] = {}
        for command, said in (
            (["history"], "shown as of the last sync"),
            (["send", OTHER, "1000 sat", "--fee-rate", "2", "--yes"], "nothing was sent"),
        ):
            started = time.monotonic()
            ran[command[0]] = cairn(home, "wallet", *command, timeout=90)
            took = time.monotonic() - started
            assert ran[command[0]].returncode == EXIT_UNREACHABLE, ran[command[0]].stderr
            assert "did not answer in time" in ran[command[0]].stderr
            assert said in ran[command[0]].stderr
            assert took < 45, took  # about 15 s for the chain server, as for the backup server
    finally:
        devnet.resume()
    assert ran["history"].stdout.startswith("spendable: 0.00100000 BTC")  # what it last knew
    assert cairn(home, "wallet", "history").returncode == 0


def test_labels_and_addresses_from_elsewhere_reach_the_terminal_escaped(
    tmp_path: Path, devnet: DevnetProcess
) -> None:
    home = funded_wallet(tmp_path, devnet, None, 100_000)
    (faucet,) = json.loads(cairn(home, "wallet", "history", "--json").stdout)["transactions"]
    hostile = "\x1b[31mpaid\x1b[0m\rfrom Bob\x07"
    assert cairn(home, "wallet", "label", "set", "tx", faucet["txid"], hostile).returncode == 0
    shown = cairn(home, "wallet", "history")
    assert shown.returncode == 0, shown.stderr
    assert "\\x1b[31mpaid\\x1b[0m\\rfrom Bob\\x07" in shown.stdout
    assert not any(c in shown.stdout for c in "\x1b\r\x07")
    # As `label get` shows it; --json keeps the label as it is (JSON escapes it).
    got = cairn(home, "wallet", "label", "get", "tx", faucet["txid"]).stdout
    assert got.strip() in shown.stdout
    as_json = json.loads(cairn(home, "wallet", "history", "--json").stdout)
    assert as_json["transactions"][0]["label"] == hostile.strip()

    refused = cairn(
        home, "wallet", "send", "bcrt1q\x1b[2Jx", "1000 sat", "--fee-rate", "2", "--yes"
    )
    assert refused.returncode == EXIT_USAGE, refused.stderr
    assert '"bcrt1q\\x1b[2Jx" is not a valid Bitcoin address' in refused.stderr
    assert "\x1b" not in refused.stderr


def test_send_and_history_list_their_exit_codes_in_their_help(tmp_path: Path) -> None:
    for command, codes in (
        ("send", (0, 2, 4, EXIT_REFUSED, EXIT_DECLINED, EXIT_OUTPUT_CLOSED)),
        ("history", (0, 2, 4, EXIT_OUTPUT_CLOSED)),
    ):
        helped = cairn(tmp_path, "wallet", command, "--help")
        assert helped.returncode == 0, helped.stderr
        listed = helped.stdout.split("exit codes:\n", 1)[1]
        for code in codes:
            assert f"{code:>3}  {EXIT_CODES[code]}" in listed
    assert "chain server cannot be reached" in EXIT_CODES[EXIT_UNREACHABLE]
