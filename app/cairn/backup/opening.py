"""Verifying and decrypting a restore's objects (restore.py), one network read at a time.

Each object must come after the one before it in key order (so none repeats), open under its
own (store, key, version, write id, incarnation), and be either the manifest or a record whose
name is not local and whose wire key is the object's key. The counts and the set digest are
kept for the manifest check. Nothing grows with the number of objects.
"""

from __future__ import annotations

from cairn.backup.errors import BackupCorrupt
from cairn.backup.localstate import version_record
from cairn.keys import BackupKeys
from cairn.storage import is_local
from cairn.wire import envelope, payload
from cairn.wire.addressing import WireKeys
from cairn.wire.messages import StoredObject

__all__ = ["WRITE_ID_CACHE", "ObjectOpener", "decode_manifest"]

WRITE_ID_CACHE = 4096  # write ids kept parsed: bounded, whatever a server sends


class ObjectOpener:
    """Verifies and decrypts the export's objects, one network read at a time (see above)."""

    def __init__(
        self, data_key: bytes, key_name_key: bytes, store_id: str, incarnation: str | None
    ) -> None:
        self._incarnation = None if incarnation is None else bytes.fromhex(incarnation)
        self._unsealer = envelope.StoreUnsealer(data_key, store_id, self._incarnation)
        self._wire_key = WireKeys(key_name_key)
        self._set_term = payload.SetTerms(payload.manifest_key(key_name_key))
        self._manifest_key = payload.manifest_wire_key(key_name_key)
        # A full backup writes thousands of objects per write id: each is parsed once.
        self._write_ids: dict[str, bytes] = {}
        self._last_key = ""  # every key is 64 hex digits: "" sorts before all of them
        self.count = 0  # records, the manifest not included
        self.received = 0  # bytes of sealed objects
        self.digest = 0  # the sum of terms; reduced mod 2^256 by the reader
        self.manifest: payload.Manifest | None = None
        self.manifest_version = 0
        self.manifest_write: str | None = None  # the write id of the batch that wrote it

    @classmethod
    def for_keys(cls, keys: BackupKeys, store_id: str, incarnation: str | None) -> ObjectOpener:
        return cls(keys.data_key, keys.key_name_key, store_id, incarnation)

    def open(self, objects: list[StoredObject], rows: list[tuple[str, bytes]]) -> None:
        """Check and open `objects`, appending each record and its server version to `rows`."""
        # Bound once per read, and the counters kept in locals: this loop runs for every
        # object, and each attribute access or global look-up in it costs.
        unseal, incarnation, wire_key = self._unsealer.unseal, self._incarnation, self._wire_key
        set_term, decode_entry = self._set_term, payload.decode_record_entry
        manifest_key = self._manifest_key
        write_ids, append, last = self._write_ids, rows.append, self._last_key
        received, digest, count = self.received, self.digest, self.count
        try:
            for key, version, write_id, blob in objects:
                # Strictly ascending, as the export is sent: a repeated object cannot pass,
                # and no set of every key seen is kept. A malformed key needs no check of its
                # own: no record's wire key and not the manifest's, it is refused below.
                if key <= last:
                    raise BackupCorrupt("the export repeats an object or is out of key order")
                last = key
                received += len(blob)
                written: bytes | None = None
                if write_id is not None:
                    if incarnation is None:
                        raise BackupCorrupt(
                            "an object names a write but the store has no incarnation"
                        )
                    written = write_ids.get(write_id)
                    if written is None:
                        written = _write_id_bytes(write_id)
                        if len(write_ids) < WRITE_ID_CACHE:
                            write_ids[write_id] = written
                try:
                    body = unseal(key, version, blob, written)
                except envelope.DecryptionError as exc:
                    raise BackupCorrupt(f"an object does not decrypt: {exc}") from None
                if key == manifest_key:
                    self.manifest = decode_manifest(body)
                    self.manifest_version, self.manifest_write = version, write_id
                    continue
                try:
                    name, value, deleted = decode_entry(body)
                except payload.PayloadError as exc:
                    raise BackupCorrupt(f"an object's contents are malformed: {exc}") from None
                if deleted:
                    raise BackupCorrupt("the export lists a tombstone as an object")
                if wire_key(name) != key or is_local(name):
                    raise BackupCorrupt("an object is stored under a key that is not its name's")
                append((name, value))
                append(version_record(key, version))
                digest += set_term(key, version)
                count += 1
        finally:
            self._last_key, self.received, self.digest, self.count = last, received, digest, count


def _write_id_bytes(write_id: str) -> bytes:
    try:
        written = bytes.fromhex(write_id)
    except ValueError:
        written = b""
    if len(written) != 16:
        raise BackupCorrupt("an object names a malformed write id")
    return written


def decode_manifest(body: bytes) -> payload.Manifest:
    try:
        return payload.decode_manifest(body)
    except payload.PayloadError as exc:
        raise BackupCorrupt(f"an object's contents are malformed: {exc}") from None
