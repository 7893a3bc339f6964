"""The onboarding wizard as a pure state machine (no Qt below here)."""

from cairn.onboarding.navmap import NAVMAP, Choice, Step, StepError, WizardContext
from cairn.onboarding.start import WalletPresence, start_state
from cairn.onboarding.state import WizardState, loggable
from cairn.onboarding.views import Flow, LoadingTask, View
from cairn.onboarding.wizard import PageStatus, Wizard, WizardBug

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
