"""Backup wire protocol v2: every message body, with one encoder and one decoder each, used by
the client and the server alike (docs/PROTOCOL.md)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cairn.wire.addressing import is_valid_id16, is_valid_object_key
from cairn.wire.jsonbody import (
    ProtocolError,
    _id16,
    _key,
    _list,
    _object,
    _optional_id16,
    _value,
    _version,
    dumps,
    encode_value,
    encode_value_ascii,
)


@dataclass(frozen=True)
class PutItem:
    key: str
    version: int  # the version the client last saw; 0 = absent
    value: bytes  # a sealed envelope


@dataclass(frozen=True)
class DeleteItem:
    key: str
    version: int
    value: bytes  # a sealed tombstone payload: other devices learn which record went


@dataclass(frozen=True)
class Batch:
    """One atomic write: every item, under the store-wide precondition, or nothing."""

    incarnation: str
    generation: int  # the store generation the client has seen everything up to
    write_id: str
    puts: tuple[PutItem, ...]
    deletes: tuple[DeleteItem, ...]

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        # Cached: a server asks for the keys of a batch several times while applying it.
        return tuple(item.key for item in self.puts) + tuple(item.key for item in self.deletes)

    @functools.cached_property
    def value_bytes(self) -> int:
        return sum(len(item.value) for item in self.puts) + sum(
            len(item.value) for item in self.deletes
        )


def encode_batch(batch: Batch) -> bytes:
    """The body of PUT {S}/objects: the compact JSON `dumps` would give for the same document.

    Written out directly rather than through `json.dumps`: a full backup's batch is a megabyte
    of base64 in hundreds of small objects, and building and escaping them took more than
    half of the encoding's time. Nothing in it needs escaping once every id and key is checked
    to be lower-case hex, as it must be on the wire anyway; a batch that fails the check goes
    through `dumps`, so the output is valid JSON whatever the batch holds.
    """
    if not _hex_only(batch):
        return _encode_batch_document(batch)
    return b"".join(
        (
            b'{"incarnation":"%s","generation":%d,"write_id":"%s","put":['
            % (batch.incarnation.encode(), batch.generation, batch.write_id.encode()),
            b",".join(_item_json(p.key, p.version, p.value) for p in batch.puts),
            b'],"delete":[',
            b",".join(_item_json(d.key, d.version, d.value) for d in batch.deletes),
            b"]}",
        )
    )


def _item_json(key: str, version: int, value: bytes) -> bytes:
    return b'{"key":"%s","version":%d,"value":"%s"}' % (
        key.encode(),
        version,
        encode_value_ascii(value),
    )


def _hex_only(batch: Batch) -> bool:
    return (
        is_valid_id16(batch.incarnation)
        and is_valid_id16(batch.write_id)
        and type(batch.generation) is int
        and all(is_valid_object_key(k) for k in batch.keys)
        and all(type(p.version) is int for p in batch.puts)
        and all(type(d.version) is int for d in batch.deletes)
    )


def _encode_batch_document(batch: Batch) -> bytes:
    return dumps(
        {
            "incarnation": batch.incarnation,
            "generation": batch.generation,
            "write_id": batch.write_id,
            "put": [
                {"key": p.key, "version": p.version, "value": encode_value(p.value)}
                for p in batch.puts
            ],
            "delete": [
                {"key": d.key, "version": d.version, "value": encode_value(d.value)}
                for d in batch.deletes
            ],
        }
    )


def parse_batch(data: object) -> Batch:
    """A validated batch from a decoded JSON body; ProtocolError if it is malformed.

    Size limits are the server's to apply (they are configurable); this checks shape, key
    format, versions, base64, that the batch is not empty and that no key appears twice.
    """
    body = _object(
        data, {"incarnation", "generation", "write_id"}, "a batch", optional={"put", "delete"}
    )

    def items(name: str) -> list[tuple[str, int, bytes]]:
        parsed = []
        for raw in _list(body, name):
            item = _object(raw, {"key", "version", "value"}, f"a {name} item")
            parsed.append((_key(item["key"]), _version(item["version"]), _value(item["value"])))
        return parsed

    batch = Batch(
        incarnation=_id16(body["incarnation"], "incarnation"),
        generation=_version(body["generation"], "generation"),
        write_id=_id16(body["write_id"], "write_id"),
        puts=tuple(PutItem(*item) for item in items("put")),
        deletes=tuple(DeleteItem(*item) for item in items("delete")),
    )
    if not batch.keys:
        raise ProtocolError("a batch holds at least one item")
    if len(set(batch.keys)) != len(batch.keys):
        raise ProtocolError("a key may appear at most once per batch")
    return batch


@dataclass(frozen=True)
class BatchResult:
    """A batch the server applied: the new generation, which is every item's new version."""

    generation: int
    versions: dict[str, int]


