"""The values of the engine's `local/backup/` records: how each is encoded and read back.

Pure data; cairn.backup.localstate is the one writer of the records themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["FullRequirement", "Incarnation", "ManifestState", "Notice"]


@dataclass(frozen=True)
class ManifestState:
    """The server's live set as this device knows it: count and set digest of live objects."""

    version: int = 0
    objects: int = 0
    digest: int = 0

    def encode(self) -> bytes:
        return json.dumps(
            {"version": self.version, "objects": self.objects, "digest": f"{self.digest:064x}"}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> ManifestState:
        if raw is None:
            return cls()
        data = json.loads(raw)
        return cls(int(data["version"]), int(data["objects"]), int(data["digest"], 16))


@dataclass(frozen=True)
class Incarnation:
    """This life of the store, and the one it replaced (named in every manifest).

    `confirmed` is False for a life this device is about to start, until the server has
    accepted its first batch.
    """

    id: str
    previous: str | None = None
    previous_generation: int = 0
    confirmed: bool = True

    def as_confirmed(self) -> Incarnation:
        """The same life, once the server has accepted a batch of it."""
        return Incarnation(self.id, self.previous, self.previous_generation)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "previous": self.previous,
                "previous_generation": self.previous_generation,
                "confirmed": self.confirmed,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> Incarnation | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return cls(
            str(data["id"]),
            data.get("previous"),
            int(data.get("previous_generation", 0)),
            bool(data.get("confirmed", True)),
        )


@dataclass(frozen=True)
class FullRequirement:
    """Why everything must be compared with the server again, and how to treat what it lacks.

    `trust_server`: a record the server no longer has was deleted by another device (compaction,
    a new incarnation, the protocol upgrade); otherwise the server lost it and it goes up again.
    `new_incarnation`: this device may start a new life of an erased store.
    """

    reason: str
    token: str
    trust_server: bool = False
    new_incarnation: bool = True


@dataclass(frozen=True)
class Notice:
    """Something the user must hear about until they dismiss it: a rollback or an erase."""

    kind: str  # "rollback" | "erased"
    reason: str
    at: float

    def encode(self) -> bytes:
        return json.dumps({"kind": self.kind, "reason": self.reason, "at": self.at}).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> Notice | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return cls(str(data["kind"]), str(data["reason"]), float(data["at"]))
