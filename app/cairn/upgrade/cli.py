"""`cairn-legacy-wallet`: QA tools for the upgrade from format 1 (the release before backups).

cairn-legacy-wallet create  --data-dir DIR --devnet-url URL [--inputs FILE] [--words-stdin]
                            [--email E] [--fiat F] [--report FILE]
cairn-legacy-wallet migrate --data-dir DIR [--backup-server URL]
                            the upgrade the app runs at start, headless
cairn-legacy-wallet compare --legacy COPY --data-dir DIR [--network N] [--json]

Exit codes: 0 done (compare: nothing missing), 1 failed (compare: something is missing),
2 usage.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cairn.config import load_config, resolve_data_dir, save_config, wallet_dir
from cairn.keys import InvalidMnemonic, Network, generate_mnemonic, validate_mnemonic

# The content of a legacy wallet when no --inputs file is given (words: --words-stdin or new).
DEFAULT_INPUTS: dict[str, Any] = {
    "network": "regtest",
    "funding": [150_000, 250_000, 40_000],
    "blocks_after_funding": 1,
    # An address of another wallet (BIP84 index 0 of "zoo ... wrong" on regtest).
    "payments": [
        {
            "address": "bcrt1qc74th7kymdhva56ntt26yzzsn5ujz2wtz3al4w",
            "amount_sat": 120_000,
            "fee_rate_sat_vb": 2.0,
        }
    ],
    "blocks_after_payments": 2,
    "unused_addresses": 2,
    "pending_funding": [30_000],
    "settings": {"email": "qa@example.org", "fiat_currency": "EUR"},
    "labels": [
        {"type": "tx", "ref": "{funding[0]}", "label": "Salary"},
        {"type": "tx", "ref": "{payment[0]}", "label": "Rent"},
        {"type": "addr", "ref": "{address[3]}", "label": "Given to Alice"},
        {"type": "output", "ref": "{funding[1]}:0", "label": "Savings coin", "spendable": True},
    ],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cairn-legacy-wallet",
        description="Write, upgrade and compare format-1 Cairn wallets (the release before backups).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="write a format-1 wallet funded on a devnet")
    create.add_argument(
        "--data-dir", required=True, help="data dir; the wallet goes in wallets/<network>/"
    )
    create.add_argument("--devnet-url", required=True, help="a running `cairn devnet`")
    create.add_argument(
        "--inputs", type=Path, help="inputs JSON (e.g. tests/fixtures/legacy-v1/INPUTS.json)"
    )
    create.add_argument(
        "--words-stdin", action="store_true", help="read the recovery words from stdin"
    )
    create.add_argument("--email", help="the email setting")
    create.add_argument("--fiat", help="the fiat currency setting (e.g. EUR)")
    create.add_argument("--report", type=Path, help="write the txids and addresses created (JSON)")
    migrate = commands.add_parser("migrate", help="upgrade the data dir as the app does at start")
    migrate.add_argument("--data-dir", help="data dir (env CAIRN_DATA_DIR; as for the app)")
    migrate.add_argument(
        "--backup-server", help="also set the backup server in config.json (as the wizard would)"
    )
    compare = commands.add_parser(
        "compare", help="check a current wallet holds a legacy one's data"
    )
    compare.add_argument(
        "--legacy", type=Path, required=True, help="a copy of the format-1 wallet dir"
    )
    compare.add_argument("--data-dir", help="data dir of the current wallet (as for the app)")
    compare.add_argument("--network", choices=[n.value for n in Network])
    compare.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _create(args: argparse.Namespace) -> int:
    from cairn.upgrade.legacy import LegacyInputs, LegacyWalletError, create_legacy_wallet

    document = copy.deepcopy(DEFAULT_INPUTS)
    if args.inputs is not None:
        document = json.loads(args.inputs.read_text(encoding="utf-8"))
    if args.words_stdin:
        document["mnemonic"] = sys.stdin.read()
    if not document.get("mnemonic"):
        document["mnemonic"] = generate_mnemonic()
    settings = dict(document.get("settings", {}))
    if args.email is not None:
        settings["email"] = args.email
    if args.fiat is not None:
        settings["fiat_currency"] = args.fiat
    document["settings"] = settings
    try:
        document["mnemonic"] = validate_mnemonic(document["mnemonic"])
        inputs = LegacyInputs.from_json(document)
        target = wallet_dir(resolve_data_dir(args.data_dir), Network(inputs.network))
        report = create_legacy_wallet(target, inputs, args.devnet_url)
    except (InvalidMnemonic, LegacyWalletError, ValueError) as exc:
        print(f"cairn-legacy-wallet: {exc}", file=sys.stderr)
        return 1
    if args.report is not None:
        args.report.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    print(
        f"wrote a format-1 {inputs.network} wallet in {report.wallet_dir}: "
        f"{len(report.funding) + len(report.payment) + len(report.pending)} transactions, "
        f"balance {report.balance_sat} sat, tip {report.tip_height}"
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from cairn.upgrade import UnknownFormatError, UpgradeError, upgrade_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    try:
        results = upgrade_data_dir(data_dir)
    except (UpgradeError, UnknownFormatError) as exc:
        print(f"cairn-legacy-wallet: {exc}", file=sys.stderr)
        return 1
    if args.backup_server:
        config = load_config(data_dir).with_changes(backup_server_url=args.backup_server)
        save_config(data_dir, config)
    for result in results:
        state = "upgraded" if result.migrated else f"format {result.format_before}, nothing to do"
        print(f"{result.wallet_dir}: {state}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from cairn.upgrade.compare import compare_wallets

    data_dir = resolve_data_dir(args.data_dir)
    network = Network(args.network) if args.network else load_config(data_dir).network
    result = compare_wallets(args.legacy, wallet_dir(data_dir, network), network)
    if args.json:
        print(json.dumps(result.summary(), indent=2))
    else:
        summary = result.summary()
        print(
            f"{summary['transactions']} transactions, {summary['labels']} labels, settings "
            f"{', '.join(summary['settings']) or '-'}; balance {summary['legacy_balance_sat']} "
            f"sat before, {summary['current_balance_sat']} sat now"
        )
        for problem in result.problems:
            print(f"MISSING: {problem}")
        print("OK: everything the legacy wallet held is there" if result.ok else "FAILED")
    return 0 if result.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "create":
        return _create(args)
    if args.command == "migrate":
        return _migrate(args)
    return _compare(args)


if __name__ == "__main__":
    sys.exit(main())