def encode_batch_result(result: BatchResult) -> bytes:
    """The compact JSON `dumps` would give, written out: a server answers one per PUT."""
    versions = result.versions
    if type(result.generation) is int and all(
        type(v) is int and k.isascii() and k.isalnum() for k, v in versions.items()
    ):
        # Object keys are hex and versions integers: nothing to escape.
        members = ",".join([f'"{key}":{version}' for key, version in versions.items()])
        return f'{{"generation":{result.generation},"versions":{{{members}}}}}'.encode()
    return dumps({"generation": result.generation, "versions": result.versions})


def decode_batch_result(data: object) -> BatchResult:
    body = _object(data, {"generation", "versions"}, "a batch result")
    versions = body["versions"]
    if not isinstance(versions, dict):
        raise ProtocolError("versions must be an object")
    return BatchResult(
        _version(body["generation"], "generation"),
        {_key(k): _version(v) for k, v in versions.items()},
    )


@dataclass(frozen=True)
class StoreState:
    """Where the store stands: its generation and incarnation (None: none yet, or erased)."""

    generation: int
    incarnation: str | None
    erased: bool = False


@dataclass(frozen=True)
class Conflict:
    """A 409: the store moved on (or the incarnation differs); nothing was applied."""

    state: StoreState
    current: dict[str, int]  # every batch key: its current version, 0 if absent
    write_ids: dict[str, str | None]  # every batch key present: the write that made it


def encode_conflict(conflict: Conflict, detail: str) -> bytes:
    return dumps(
        {
            "error": "conflict",
            "detail": detail,
            "generation": conflict.state.generation,
            "incarnation": conflict.state.incarnation,
            "erased": conflict.state.erased,
            "current": conflict.current,
            "write_ids": conflict.write_ids,
        }
    )


def _state(body: dict[str, object]) -> StoreState:
    erased = body.get("erased", False)
    if not isinstance(erased, bool):
        raise ProtocolError("erased must be true or false")
    return StoreState(
        _version(body["generation"], "generation"),
        _optional_id16(body.get("incarnation"), "incarnation"),
        erased,
    )


def decode_conflict(data: object) -> Conflict:
    body = _object(
        data,
        {"error", "detail", "generation", "current"},
        "a conflict",
        optional={"incarnation", "erased", "write_ids"},
    )
    current = body["current"]
    write_ids = body.get("write_ids", {})
    if not isinstance(current, dict) or not isinstance(write_ids, dict):
        raise ProtocolError("current and write_ids must be objects")
    return Conflict(
        _state(body),
        {_key(k): _version(v) for k, v in current.items()},
        {_key(k): _optional_id16(v, "write_id") for k, v in write_ids.items()},
    )


@dataclass(frozen=True)
class FeedItem:
    """One object or tombstone changed after the feed's `since`."""

    key: str
    version: int
    deleted: bool
    write_id: str | None  # None: written by a v1 client before the server's upgrade
    value: bytes


