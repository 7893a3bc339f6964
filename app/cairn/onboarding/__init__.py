"""The onboarding wizard as a pure state machine (no Qt below here).

The names below are loaded on first use, not with the package: the start of an existing
wallet asks only `start_state` which view comes first, and the wizard's transition table and
phrase checks are not needed for the main window's first frame (issue #14).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
