"""Labels (BIP-329) as records ``labels/<type>/<ref>``, with JSONL export and import.

A record's value is the label's whole BIP-329 object as canonical JSON, so fields Cairn does not
use (``origin``, ``spendable``, ...) survive an import and come back out on export. Types ``tx``
and ``addr`` are what the wallet shows; ``pubkey``, ``input``, ``output`` and ``xpub`` are kept
and exported unchanged.

An import (from Sparrow, Electrum or another Cairn) merges: an entry for a reference already
labelled updates the fields it carries and keeps the others, so a line with only
``"spendable"`` never wipes a label's text. Files come from anywhere, so every line is checked
(size, JSON, type, reference, for ``addr`` the wallet's network) and a bad line is skipped with
its reason while the others are kept.

References are kept in one form (`canonical_label_ref`): a txid in lower case, a bech32 address
in lower case (BIP173 allows it all in upper case too; mixed case is no address), a base58
address as it is (its case is part of it). So `ABCD…` and `abcd…` are one label, whichever way
it was typed or imported. Records an older Cairn stored under another form of their reference
are read as the same label, and the next change to it replaces them.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.events import EventBus, LabelChanged
from cairn.keys import Network
from cairn.usererrors import UserError, printable, undecodable
from cairn.wallet.addresses import parse_address
from cairn.wallet.errors import InvalidAddress, WrongNetworkAddress

if TYPE_CHECKING:
    from cairn.storage import RecordStore

LABEL_PREFIX = "labels/"
LABEL_TYPES = ("tx", "addr", "pubkey", "input", "output", "xpub")
MAX_REF_CHARS = 600
MAX_LABEL_CHARS = 10_000
# A BIP-329 line is a small object; anything far larger is not a label file, and is refused
# before it is parsed (a hostile file must not make the app parse megabytes of JSON per line).
MAX_LINE_BYTES = 64 * 1024
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_REASONS_SHOWN = 5

_TXID = re.compile(r"[0-9a-fA-F]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OUTPOINT = re.compile(r"[0-9a-fA-F]{64}:[0-9]{1,10}")
# The human-readable parts of Bitcoin's bech32 addresses (mainnet, testnet and signet, regtest).
_BECH32_PREFIXES = ("bc1", "tb1", "bcrt1")


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
    """What an import did: valid lines are kept even when others are rejected.

    ``imported``: valid entries read; ``changed``: of those, the ones that added or changed a
    label (the others were already there exactly so).
    """

    imported: int
    errors: list[LabelLineError]
    changed: int | None = None

    @property
    def unchanged(self) -> int:
        return self.imported - (self.imported if self.changed is None else self.changed)

    def summary(self) -> str:
        """One or two sentences for the user: what came in, what was skipped and why."""
        changed = self.imported if self.changed is None else self.changed
        parts = [f"{_count(changed, 'label')} imported"]
        if self.unchanged:
            parts.append(f"{self.unchanged} already here")
        text = ", ".join(parts) + "."
        if self.errors:
            shown = "; ".join(f"line {e.line}: {e.reason}" for e in self.errors[:MAX_REASONS_SHOWN])
            more = len(self.errors) - MAX_REASONS_SHOWN
            if more > 0:
                shown += f"; and {_count(more, 'more line')}"
            text += f" {_count(len(self.errors), 'line')} skipped ({shown})."
        return text


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class LabelError(ValueError, UserError):
    """A label that cannot be stored (bad type or reference)."""


def checked_label_text(text: str | None) -> str:
    """The text to keep as a label or a payment's memo, stripped ("" for none); LabelError for
    one that cannot be kept: too long, or not text (bytes that are not UTF-8, as a command-line
    argument brings them, surrogate-escaped). The one check of a label's text."""
    stripped = (text or "").strip()
    if len(stripped) > MAX_LABEL_CHARS:
        raise LabelError(
            f"a label has at most {MAX_LABEL_CHARS:,} characters; this one has {len(stripped):,}"
        )
    if undecodable(stripped):
        raise LabelError("a label must be UTF-8 text: this one has bytes that are not UTF-8")
    return stripped


def label_record_name(type_: str, ref: str) -> str:
    return f"{LABEL_PREFIX}{type_}/{ref}"


