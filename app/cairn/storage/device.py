"""This copy of a wallet's store: a random device id kept as the machine-local record `local/device`.

Records another device wrote are told apart from our own by it, and names that only one device
ever writes (the wallet's changesets) carry it. Copying a data dir copies the id too: the backup
engine notices two writers with one id and gives this copy a new one (`rotate_device_id`).
"""

from __future__ import annotations

import os
from typing import Final

from cairn.storage.protocol import RecordStore

DEVICE_RECORD: Final = "local/device"
DEVICE_ID_BYTES: Final = 16


def device_id(store: RecordStore) -> bytes:
    """This store's device id, created on first use."""
    found = store.get(DEVICE_RECORD)
    if found is not None and len(found) == DEVICE_ID_BYTES:
        return found
    return rotate_device_id(store)


def rotate_device_id(store: RecordStore) -> bytes:
    """Give this store a new device id (a cloned data dir must stop writing as the original)."""
    new = os.urandom(DEVICE_ID_BYTES)
    store.put(DEVICE_RECORD, new)
    return new
