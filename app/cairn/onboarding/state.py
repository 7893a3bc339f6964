"""The wizard's data as immutable snapshots, and the whitelist of what may be logged."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cairn.keys import Network
from cairn.onboarding.views import LOADING_TASK_OF_FLOW, Flow, LoadingTask, View


@dataclass(frozen=True)
class WizardState:
    """Everything the wizard knows at one step; a new snapshot replaces it on every change.

    `words` is the seed phrase and `passphrase` its optional BIP39 extension: both are
    excluded from repr and from `loggable()`.
    """

    view: View
    flow: Flow | None = None
    words: tuple[str, ...] = field(default=(), repr=False)
    confirm_positions: tuple[int, ...] = ()
    confirm_answers: tuple[str, ...] = field(default=(), repr=False)
    acknowledged: bool = False
    email: str = field(default="", repr=False)
    email_skipped: bool = False
    backup_server_url: str = ""
    # An invite code, for a server that takes new wallets by invite only; never logged.
    backup_invite: str = field(default="", repr=False)
    server_configured: bool = False
    without_backup: bool = False
    # An advanced choice on the welcome screen; it ends up in config.json as the network.
    network: Network = Network.BITCOIN
    # Advanced too: a BIP39 passphrase extending the words, typed twice.
    passphrase: str = field(default="", repr=False)
    passphrase_again: str = field(default="", repr=False)

    def with_changes(self, **changes: Any) -> WizardState:
        """A new snapshot with `changes` applied (this one stays as it was)."""
        return replace(self, **changes)

    @property
    def loading_task(self) -> LoadingTask | None:
        return LOADING_TASK_OF_FLOW[self.flow] if self.flow is not None else None

    @property
    def needs_server(self) -> bool:
        """True when no backup server is configured yet, so the wizard must ask for one."""
        return not self.server_configured


# Only these fields ever reach a log. Seeds, confirmation answers and the email address do not.
LOGGABLE_FIELDS: tuple[str, ...] = (
    "view",
    "flow",
    "acknowledged",
    "email_skipped",
    "backup_server_url",
    "server_configured",
    "without_backup",
    "network",
)


def loggable(state: WizardState) -> dict[str, object]:
    """The whitelisted, log-safe view of a snapshot."""
    out: dict[str, object] = {}
    for name in LOGGABLE_FIELDS:
        value = getattr(state, name)
        out[name] = value.value if hasattr(value, "value") else value
    out["word_count"] = len(state.words)
    out["email_given"] = bool(state.email)
    return out
