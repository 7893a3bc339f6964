"""SyncEngine: the backup as the channel between every device on one seed (docs/PROTOCOL.md §11).

Pull before push. `pull` reads the server's change feed from the generation this device has
applied, opens and verifies every item, merges it with the local records by kind of record
(merge.py) and moves the cursor, page by page, each page in one local transaction. `push`
sends the outbox as one batch under a store-wide precondition: the generation this device has
seen everything up to. A 409 therefore means "another device wrote first": pull, merge, build
the batch again and resend, never a conflict by itself.

Every batch carries the store's manifest (count and keyed set digest of the live objects,
payload.py), computed from this device's exact knowledge of the server at that generation. After
pulling, the manifest the server holds must equal what this device computed from the feed: a
server that drops, adds, resurrects or replays an object, lowers the generation, or presents an
older incarnation is caught; an honest server never raises an alarm, however devices interleave.

`resync` compares everything: it lists the store (the export), merges every object, deletes
locally only what was synced before and is now gone (when the server is to be trusted about
that), and queues what exists only here. It runs after an upgrade, a new server, a rollback, a
compaction, a new incarnation and the move to protocol v2.
"""

from __future__ import annotations

from cairn.backup.engine import PushResult, SyncNotice
from cairn.backup.errors import BackupCorrupt, BackupErased
from cairn.backup.pull import Pulling
from cairn.backup.push import Pushing
from cairn.backup.resync import Resyncing

__all__ = [
    "BackupCorrupt",
    "BackupErased",
    "PushResult",
    "SyncEngine",
    "SyncNotice",
]


class SyncEngine(Pulling, Pushing, Resyncing):
    """Pull, merge and push for one wallet store against one server store.

    Its parts: pull.py, push.py and resync.py, over the shared core in engine.py; merging a page
    into local records is changes.py.
    """
