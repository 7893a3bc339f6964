"""What the main window needs from an open wallet session, as typed protocols.

The window is written against these protocols, not against concrete classes, so it can be built
and tested while the session, wallet and backup engine evolve; `cairn.session.Session` satisfies
`MainWindowSession` structurally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from cairn.wallet.watch import WatchTargets


class BalanceView(Protocol):
    """Amounts in satoshis (`cairn.wallet.history.Balance`)."""

    @property
    def confirmed_sat(self) -> int: ...

    @property
    def pending_sat(self) -> int: ...

    @property
    def own_pending_sat(self) -> int: ...  # unconfirmed, from the wallet's own transactions

    @property
    def spendable_sat(self) -> int: ...

    @property
    def incoming_sat(self) -> int: ...


class HistoryItemView(Protocol):
    """One wallet transaction as the history shows it (`cairn.wallet.history.HistoryItem`)."""

    @property
    def txid(self) -> str: ...

    @property
    def direction(self) -> str: ...  # "in" | "out" | "self"

    @property
    def amount_sat(self) -> int: ...  # positive; what moved in that direction, fee excluded

    @property
    def fee_sat(self) -> int | None: ...

    @property
    def confirmations(self) -> int: ...

    @property
    def time(self) -> int | None: ...  # unix seconds: block time, or first seen

    @property
    def label(self) -> str | None: ...  # the transaction's own label

    @property
    def address_labels(self) -> tuple[str, ...]: ...  # labels of own receive addresses it pays

    @property
    def shown_label(self) -> str: ...


class PaymentPlanView(Protocol):
    """A payment built and checked but not yet signed (`cairn.wallet.payments.PaymentPlan`)."""

    @property
    def recipient(self) -> str: ...

    @property
    def amount_sat(self) -> int: ...

    @property
    def fee_sat(self) -> int: ...

    @property
    def change_sat(self) -> int: ...

    @property
    def fee_rate_sat_vb(self) -> float: ...

    @property
    def total_sat(self) -> int: ...


class ReceiveAddressView(Protocol):
    """An address handed out for receiving (`cairn.wallet.core.ReceiveAddress`)."""

    @property
    def address(self) -> str: ...

    @property
    def index(self) -> int: ...


class SyncStatusView(Protocol):
    """The chain connection (`cairn.wallet.sync.SyncStatus`)."""

    @property
    def state(self) -> str: ...  # never_synced | syncing | online | offline

    @property
    def height(self) -> int: ...

    @property
    def error(self) -> str | None: ...


class WalletView(Protocol):
    """The wallet calls the window makes (`cairn.wallet.CairnWallet`).

    The plain methods block on the wallet's lock or SQLite: the window runs them with
    `asyncio.to_thread`. The coroutines do their own blocking work in worker threads.
    """

    def balance(self) -> BalanceView: ...

    def history(self) -> Sequence[HistoryItemView]: ...

    def export_labels(self) -> str: ...

    async def import_labels(self, text: str | bytes) -> Any: ...  # LabelImportResult

    def label(self, type_: str, ref: str) -> str | None: ...

    def preference(self, name: str, default: str | None = None) -> str | None: ...

    def transaction_details(self, txid: str) -> Any: ...  # cairn.wallet.details.TransactionDetails

    def addresses(self) -> Sequence[Any]: ...  # cairn.wallet.address_list.AddressInfo

    async def set_preference(self, name: str, value: str | None) -> None: ...

    def plan_payment(
        self, recipient: str, amount_sat: int | None, fee_rate_sat_vb: float
    ) -> PaymentPlanView: ...

    async def send(self, plan: Any, *, memo: str = "") -> str: ...

    def plan_fee_bump(self, txid: str, fee_rate_sat_vb: float) -> Any: ...  # FeeBumpPlan

    async def bump_fee(self, plan: Any) -> str: ...

    async def current_receive_address(self) -> ReceiveAddressView: ...

    async def next_receive_address(self) -> ReceiveAddressView: ...

    async def fee_estimates(self) -> Mapping[int, float]: ...

    async def set_label(self, type_: str, ref: str, label: str | None) -> None: ...

    async def sync(self) -> SyncStatusView: ...

    def watch_targets(self) -> WatchTargets: ...

    @property
    def esplora_url(self) -> str: ...


class BackupSnapshotView(Protocol):
    """One state of the backup engine (`cairn.backup.status.StatusSnapshot`)."""

    @property
    def state(self) -> str: ...

    @property
    def server_url(self) -> str: ...

    @property
    def last_success(self) -> float | None: ...  # unix seconds

    @property
    def pending_changes(self) -> int: ...

    @property
    def pending_bytes(self) -> int: ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def full_backup_done(self) -> int: ...

    @property
    def full_backup_total(self) -> int: ...

    @property
    def full_backup_reason(self) -> str | None: ...

    @property
    def conflicts(self) -> int: ...

    @property
    def rollback_detected(self) -> bool: ...

    @property
    def notice(self) -> str | None: ...

    @property
    def notice_kind(self) -> str | None: ...

    @property
    def notice_at(self) -> float | None: ...


class ConflictValueView(Protocol):
    """One value a conflict kept: None for a deletion; the device and time that wrote it."""

    @property
    def value(self) -> bytes | None: ...

    @property
    def device(self) -> bytes: ...

    @property
    def clock(self) -> tuple[int, int]: ...


class ConflictView(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def candidates(self) -> Sequence[ConflictValueView]: ...


class BackupStatusView(Protocol):
    """The backup engine's observable status model (`cairn.backup.status.BackupStatus`)."""

    @property
    def current(self) -> BackupSnapshotView: ...

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]: ...


class MainWindowSession(Protocol):
    """An open wallet: what the main window reads and the actions it asks for."""

    @property
    def network(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def wallet_is_open(self) -> bool: ...  # False while the app is still opening it

    @property
    def wallet(self) -> WalletView: ...  # only once wallet_is_open

    @property
    def backup_status(self) -> BackupStatusView: ...

    @property
    def email(self) -> str | None: ...

    def subscribe_events(self, callback: Callable[[object], None]) -> Callable[[], None]: ...

    async def back_up_now(self) -> None: ...

    async def conflicts(self) -> Sequence[ConflictView]: ...

    async def resolve_conflict(self, name: str, keep: int) -> None: ...

    async def dismiss_backup_notice(self) -> None: ...

    async def back_up_here_again(self) -> None: ...

    async def change_backup_server(self, url: str) -> None: ...

    @property
    def backup_invite(self) -> str | None: ...

    def set_backup_invite(self, code: str) -> None: ...

    async def delete_server_backup(self) -> None: ...

    async def set_email(self, email: str | None) -> None: ...

    def seed_words(self) -> list[str]: ...

    async def protect_seed(self) -> bool: ...  # True once the seed file is under a keyring key

    @property
    def explorer_template(self) -> str | None: ...  # "https://…/tx/{txid}", None: no explorer

    @property
    def can_use_faucet(self) -> bool: ...

    @property
    def seed_is_plain(self) -> bool: ...

    async def faucet(self, address: str, amount: int) -> str: ...
