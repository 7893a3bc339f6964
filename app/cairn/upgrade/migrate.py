"""Migrate a format-1 wallet directory (before backups) to format 2 (record store), crash-safely.

Steps, each safe to repeat:

1. Copy every legacy file into `upgrade-backup/`: wallet.sqlite through sqlite3's online backup
   API, settings.json and labels.jsonl as files (each written to a temp name, fsynced, renamed).
2. Build the record store in a staging file `records.sqlite.upgrading` from those copies: BDK's
   tables as one changeset record in cairn.wallet's format, the revealed indexes, settings as
   `prefs/...`, labels as `labels/...`, and the "full backup required" flag of the backup
   engine. The wallet is then opened once through cairn.wallet on the staging store, which
   proves the records load for this seed before anything is switched.
3. Rename the staging file to `records.sqlite`; write the seed file (cairn.seedfile).
4. Write `format` = 2: the commit point. Before it the directory is still a complete format-1
   directory (its legacy files are never changed), so a crash anywhere up to here means the
   next start builds everything again from the legacy files.
5. Only then remove the plain `seed.txt` and the legacy files (their copies stay in
   `upgrade-backup/`). A crash here is finished by the next start.

Nothing here logs the seed, record names or values.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bdkpython as bdk

from cairn.backup.fullbackup import require_full_backup
from cairn.config import CONFIG_NAME, AppConfig, load_config, save_config
from cairn.events import EventBus
from cairn.keys import InvalidMnemonic, Network, mnemonic_to_seed, validate_mnemonic
from cairn.seedfile import SeedFileError, SeedKeyUnavailable, load_seed, save_seed, seed_exists
from cairn.storage import SqliteStore, StoreError
from cairn.upgrade.bdkdb import LegacyDatabaseError, read_changeset, wallet_info
from cairn.upgrade.formats import (
    CURRENT_FORMAT,
    FORMAT_FILE,
    LEGACY_FORMAT,
    LEGACY_LABELS,
    LEGACY_SEED,
    LEGACY_SETTINGS,
    LEGACY_WALLET_DB,
    RECORDS_FILE,
    SEED_FILE,
    detect_format,
    fsync_dir,
    sqlite_online_copy,
    write_file_atomically,
    write_format,
)
from cairn.wallet import CairnWallet, WalletError
from cairn.wallet.addresses import network_kind
from cairn.wallet.changeset_codec import encode_changeset
from cairn.wallet.core import REVEALED_PREFIX, SCANNED_RECORD
from cairn.wallet.labels import LabelBook
from cairn.wallet.persistence import changeset_name
from cairn.wallet.preferences import preference_record_name

__all__ = [
    "BACKUP_DIR",
    "FULL_BACKUP_REASON",
    "STAGING_FILE",
    "UpgradeError",
    "UpgradeResult",
    "upgrade_data_dir",
    "upgrade_wallet_dir",
]

log = logging.getLogger(__name__)

BACKUP_DIR = "upgrade-backup"
STAGING_FILE = RECORDS_FILE + ".upgrading"
FULL_BACKUP_REASON = "upgraded from a version without backups"
# settings.json keys that configure the app (config.json), not the wallet's preferences.
CONFIG_SETTINGS = ("network", "esplora_url")
# The wallet never contacts the chain during the migration; the client just needs a URL.
OFFLINE_URL = "http://127.0.0.1:9"
_SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


class UpgradeError(Exception):
    """The wallet directory cannot be upgraded; the message says why and what to do.

    The directory is left as it was (format 1, legacy files untouched).
    """


@dataclass(frozen=True)
class UpgradeResult:
    """What `upgrade_wallet_dir` found and did."""

    wallet_dir: Path
    format_before: int | None
    migrated: bool  # True: this call switched the directory from format 1 to 2
    records: int = 0  # records in the new store (when migrated)
    transactions: int = 0
    labels: int = 0
    skipped_labels: int = 0  # legacy label lines that are not valid BIP-329 (kept in the backup)
    preferences: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)  # legacy leftovers removed


def upgrade_data_dir(data_dir: Path | str) -> list[UpgradeResult]:
    """Upgrade every wallet directory under `<data dir>/wallets/` that needs it.

    The first release kept its settings inside the wallet directory: when config.json does not
    exist yet, it is created from the legacy wallet's network and Esplora URL, so the app opens
    the upgraded wallet. Blocking (SQLite, fsync): run it in a worker thread from the event loop.
    """
    data_dir = Path(data_dir)
    wallets = data_dir / "wallets"
    found: list[tuple[Network, Path]] = []
    if wallets.is_dir():
        for network in Network:
            directory = wallets / network.value
            if directory.is_dir():
                found.append((network, directory))
    legacy = [(n, d) for n, d in found if detect_format(d) == LEGACY_FORMAT]
    if legacy:
        _adopt_legacy_config(data_dir, *legacy[0])
    return [upgrade_wallet_dir(directory, network) for network, directory in found]


def upgrade_wallet_dir(
    wallet_dir: Path | str, network: Network, *, use_keyring: bool = True
) -> UpgradeResult:
    """Bring `wallet_dir` to the current format; finish a migration a crash interrupted.

    A format-2 (or empty) directory is left alone apart from removing what an interrupted
    migration left behind. Raises UpgradeError (directory unchanged) when the legacy wallet
    cannot be read, and UnknownFormatError for a directory of a newer Cairn.
    """
    directory = Path(wallet_dir)
    if not directory.is_dir():
        return UpgradeResult(directory, None, migrated=False)
    with _exclusive(directory):
        return _upgrade_locked(directory, network, use_keyring=use_keyring)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the wallet directory: two Cairns starting at once take turns.

    Without it, a second process could replace the staging file the first is about to rename.
    """
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _upgrade_locked(directory: Path, network: Network, *, use_keyring: bool) -> UpgradeResult:
    before = detect_format(directory)
    if before != LEGACY_FORMAT:
        cleaned = _finish(directory) if before == CURRENT_FORMAT else []
        return UpgradeResult(directory, before, migrated=False, cleaned=cleaned)
    log.info("upgrading a wallet from format %d to %d", LEGACY_FORMAT, CURRENT_FORMAT)
    phrase = _legacy_phrase(directory)
    _remove_leftovers(directory)
    backup = _back_up_legacy_files(directory)
    result = _build_store(directory, backup, phrase, network)
    _discard_sidecars(directory / RECORDS_FILE)
    os.replace(directory / STAGING_FILE, directory / RECORDS_FILE)
    fsync_dir(directory)
    save_seed(directory, phrase, use_keyring=use_keyring)
    write_format(directory, CURRENT_FORMAT)  # the commit point
    cleaned = _finish(directory)
    log.info(
        "wallet upgraded: %d records, %d transactions, %d labels",
        result.records,
        result.transactions,
        result.labels,
    )
    return UpgradeResult(
        directory,
        LEGACY_FORMAT,
        migrated=True,
        records=result.records,
        transactions=result.transactions,
        labels=result.labels,
        skipped_labels=result.skipped_labels,
        preferences=result.preferences,
        cleaned=cleaned,
    )