@dataclass(frozen=True)
class FeedPage:
    state: StoreState
    compacted: int  # tombstones up to this generation may be gone
    items: tuple[FeedItem, ...]
    next: int | None  # more follow: ask again with since=next


def encode_feed_page(page: FeedPage) -> bytes:
    return dumps(
        {
            "incarnation": page.state.incarnation,
            "erased": page.state.erased,
            "generation": page.state.generation,
            "compacted": page.compacted,
            "items": [
                {
                    "key": i.key,
                    "version": i.version,
                    "deleted": i.deleted,
                    "write_id": i.write_id,
                    "value": encode_value(i.value),
                }
                for i in page.items
            ],
            "next": page.next,
        }
    )


def decode_feed_page(data: object) -> FeedPage:
    body = _object(
        data, {"incarnation", "erased", "generation", "compacted", "items", "next"}, "a feed page"
    )
    items = []
    for raw in _list(body, "items"):
        item = _object(raw, {"key", "version", "deleted", "write_id", "value"}, "a feed item")
        if not isinstance(item["deleted"], bool):
            raise ProtocolError("deleted must be true or false")
        items.append(
            FeedItem(
                _key(item["key"]),
                _version(item["version"]),
                item["deleted"],
                _optional_id16(item["write_id"], "write_id"),
                _value(item["value"]),
            )
        )
    nxt = body["next"]
    return FeedPage(
        _state(body),
        _version(body["compacted"], "compacted"),
        tuple(items),
        None if nxt is None else _version(nxt, "next"),
    )


@dataclass(frozen=True)
class StoreInfo:
    state: StoreState
    compacted: int
    objects: int  # live objects
    bytes: int  # decoded value bytes of live objects and tombstones


def encode_store_info(node_id: str, store_id: str, info: StoreInfo) -> bytes:
    return dumps(
        {
            "node_id": node_id,
            "store_id": store_id,
            "generation": info.state.generation,
            "incarnation": info.state.incarnation,
            "erased": info.state.erased,
            "compacted": info.compacted,
            "objects": info.objects,
            "bytes": info.bytes,
        }
    )


def decode_store_info(data: object) -> StoreInfo:
    body = _object(
        data,
        {
            "node_id",
            "store_id",
            "generation",
            "incarnation",
            "erased",
            "compacted",
            "objects",
            "bytes",
        },
        "store information",
    )
    return StoreInfo(
        _state(body),
        _version(body["compacted"], "compacted"),
        _version(body["objects"], "objects"),
        _version(body["bytes"], "bytes"),
    )


class StoredObject(NamedTuple):
    """One live object as stored: wire key, version, the write that made it, sealed blob."""

    key: str
    version: int
    write_id: str | None
    value: bytes


def encode_object(obj: StoredObject) -> bytes:
    return dumps(
        {
            "key": obj.key,
            "version": obj.version,
            "write_id": obj.write_id,
            "value": encode_value(obj.value),
        }
    )


def decode_object(data: object) -> StoredObject:
    body = _object(data, {"key", "version", "write_id", "value"}, "an object")
    return StoredObject(
        _key(body["key"]),
        _version(body["version"]),
        _optional_id16(body["write_id"], "write_id"),
        _value(body["value"]),
    )


@dataclass(frozen=True)
class ListItem:
    key: str
    version: int
    size: int


def encode_list_page(items: Iterable[ListItem], next_key: str | None) -> bytes:
    return dumps(
        {
            "items": [{"key": i.key, "version": i.version, "size": i.size} for i in items],
            "next": next_key,
        }
    )


def decode_list_page(data: object) -> tuple[list[ListItem], str | None]:
    body = _object(data, {"items", "next"}, "a listing")
    items = []
    for raw in _list(body, "items"):
        item = _object(raw, {"key", "version", "size"}, "a listing item")
        items.append(ListItem(_key(item["key"]), _version(item["version"]), _version(item["size"])))
    nxt = body["next"]
    return items, None if nxt is None else _key(nxt)
