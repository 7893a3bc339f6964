"""Step 2 of the migration: the record store built, in a staging file, from the legacy copies.

BDK's tables become one changeset record in cairn.wallet's format (so the wallet loads with
every transaction, anchor, block and revealed index, no rescan), the revealed indexes become
`wallet/revealed/...`, settings `prefs/...`, labels `labels/...`, and the backup engine's "full
backup required" flag is set in the same store. The wallet is then opened once through
cairn.wallet on the staging store: the records load for this seed before anything is switched.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bdkpython as bdk

from cairn.backup.fullbackup import require_full_backup
from cairn.events import EventBus
from cairn.files import sqlite_sidecars
from cairn.keys import Network, mnemonic_to_seed
from cairn.storage import SqliteStore, StoreError
from cairn.upgrade.bdkdb import LegacyDatabaseError, read_changeset, wallet_info
from cairn.upgrade.errors import UpgradeError
from cairn.upgrade.formats import (
    BACKUP_DIR,
    FULL_BACKUP_REASON,
    LEGACY_LABELS,
    LEGACY_SETTINGS,
    LEGACY_WALLET_DB,
    STAGING_FILE,
)
from cairn.wallet import CairnWallet, WalletError
from cairn.wallet.addresses import network_kind
from cairn.wallet.changeset_codec import encode_changeset
from cairn.wallet.core import SCANNED_RECORD
from cairn.wallet.labels import LabelBook
from cairn.wallet.persistence import changeset_name
from cairn.wallet.preferences import preference_record_name
from cairn.wallet.receiving import REVEALED_PREFIX

log = logging.getLogger(__name__)

# settings.json keys that configure the app (config.json), not the wallet's preferences.
CONFIG_SETTINGS = ("network", "esplora_url")
# The wallet never contacts the chain during the migration; the client just needs a URL.
OFFLINE_URL = "http://127.0.0.1:9"


@dataclass(frozen=True)
class _Built:
    records: int
    transactions: int
    labels: int
    skipped_labels: int
    preferences: list[str]


def build_store(directory: Path, backup: Path, phrase: str, network: Network) -> _Built:
    staging = directory / STAGING_FILE
    for stale in (staging, *sqlite_sidecars(staging)):
        stale.unlink(missing_ok=True)
    settings = read_settings(backup / LEGACY_SETTINGS)
    labels_text = read_text(backup / LEGACY_LABELS)
    kind = network_kind(network)
    changeset, transactions, tip, revealed = _read_bdk(backup / LEGACY_WALLET_DB, kind, network)
    seed = mnemonic_to_seed(phrase)
    puts: dict[str, bytes] = {changeset_name(0): encode_changeset(changeset)}
    puts.update(_revealed_records(changeset, revealed))
    preferences = _preference_records(settings)
    puts.update(preferences)
    try:
        store = SqliteStore(staging)
    except StoreError as exc:
        raise UpgradeError(f"the new wallet file could not be created ({exc})") from None
    try:
        store.batch(puts)
        book = LabelBook(store, EventBus())
        imported = book.import_jsonl(labels_text)
        _open_once(store, seed, network)
        if tip > 0:
            # The legacy wallet has scanned the chain already: no first full scan again.
            store.put(SCANNED_RECORD, b"1")
        require_full_backup(store, FULL_BACKUP_REASON)
        store.check_integrity()
        records = len(store.scan())
    except StoreError as exc:
        raise UpgradeError(f"the new wallet file could not be written ({exc})") from None
    finally:
        store.close()
    if any(Path(str(staging) + suffix).exists() for suffix in ("-wal", "-journal")):
        # Closing the last connection folds the WAL into the file; if it did not, renaming
        # the file alone would lose committed records.
        raise UpgradeError("the new wallet file was not closed cleanly; try again")
    _fsync_file(staging)
    return _Built(
        records=records,
        transactions=transactions,
        labels=imported.imported,
        skipped_labels=len(imported.errors),
        preferences=sorted(name.removeprefix("prefs/") for name in preferences),
    )


def _read_bdk(
    path: Path, kind: bdk.NetworkKind, network: Network
) -> tuple[bdk.ChangeSet, int, int, dict[str, int]]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError as exc:
        raise UpgradeError(f"the copy of {LEGACY_WALLET_DB} cannot be opened ({exc})") from None
    try:
        info = wallet_info(conn)
        if info.network != network.value:
            raise UpgradeError(
                f"the old wallet in this directory is a {info.network} wallet, not {network.value}"
            )
        changeset = read_changeset(conn, kind)
    except LegacyDatabaseError as exc:
        raise UpgradeError(f"{LEGACY_WALLET_DB} cannot be upgraded: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise UpgradeError(f"{LEGACY_WALLET_DB} is damaged ({exc})") from None
    finally:
        conn.close()
    return changeset, info.transactions, info.tip_height, info.last_revealed


def _revealed_records(changeset: bdk.ChangeSet, revealed: dict[str, int]) -> dict[str, bytes]:
    """`wallet/revealed/<keychain>`: the addresses the legacy wallet handed out stay handed out."""
    records: dict[str, bytes] = {}
    descriptors = {
        "external": changeset.descriptor(),
        "internal": changeset.change_descriptor(),
    }
    for keychain, descriptor in descriptors.items():
        if descriptor is None:
            continue
        index = revealed.get(str(descriptor.descriptor_id()))
        if index is not None:
            records[REVEALED_PREFIX + keychain] = str(index).encode()
    return records


def _preference_records(settings: dict[str, Any]) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    for key, value in settings.items():
        if key in CONFIG_SETTINGS or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        try:
            name = preference_record_name(key)
        except ValueError:
            log.warning("a legacy setting with an unusable name was left in %s", BACKUP_DIR)
            continue
        if text:
            records[name] = text.encode()
    return records


def _open_once(store: SqliteStore, seed: bytes, network: Network) -> None:
    """Load the migrated records through cairn.wallet: they must open for this seed."""
    try:
        wallet = CairnWallet.open(store, seed, network, esplora_url=OFFLINE_URL)
    except WalletError as exc:
        raise UpgradeError(
            f"the old wallet does not open with the recovery phrase stored next to it ({exc})"
        ) from None
    wallet.close()


def read_settings(path: Path) -> dict[str, Any]:
    text = read_text(path)
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except ValueError:
        raise UpgradeError(f"{LEGACY_SETTINGS} is not valid JSON; fix or remove it") from None
    if not isinstance(settings, dict):
        raise UpgradeError(f"{LEGACY_SETTINGS} must hold a JSON object; fix or remove it")
    return settings


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UpgradeError(f"{path.name} cannot be read ({type(exc).__name__})") from None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