def canonical_label_ref(type_: str, ref: str) -> str:
    """``ref`` in the one form labels are kept under (see the module's docstring); LabelError
    unless it is a reference BIP-329 allows for ``type_``."""
    if type_ not in LABEL_TYPES:
        raise LabelError(
            f'unknown label type "{printable(type_)}" (BIP-329 has {", ".join(LABEL_TYPES)})'
        )
    if not ref or len(ref) > MAX_REF_CHARS:
        raise LabelError(f"a {type_} label needs a reference of 1 to {MAX_REF_CHARS} characters")
    if undecodable(ref):
        raise LabelError(f"a {type_} label's reference is not UTF-8 text")
    if _CONTROL.search(ref):
        raise LabelError(
            f"a {type_} label's reference cannot contain control characters (such as a newline)"
        )
    if type_ == "tx":
        if not _TXID.fullmatch(ref):
            raise LabelError("a tx label's ref must be a transaction id (64 hex characters)")
        return ref.lower()
    if type_ in ("input", "output"):
        if not _OUTPOINT.fullmatch(ref):
            raise LabelError(f"an {type_} label's ref must be txid:index")
        return ref.lower()
    if type_ == "addr" and ref.lower().startswith(_BECH32_PREFIXES):
        if ref not in (ref.lower(), ref.upper()):
            raise LabelError(
                "an addr label's ref mixes upper and lower case, which no bech32 address does"
            )
        return ref.lower()
    return ref


def parse_label_line(text: str, network: Network | None = None) -> Label:
    """One BIP-329 JSONL line as a Label; LabelError saying what is wrong otherwise.

    With ``network``, an ``addr`` label must name an address of that network.
    """
    if len(text) > MAX_LINE_BYTES:
        raise LabelError(f"longer than {MAX_LINE_BYTES // 1024} KiB, not a label")
    try:
        document = json.loads(text)
    except ValueError:
        raise LabelError("not valid JSON") from None
    except RecursionError:  # "[[[[…" a few thousand deep: valid JSON, and no label
        raise LabelError("nested too deeply, not a label") from None
    if not isinstance(document, dict):
        raise LabelError("not a JSON object")
    type_, ref, label = document.get("type"), document.get("ref"), document.get("label")
    if not isinstance(type_, str):
        raise LabelError('missing "type"')
    if not isinstance(ref, str):
        raise LabelError('missing "ref"')
    if label is not None and not isinstance(label, str):
        raise LabelError('"label" must be a string')
    if label is not None:
        try:
            label = checked_label_text(label)
        except LabelError as error:
            raise LabelError(f'"label": {error}') from None
    ref = canonical_label_ref(type_, ref)
    if type_ == "addr" and network is not None:
        _check_address_network(ref, network)
    extra = {k: v for k, v in document.items() if k not in ("type", "ref", "label")}
    return Label(type_, ref, label, extra)


def _check_address_network(ref: str, network: Network) -> None:
    try:
        parse_address(ref, network)
    except WrongNetworkAddress as error:
        raise LabelError(
            f"a {error.address_network} address, but this wallet is on {network.value}"
        ) from None
    except InvalidAddress:
        raise LabelError("an addr label's ref must be a Bitcoin address") from None


