"""Fixed randomness for wizard tests, so every flow is reproducible."""

from __future__ import annotations

import pytest

from cairn.onboarding import WizardContext
from tests.support.words import WORDS

CREATE_WORDS = WORDS
RESTORE_WORDS = tuple(("abandon " * 11 + "about").split())
POSITIONS = (1, 4, 11)


@pytest.fixture
def context() -> WizardContext:
    return WizardContext(new_words=lambda: CREATE_WORDS, pick_positions=lambda n: POSITIONS)
