"""The upgrade tests run without a system keyring unless a test installs one.

keyring picks its backend the first time it is asked, among every backend class defined so far,
test doubles of other modules included; the migration's seed file must not depend on that.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backends.fail
import pytest


@pytest.fixture(autouse=True)
def no_system_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)