def parse_labels(
    text: str | bytes, network: Network | None = None
) -> tuple[list[Label], list[LabelLineError]]:
    """Every valid line of a BIP-329 export, and an error for every invalid one.

    Bytes are decoded line by line, so one line that is not UTF-8 costs only that line.
    """
    if len(text) > MAX_IMPORT_BYTES:
        raise LabelError(
            f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB; "
            "a label export is far smaller, so check that this is the right file"
        )
    labels: list[Label] = []
    errors: list[LabelLineError] = []
    lines: list[str | bytes] = list(
        text.splitlines() if isinstance(text, str) else text.split(b"\n")
    )
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw if isinstance(raw, str) else raw.decode("utf-8")
        except UnicodeDecodeError:
            errors.append(LabelLineError(number, "not UTF-8 text"))
            continue
        line = line.removeprefix("\ufeff") if number == 1 else line  # a BOM some editors add
        if not line.strip():
            continue
        try:
            labels.append(parse_label_line(line, network))
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
        # Records of a label under another form of its reference, replaced by its next change.
        self._other_names: dict[tuple[str, str], list[str]] = {}
        self.reload()

    def reload(self) -> None:
        """Read every label record again (after a restore replaced the store's contents)."""
        labels: dict[tuple[str, str], Label] = {}
        others: dict[tuple[str, str], list[str]] = {}
        for name, value in self._store.scan(LABEL_PREFIX):
            try:
                label = parse_label_line(value.decode())
            except (LabelError, UnicodeDecodeError):
                continue  # an unreadable record stays on disk untouched; it is not shown
            key = (label.type, label.ref)
            if name != label_record_name(*key):
                others.setdefault(key, []).append(name)  # an older Cairn's form of the ref
                if key in labels:
                    continue  # the record under the canonical name wins
            labels[key] = label
        with self._lock:
            self._labels = labels
            self._other_names = others

    def get(self, type_: str, ref: str) -> str | None:
        """The label text of ``ref`` (in any form it may be written in), or None."""
        try:
            ref = canonical_label_ref(type_, ref)
        except LabelError:
            return None  # no such reference, so no label for it
        with self._lock:
            found = self._labels.get((type_, ref))
        return found.label if found is not None else None

    def all(self) -> list[Label]:
        """Every label, ordered by type and reference."""
        with self._lock:
            return [self._labels[key] for key in sorted(self._labels)]

    def set(self, type_: str, ref: str, label: str | None, network: Network | None = None) -> None:
        """Set (or with None or blank text, remove) a label; publishes LabelChanged.

        With ``network``, an ``addr`` label must name an address of that network (as an
        import checks it), so that a `label list` file can always be imported again.
        """
        ref = canonical_label_ref(type_, ref)
        if type_ == "addr" and network is not None and label is not None and label.strip():
            _check_address_network(ref, network)
        text = checked_label_text(label)
        key = (type_, ref)
        with self._lock:
            current = self._labels.get(key)
            others = self._other_names.pop(key, [])
            if text:
                extra = current.extra if current is not None else {}
                updated = Label(type_, ref, text, extra)
                puts = {label_record_name(type_, ref): _encode(updated)}
                self._store.batch(puts=puts, deletes=others)
                self._labels[key] = updated
            elif current is not None:
                self._store.batch(deletes=[label_record_name(type_, ref), *others])
                del self._labels[key]
            else:
                return
        self._bus.publish(LabelChanged(type_, ref, text or None))

    def export_jsonl(self) -> str:
        """Every label as BIP-329 JSONL."""
        return format_labels(self.all())

    def import_jsonl(self, text: str | bytes, network: Network | None = None) -> LabelImportResult:
        """Merge every valid line into the labels (see the module's docstring).

        Written in one atomic batch, so an import is all there or not at all; invalid lines
        are reported and skipped. LabelError if the whole file is refused (too large).
        """
        labels, errors = parse_labels(text, network)
        incoming: dict[tuple[str, str], Label] = {}
        for label in labels:  # a ref twice in the file: the later line's fields win
            key = (label.type, label.ref)
            incoming[key] = _merged(incoming.get(key), label)
        with self._lock:
            merged = {key: _merged(self._labels.get(key), label) for key, label in incoming.items()}
            changed = {
                key: label
                for key, label in merged.items()
                if self._labels.get(key) is None or self._labels[key].to_json() != label.to_json()
            }
            if changed:
                others = [n for key in changed for n in self._other_names.pop(key, [])]
                self._store.batch(
                    puts={
                        label_record_name(*key): _encode(label) for key, label in changed.items()
                    },
                    deletes=others,
                )
                self._labels.update(changed)
        for (type_, ref), label in changed.items():
            self._bus.publish(LabelChanged(type_, ref, label.label))
        return LabelImportResult(imported=len(incoming), errors=errors, changed=len(changed))


def _merged(current: Label | None, imported: Label) -> Label:
    """``imported``'s fields over ``current``'s: what the import does not say is kept."""
    if current is None:
        return imported
    extra = {**current.extra, **imported.extra}
    text = imported.label if imported.label is not None else current.label
    return Label(imported.type, imported.ref, text, extra)
