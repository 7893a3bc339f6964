"""Check that a current-format wallet holds everything a format-1 wallet held.

Used by QA after "upgrade → full backup → wipe → restore", and by the tests after a migration:
every transaction of the legacy BDK file is in the new wallet with the same confirmation (an
unconfirmed one may have confirmed since), the revealed index is at least the legacy one, and
every label, setting and the recovery phrase came over. Both sides are read from temporary
copies, so neither directory is touched.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bdkpython as bdk

from cairn.events import EventBus
from cairn.files import sqlite_online_copy
from cairn.keys import Network, bip84_descriptors, mnemonic_to_seed
from cairn.seedfile import load_seed
from cairn.storage import SqliteStore
from cairn.upgrade.formats import (
    LEGACY_LABELS,
    LEGACY_SEED,
    LEGACY_SETTINGS,
    LEGACY_WALLET_DB,
    RECORDS_FILE,
)
from cairn.upgrade.legacy import legacy_descriptors
from cairn.upgrade.records import CONFIG_SETTINGS
from cairn.wallet.addresses import network_kind
from cairn.wallet.labels import LabelBook, parse_labels
from cairn.wallet.persistence import RecordPersistence
from cairn.wallet.preferences import Preferences
from cairn.wallet.receiving import REVEALED_PREFIX, parse_revealed


@dataclass(frozen=True)
class WalletView:
    """What one wallet holds, in plain values."""

    transactions: dict[str, tuple[int, str, int] | None]  # txid -> (height, hash, time) | None
    balance_sat: int
    external_index: int | None
    internal_index: int | None
    labels: dict[tuple[str, str], dict[str, Any]]
    settings: dict[str, str]
    phrase: str


@dataclass
class Comparison:
    legacy: WalletView
    current: WalletView
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "transactions": len(self.legacy.transactions),
            "labels": len(self.legacy.labels),
            "settings": sorted(self.legacy.settings),
            "legacy_balance_sat": self.legacy.balance_sat,
            "current_balance_sat": self.current.balance_sat,
            "legacy_revealed_index": self.legacy.external_index,
            "current_revealed_index": self.current.external_index,
        }


def _positions(wallet: bdk.Wallet) -> dict[str, tuple[int, str, int] | None]:
    found: dict[str, tuple[int, str, int] | None] = {}
    for canonical in wallet.transactions():
        position = canonical.chain_position
        txid = str(canonical.transaction.compute_txid())
        if position.is_confirmed():
            block = position.confirmation_block_time
            found[txid] = (block.block_id.height, str(block.block_id.hash), block.confirmation_time)
        else:
            found[txid] = None
    return found


def read_legacy(legacy_dir: Path, network: Network) -> WalletView:
    """The content of a format-1 wallet directory (read from a temporary copy of its BDK file)."""
    phrase = " ".join((legacy_dir / LEGACY_SEED).read_text(encoding="utf-8").split())
    external, internal = legacy_descriptors(phrase, network)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / LEGACY_WALLET_DB
        sqlite_online_copy(legacy_dir / LEGACY_WALLET_DB, copy)
        wallet = bdk.Wallet.load(external, internal, bdk.Persister.new_sqlite(str(copy)))
        transactions = _positions(wallet)
        balance = wallet.balance().total.to_sat()
        ext_index = wallet.derivation_index(bdk.KeychainKind.EXTERNAL)
        int_index = wallet.derivation_index(bdk.KeychainKind.INTERNAL)
    labels_text = _text(legacy_dir / LEGACY_LABELS)
    labels, _errors = parse_labels(labels_text)
    settings_text = _text(legacy_dir / LEGACY_SETTINGS)
    raw_settings: dict[str, Any] = json.loads(settings_text) if settings_text.strip() else {}
    settings = {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for k, v in raw_settings.items()
        if k not in CONFIG_SETTINGS and v not in (None, "")
    }
    return WalletView(
        transactions=transactions,
        balance_sat=balance,
        external_index=ext_index,
        internal_index=int_index,
        labels={(label.type, label.ref): label.to_json() for label in labels},
        settings=settings,
        phrase=phrase,
    )


def read_current(wallet_dir: Path, network: Network) -> WalletView:
    """The content of a format-2 wallet directory (opened from a temporary copy of its store)."""
    phrase, passphrase = load_seed(wallet_dir)
    seed = mnemonic_to_seed(phrase, passphrase)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / RECORDS_FILE
        sqlite_online_copy(wallet_dir / RECORDS_FILE, copy)
        store = SqliteStore(copy)
        try:
            kind = network_kind(network)
            external_text, internal_text = bip84_descriptors(seed, network)
            persister = bdk.Persister.custom(RecordPersistence(store, kind))
            wallet = bdk.Wallet.load(
                bdk.Descriptor(external_text, kind), bdk.Descriptor(internal_text, kind), persister
            )
            transactions = _positions(wallet)
            external = wallet.derivation_index(bdk.KeychainKind.EXTERNAL)
            recorded = store.get(REVEALED_PREFIX + "external")
            parsed = parse_revealed(recorded) if recorded is not None else None
            if parsed is not None:
                external = max(external or 0, parsed[0])
            internal = wallet.derivation_index(bdk.KeychainKind.INTERNAL)
            balance = wallet.balance().total.to_sat()
            labels = {
                (label.type, label.ref): label.to_json()
                for label in LabelBook(store, EventBus()).all()
            }
            settings = Preferences(store, EventBus()).all()
        finally:
            store.close()
    return WalletView(
        transactions=transactions,
        balance_sat=balance,
        external_index=external,
        internal_index=internal,
        labels=labels,
        settings=settings,
        phrase=phrase,
    )


def compare_wallets(legacy_dir: Path | str, wallet_dir: Path | str, network: Network) -> Comparison:
    """Every difference that means something the legacy wallet held is missing or changed."""
    legacy = read_legacy(Path(legacy_dir), network)
    current = read_current(Path(wallet_dir), network)
    result = Comparison(legacy, current)
    problems = result.problems
    if legacy.phrase != current.phrase:
        problems.append("the recovery phrase differs")
    for txid, position in sorted(legacy.transactions.items()):
        if txid not in current.transactions:
            problems.append(f"transaction {txid} is missing")
        elif position is not None and current.transactions[txid] != position:
            problems.append(
                f"transaction {txid} was confirmed at {position}, now {current.transactions[txid]}"
            )
    for name, index in (
        ("external", (legacy.external_index, current.external_index)),
        ("internal", (legacy.internal_index, current.internal_index)),
    ):
        old, new = index
        if old is not None and (new is None or new < old):
            problems.append(f"the {name} revealed index went back from {old} to {new}")
    for key, label in sorted(legacy.labels.items()):
        if current.labels.get(key) != label:
            problems.append(f"the {key[0]} label of {key[1]} is missing or changed")
    for name, value in sorted(legacy.settings.items()):
        if current.settings.get(name) != value:
            problems.append(f"the setting {name!r} is missing or changed")
    return result


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
