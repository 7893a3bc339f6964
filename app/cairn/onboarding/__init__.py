"""The onboarding wizard as a pure state machine (no Qt below here).

The names below are loaded on first use, not with the package: the start of an existing
wallet asks only `start_state` which view comes first, and the wizard's transition table and
phrase checks are not needed for the main window's first frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.lazynames import lazy_names

if TYPE_CHECKING:
    from cairn.onboarding.navmap import NAVMAP, Choice, Step, StepError, WizardContext
    from cairn.onboarding.start import WalletPresence, start_state
    from cairn.onboarding.state import WizardState, loggable
    from cairn.onboarding.views import Flow, LoadingTask, View
    from cairn.onboarding.wizard import PageStatus, Wizard, WizardBug

# Each public name and the module that defines it.
_HOMES = {
    **dict.fromkeys(("NAVMAP", "Choice", "Step", "StepError", "WizardContext"), "navmap"),
    **dict.fromkeys(("WalletPresence", "start_state"), "start"),
    **dict.fromkeys(("WizardState", "loggable"), "state"),
    **dict.fromkeys(("Flow", "LoadingTask", "View"), "views"),
    **dict.fromkeys(("PageStatus", "Wizard", "WizardBug"), "wizard"),
}

__all__ = [
    "NAVMAP",
    "Choice",
    "Flow",
    "LoadingTask",
    "PageStatus",
    "Step",
    "StepError",
    "View",
    "WalletPresence",
    "Wizard",
    "WizardBug",
    "WizardContext",
    "WizardState",
    "loggable",
    "start_state",
]

if not TYPE_CHECKING:  # the type checker sees the imports above, and no catch-all
    __getattr__ = lazy_names(__name__, _HOMES)