# --- step 1: copies of the legacy files --------------------------------------------------------


def _legacy_phrase(directory: Path) -> str:
    path = directory / LEGACY_SEED
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UpgradeError(
            f"{directory} is an old-format wallet without its {LEGACY_SEED}; restore the "
            "wallet from its recovery phrase instead"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UpgradeError(f"{path} cannot be read ({type(exc).__name__})") from None
    try:
        return validate_mnemonic(text)
    except InvalidMnemonic:
        raise UpgradeError(
            f"{path} does not hold a valid recovery phrase; restore the wallet from its "
            "recovery phrase instead"
        ) from None


def _back_up_legacy_files(directory: Path) -> Path:
    """Copy the legacy files to upgrade-backup/ (the BDK file through the online backup API)."""
    backup = directory / BACKUP_DIR
    backup.mkdir(mode=0o700, exist_ok=True)
    source = directory / LEGACY_WALLET_DB
    if not source.is_file():
        raise UpgradeError(
            f"{directory} is an old-format wallet without its {LEGACY_WALLET_DB}; restore the "
            "wallet from its recovery phrase instead"
        )
    try:
        sqlite_online_copy(source, backup / LEGACY_WALLET_DB)
    except sqlite3.DatabaseError as exc:
        raise UpgradeError(f"{source} cannot be read as a database ({exc})") from None
    for name in (LEGACY_SETTINGS, LEGACY_LABELS):
        try:
            data = (directory / name).read_bytes()
        except FileNotFoundError:
            continue
        write_file_atomically(backup / name, data)
    fsync_dir(directory)
    return backup


# --- step 2: the record store, built in a staging file -----------------------------------------


@dataclass(frozen=True)
class _Built:
    records: int
    transactions: int
    labels: int
    skipped_labels: int
    preferences: list[str]


def _build_store(directory: Path, backup: Path, phrase: str, network: Network) -> _Built:
    staging = directory / STAGING_FILE
    _discard_with_sidecars(staging)
    settings = _read_settings(backup / LEGACY_SETTINGS)
    labels_text = _read_text(backup / LEGACY_LABELS)
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


def _read_settings(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    if not text.strip():
        return {}
    try:
        settings = json.loads(text)
    except ValueError:
        raise UpgradeError(f"{LEGACY_SETTINGS} is not valid JSON; fix or remove it") from None
    if not isinstance(settings, dict):
        raise UpgradeError(f"{LEGACY_SETTINGS} must hold a JSON object; fix or remove it")
    return settings


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UpgradeError(f"{path.name} cannot be read ({type(exc).__name__})") from None


# --- step 5: after the commit --------------------------------------------------------------------


def _finish(directory: Path) -> list[str]:
    """Remove what a migration leaves once `format` is 2: staging files, plain seed, legacy files."""
    cleaned = _remove_leftovers(directory)
    plain_seed = directory / LEGACY_SEED
    if plain_seed.exists() and _secure_seed_file(directory) and _unlink(plain_seed):
        cleaned.append(LEGACY_SEED)
    backup = directory / BACKUP_DIR
    for name in (LEGACY_WALLET_DB, LEGACY_SETTINGS, LEGACY_LABELS):
        legacy = directory / name
        if legacy.exists() and (backup / name).exists():
            for path in (legacy, *_sidecar_paths(legacy)):
                if _unlink(path):
                    cleaned.append(path.name)
    if cleaned:
        fsync_dir(directory)
    return cleaned


def _remove_leftovers(directory: Path) -> list[str]:
    """Files a killed migration leaves: the staging store, temp files of atomic writes."""
    staging = directory / STAGING_FILE
    backup = directory / BACKUP_DIR
    leftovers = [staging, *_sidecar_paths(staging)]
    # Atomic writes go through `.<name>.<random>.tmp` (ours and cairn.seedfile's).
    leftovers += directory.glob(f".{FORMAT_FILE}.*.tmp")
    leftovers += directory.glob(f".{SEED_FILE}.*.tmp")
    if backup.is_dir():
        leftovers += backup.glob(".*.tmp")
    return [path.name for path in leftovers if _unlink(path)]


def _secure_seed_file(directory: Path) -> bool:
    """Whether the seed file holds the phrase of `seed.txt`, durably (written again if not).

    False when that cannot be checked now (the keyring is locked): the plain seed then stays
    until a later start can check, rather than a second copy being written in plain text.
    """
    phrase = _legacy_phrase(directory)
    if seed_exists(directory):
        try:
            if load_seed(directory)[0] == phrase:
                return True
        except SeedKeyUnavailable:
            return False
        except SeedFileError:
            pass  # damaged: written again below
    save_seed(directory, phrase)
    return True


def _sidecar_paths(path: Path) -> list[Path]:
    return [Path(str(path) + suffix) for suffix in _SQLITE_SIDECARS]


def _discard_sidecars(path: Path) -> None:
    # A stale WAL next to a file that is about to be replaced would be replayed into it.
    for sidecar in _sidecar_paths(path):
        _unlink(sidecar)


def _discard_with_sidecars(path: Path) -> None:
    _unlink(path)
    _discard_sidecars(path)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- config.json from the legacy settings ------------------------------------------------------


def _adopt_legacy_config(data_dir: Path, network: Network, directory: Path) -> None:
    """Create config.json from the legacy wallet's settings, or fill in a missing Esplora URL."""
    try:
        settings = _read_settings(directory / LEGACY_SETTINGS)
    except UpgradeError:
        settings = {}
    url = settings.get("esplora_url")
    esplora = url if isinstance(url, str) and url else None
    if not (data_dir / CONFIG_NAME).exists():
        save_config(data_dir, AppConfig(network=network, esplora_url=esplora))
        return
    config = load_config(data_dir)
    if config.network is network and config.esplora_url is None and esplora is not None:
        save_config(data_dir, config.with_changes(esplora_url=esplora))
