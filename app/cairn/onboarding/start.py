"""Where the app starts: the main window, the upgrade's full backup, or the welcome screen."""

from __future__ import annotations

from enum import Enum

from cairn.keys import Network
from cairn.onboarding.state import WizardState
from cairn.onboarding.views import Flow, View


class WalletPresence(Enum):
    """What the data dir holds for the chosen network."""

    NONE = "none"
    READY = "ready"
    NEEDS_FULL_BACKUP = "needs_full_backup"  # an upgraded/legacy wallet never fully backed up


def start_state(
    presence: WalletPresence, server_url: str | None, network: Network = Network.BITCOIN
) -> WizardState:
    configured = bool(server_url)
    common = WizardState(
        view=View.WELCOME,
        backup_server_url=server_url or "",
        server_configured=configured,
        network=network,
    )
    if presence is WalletPresence.READY:
        return common.with_changes(view=View.MAIN)
    if presence is WalletPresence.NEEDS_FULL_BACKUP:
        # The full backup runs before anything else; without a server, ask for one first.
        view = View.LOADING if configured else View.BACKUP_SERVER
        return common.with_changes(view=view, flow=Flow.UPGRADE)
    return common
