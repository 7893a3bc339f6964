"""The embedded record store: names to bytes, with an outbox of changes to back up."""

from cairn.storage.asyncstore import AsyncRecordStore
from cairn.storage.device import device_id, rotate_device_id
from cairn.storage.memory import MemoryStore
from cairn.storage.migrations import MIGRATIONS, Migration
from cairn.storage.protocol import (
    LOCAL_PREFIX,
    MAX_NAME_BYTES,
    MigrationError,
    OutboxEntry,
    OutboxOp,
    OutboxStats,
    Pending,
    PendingChanged,
    RecordStore,
    SchemaTooNewError,
    Snapshot,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreNotWritable,
    is_local,
)
from cairn.storage.sqlite import SqliteStore

__all__ = [
    "LOCAL_PREFIX",
    "MAX_NAME_BYTES",
    "MIGRATIONS",
    "AsyncRecordStore",
    "MemoryStore",
    "Migration",
    "MigrationError",
    "OutboxEntry",
    "OutboxOp",
    "OutboxStats",
    "Pending",
    "PendingChanged",
    "RecordStore",
    "SchemaTooNewError",
    "Snapshot",
    "SqliteStore",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreNotWritable",
    "device_id",
    "is_local",
    "rotate_device_id",
]
