"""Labels (BIP-329) as records ``labels/<type>/<ref>``, with JSONL export and import.

A record's value is the label's whole BIP-329 object as canonical JSON, so fields Cairn does not
use (``origin``, ``spendable``, ...) survive an import and come back out on export. Types ``tx``
and ``addr`` are what the wallet shows; ``pubkey``, ``input``, ``output`` and ``xpub`` are kept
and exported unchanged.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.events import EventBus, LabelChanged
from cairn.usererrors import UserError

if TYPE_CHECKING:
    from cairn.storage import RecordStore

LABEL_PREFIX = "labels/"
LABEL_TYPES = ("tx", "addr", "pubkey", "input", "output", "xpub")
MAX_REF_CHARS = 600
MAX_LABEL_CHARS = 10_000

_TXID = re.compile(r"[0-9a-fA-F]{64}")
_OUTPOINT = re.compile(r"[0-9a-fA-F]{64}:[0-9]{1,10}")


@dataclass(frozen=True)
class Label:
    """One BIP-329 entry; ``extra`` holds every other field of its JSON object."""

    type: str
    ref: str
    label: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {**self.extra, "type": self.type, "ref": self.ref}
        if self.label is not None:
            document["label"] = self.label
        return document


@dataclass(frozen=True)
class LabelLineError:
    """An import line that was skipped, and why (``line`` counts from 1)."""

    line: int
    reason: str


@dataclass(frozen=True)
class LabelImportResult:
    """What an import did: valid lines are kept even when others are rejected."""

    imported: int
    errors: list[LabelLineError]


class LabelError(ValueError, UserError):
    """A label that cannot be stored (bad type or reference)."""


def label_record_name(type_: str, ref: str) -> str:
    return f"{LABEL_PREFIX}{type_}/{ref}"


def check_label_ref(type_: str, ref: str) -> None:
    """Raise LabelError unless ``ref`` is a reference BIP-329 allows for ``type_``."""
    if type_ not in LABEL_TYPES:
        raise LabelError(f'unknown label type "{type_}" (BIP-329 has {", ".join(LABEL_TYPES)})')
    if not ref or len(ref) > MAX_REF_CHARS or any(ord(c) < 32 for c in ref):
        raise LabelError(f"a {type_} label needs a reference of 1 to {MAX_REF_CHARS} characters")
    if type_ == "tx" and not _TXID.fullmatch(ref):
        raise LabelError("a tx label's ref must be a transaction id (64 hex characters)")
    if type_ in ("input", "output") and not _OUTPOINT.fullmatch(ref):
        raise LabelError(f"an {type_} label's ref must be txid:index")


def parse_label_line(text: str) -> Label:
    """One BIP-329 JSONL line as a Label; LabelError saying what is wrong otherwise."""
    try:
        document = json.loads(text)
    except ValueError:
        raise LabelError("not valid JSON") from None
    if not isinstance(document, dict):
        raise LabelError("not a JSON object")
    type_, ref, label = document.get("type"), document.get("ref"), document.get("label")
    if not isinstance(type_, str):
        raise LabelError('missing "type"')
    if not isinstance(ref, str):
        raise LabelError('missing "ref"')
    if label is not None and not isinstance(label, str):
        raise LabelError('"label" must be a string')
    if label is not None and len(label) > MAX_LABEL_CHARS:
        raise LabelError(f'"label" is longer than {MAX_LABEL_CHARS} characters')
    check_label_ref(type_, ref)
    extra = {k: v for k, v in document.items() if k not in ("type", "ref", "label")}
    return Label(type_, ref, label, extra)


def parse_labels(text: str) -> tuple[list[Label], list[LabelLineError]]:
    """Every valid line of a BIP-329 export, and an error for every invalid one."""
    labels: list[Label] = []
    errors: list[LabelLineError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            labels.append(parse_label_line(line))
        except LabelError as error:
            errors.append(LabelLineError(number, str(error)))
    return labels, errors


def format_labels(labels: Iterable[Label]) -> str:
    """BIP-329 JSONL, one object per line, ending with a newline when not empty."""
    lines = [json.dumps(label.to_json(), ensure_ascii=False, sort_keys=True) for label in labels]
    return "".join(line + "\n" for line in lines)


def _encode(label: Label) -> bytes:
    return json.dumps(label.to_json(), ensure_ascii=False, sort_keys=True).encode()


class LabelBook:
    """The labels of one wallet: records in the store, cached in memory for fast lookups.

    Calls block on the store; run them off the event loop (the wallet does).
    """

    def __init__(self, store: RecordStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._lock = threading.Lock()
        self._labels: dict[tuple[str, str], Label] = {}
        self.reload()

    def reload(self) -> None:
        """Read every label record again (after a restore replaced the store's contents)."""
        labels: dict[tuple[str, str], Label] = {}
        for _name, value in self._store.scan(LABEL_PREFIX):
            try:
                label = parse_label_line(value.decode())
            except (LabelError, UnicodeDecodeError):
                continue  # an unreadable record stays on disk untouched; it is not shown
            labels[(label.type, label.ref)] = label
        with self._lock:
            self._labels = labels

    def get(self, type_: str, ref: str) -> str | None:
        """The label text of ``ref``, or None."""
        with self._lock:
            found = self._labels.get((type_, ref))
        return found.label if found is not None else None

    def all(self) -> list[Label]:
        """Every label, ordered by type and reference."""
        with self._lock:
            return [self._labels[key] for key in sorted(self._labels)]

    def set(self, type_: str, ref: str, label: str | None) -> None:
        """Set (or with None or blank text, remove) a label; publishes LabelChanged."""
        check_label_ref(type_, ref)
        text = label.strip() if label is not None else ""
        if len(text) > MAX_LABEL_CHARS:
            raise LabelError(f"a label has at most {MAX_LABEL_CHARS} characters")
        key = (type_, ref)
        with self._lock:
            current = self._labels.get(key)
            if text:
                extra = current.extra if current is not None else {}
                updated = Label(type_, ref, text, extra)
                self._store.put(label_record_name(type_, ref), _encode(updated))
                self._labels[key] = updated
            elif current is not None:
                self._store.delete(label_record_name(type_, ref))
                del self._labels[key]
            else:
                return
        self._bus.publish(LabelChanged(type_, ref, text or None))

    def export_jsonl(self) -> str:
        """Every label as BIP-329 JSONL."""
        return format_labels(self.all())

    def import_jsonl(self, text: str) -> LabelImportResult:
        """Store every valid line (an imported entry replaces the one with the same ref).

        Written in one atomic batch; invalid lines are reported and skipped.
        """
        labels, errors = parse_labels(text)
        incoming = {(label.type, label.ref): label for label in labels}  # last line wins
        with self._lock:
            changed = {
                key: label
                for key, label in incoming.items()
                if self._labels.get(key) is None or self._labels[key].to_json() != label.to_json()
            }
            if changed:
                self._store.batch(
                    puts={label_record_name(*key): _encode(label) for key, label in changed.items()}
                )
                self._labels.update(changed)
        for (type_, ref), label in changed.items():
            self._bus.publish(LabelChanged(type_, ref, label.label))
        return LabelImportResult(imported=len(incoming), errors=errors)
