"""The BDK wallet, persisted as records; chain sync, payments, labels and events.

The names below are loaded on first use, not when the package is: its light parts (amounts,
the chain watcher, the Esplora probe) serve the main window's first frame, and importing the
wallet itself loads BDK (about 28 MiB, a tenth of a second), which the app defers until after
that frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.lazynames import lazy_names

if TYPE_CHECKING:
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

# Each public name and the module that defines it.
_HOMES = {
    "CairnWallet": "core",
    **dict.fromkeys(
        (
            "BroadcastRejected",
            "ChainUnavailable",
            "DustAmount",
            "InsufficientFunds",
            "InvalidAddress",
            "InvalidAmount",
            "WalletError",
            "WalletStorageError",
            "WrongNetworkAddress",
        ),
        "errors",
    ),
    **dict.fromkeys(("Balance", "Direction", "HistoryItem"), "history"),
    **dict.fromkeys(("Label", "LabelError", "LabelImportResult", "LabelLineError"), "labels"),
    "PaymentPlan": "payments",
    "RecordPersistence": "persistence",
    "Preferences": "preferences",
    "ReceiveAddress": "receiving",
    **dict.fromkeys(("SyncState", "SyncStatus"), "sync"),
    **dict.fromkeys(("ChainWatcher", "WatchTargets"), "watch"),
}

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


if not TYPE_CHECKING:  # the type checker sees the imports above, and no catch-all
    __getattr__ = lazy_names(__name__, _HOMES)
