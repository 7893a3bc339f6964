"""The BDK wallet, persisted as records; chain sync, payments, labels and events."""

from cairn.wallet.core import CairnWallet
from cairn.wallet.errors import (
    BroadcastRejected,
    ChainUnavailable,
    DustAmount,
    InsufficientFunds,
    InvalidAddress,
    InvalidAmount,
    WalletError,
    WalletStorageError,
    WrongNetworkAddress,
)
from cairn.wallet.history import Balance, Direction, HistoryItem
from cairn.wallet.labels import Label, LabelError, LabelImportResult, LabelLineError
from cairn.wallet.payments import PaymentPlan
from cairn.wallet.persistence import RecordPersistence
from cairn.wallet.preferences import Preferences
from cairn.wallet.receiving import ReceiveAddress
from cairn.wallet.sync import SyncState, SyncStatus
from cairn.wallet.watch import ChainWatcher, WatchTargets

__all__ = [
    "Balance",
    "BroadcastRejected",
    "CairnWallet",
    "ChainUnavailable",
    "ChainWatcher",
    "Direction",
    "DustAmount",
    "HistoryItem",
    "InsufficientFunds",
    "InvalidAddress",
    "InvalidAmount",
    "Label",
    "LabelError",
    "LabelImportResult",
    "LabelLineError",
    "PaymentPlan",
    "Preferences",
    "ReceiveAddress",
    "RecordPersistence",
    "SyncState",
    "SyncStatus",
    "WalletError",
    "WalletStorageError",
    "WatchTargets",
    "WrongNetworkAddress",
]
