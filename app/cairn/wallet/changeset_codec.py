"""BDK ChangeSets to and from a stable JSON form (bdkpython has no byte serialization of them).

Every part is read through the ChangeSet getters and rebuilt with ``ChangeSet.from_aggregate...``.
Hashes are written as BDK prints them (display hex); transactions and scripts as raw hex. Keys
are sorted so one changeset always encodes to the same bytes. Descriptors are stored in their
public form only: a changeset never holds a private key.
"""

from __future__ import annotations

import json
from typing import Any

import bdkpython as bdk

FORMAT_VERSION = 1

_NETWORKS: dict[str, bdk.Network] = {
    "bitcoin": bdk.Network.BITCOIN,
    "testnet": bdk.Network.TESTNET,
    "testnet4": bdk.Network.TESTNET4,
    "signet": bdk.Network.SIGNET,
    "regtest": bdk.Network.REGTEST,
}
_NETWORK_NAMES = {value: name for name, value in _NETWORKS.items()}


class ChangeSetFormatError(ValueError):
    """A stored changeset that cannot be decoded (corrupt or from an unknown format)."""


def encode_changeset(changeset: bdk.ChangeSet) -> bytes:
    """The stable JSON bytes of ``changeset``."""
    return _dump(_document(changeset))


def encode_changeset_chunks(changeset: bdk.ChangeSet, max_bytes: int) -> list[bytes]:
    """``changeset`` as one or more encoded changesets of at most ``max_bytes`` each.

    Merging the chunks gives back the whole (every part of a changeset is a union), so a large
    wallet never produces a record too big to back up. A single transaction larger than
    ``max_bytes`` still gets a chunk of its own.
    """
    return _chunks(_document(changeset), max_bytes)


def encode_shared_and_chain(
    changeset: bdk.ChangeSet, max_bytes: int
) -> tuple[list[bytes], bytes | None]:
    """``changeset`` split into what every device shares and this device's own chain.

    The transaction graph, keychain indexes, descriptors and the genesis block only ever grow
    or agree, so devices merge them by union. The rest of ``local_chain`` overwrites per height
    and depends on which blocks this device's chain source showed it: each device keeps its own
    (None when the changeset has none beyond genesis).
    """
    document = _document(changeset)
    blocks = document["local_chain"]
    document["local_chain"] = [block for block in blocks if block[0] == 0]
    shared = _chunks(document, max_bytes)
    own = [block for block in blocks if block[0] != 0]
    if not own:
        return shared, None
    chain = {**_empty_document(), "local_chain": own}
    return shared, _dump(chain)


def _chunks(document: dict[str, Any], max_bytes: int) -> list[bytes]:
    whole = _dump(document)
    if len(whole) <= max_bytes:
        return [whole]
    graph = document["tx_graph"]
    items: list[tuple[str, Any]] = [
        (part, item) for part in _GRAPH_LISTS for item in graph[part]
    ] + [(part, item) for part in _GRAPH_MAPS for item in sorted(graph[part].items())]
    chunks: list[dict[str, Any]] = [{**document, "tx_graph": _empty_graph()}]
    size = len(_dump(chunks[0]))
    for part, item in items:
        cost = len(json.dumps(item, separators=(",", ":"))) + 1
        if size + cost > max_bytes and any(chunks[-1]["tx_graph"].values()):
            chunks.append(_empty_document())
            size = len(_dump(chunks[-1]))
        target = chunks[-1]["tx_graph"][part]
        if part in _GRAPH_MAPS:
            target[item[0]] = item[1]
        else:
            target.append(item)
        size += cost
    return [_dump(chunk) for chunk in chunks]


_GRAPH_LISTS = ("txs", "txouts", "anchors")
_GRAPH_MAPS = ("last_seen", "first_seen", "last_evicted")


def _empty_graph() -> dict[str, Any]:
    return {**{part: [] for part in _GRAPH_LISTS}, **{part: {} for part in _GRAPH_MAPS}}


def _empty_document() -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "descriptor": None,
        "change_descriptor": None,
        "network": None,
        "local_chain": [],
        "tx_graph": _empty_graph(),
        "indexer": {"last_revealed": {}},
        "locked_outpoints": [],
    }


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _document(changeset: bdk.ChangeSet) -> dict[str, Any]:
    descriptor = changeset.descriptor()
    change_descriptor = changeset.change_descriptor()
    network = changeset.network()
    graph = changeset.tx_graph_changeset()
    document: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "descriptor": str(descriptor) if descriptor is not None else None,
        "change_descriptor": str(change_descriptor) if change_descriptor is not None else None,
        "network": _NETWORK_NAMES[network] if network is not None else None,
        "local_chain": sorted(
            [change.height, str(change.hash) if change.hash is not None else None]
            for change in changeset.localchain_changeset().changes
        ),
        "tx_graph": {
            "txs": sorted(tx.serialize().hex() for tx in graph.txs),
            "txouts": sorted(
                [
                    str(outpoint.outpoint().txid),
                    outpoint.outpoint().vout,
                    txout.value.to_sat(),
                    txout.script_pubkey.to_bytes().hex(),
                ]
                for outpoint, txout in graph.txouts.items()
            ),
            "anchors": sorted(
                [
                    str(anchor.txid),
                    anchor.confirmation_block_time.block_id.height,
                    str(anchor.confirmation_block_time.block_id.hash),
                    anchor.confirmation_block_time.confirmation_time,
                ]
                for anchor in graph.anchors
            ),
            "last_seen": _txid_map(graph.last_seen),
            "first_seen": _txid_map(graph.first_seen),
            "last_evicted": _txid_map(graph.last_evicted),
        },
        "indexer": {
            "last_revealed": {
                descriptor_id.serialize().hex(): index
                for descriptor_id, index in changeset.indexer_changeset().last_revealed.items()
            }
        },
        "locked_outpoints": sorted(
            [str(outpoint.outpoint().txid), outpoint.outpoint().vout, locked]
            for outpoint, locked in changeset.locked_outpoints_changeset().items()
        ),
    }
    return document


def _txid_map(values: dict[bdk.Txid, int]) -> dict[str, int]:
    return {str(txid): seconds for txid, seconds in values.items()}


def decode_changeset(data: bytes, network_kind: bdk.NetworkKind) -> bdk.ChangeSet:
    """Rebuild a ChangeSet from ``encode_changeset`` bytes; ChangeSetFormatError if unusable."""
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT_VERSION:
            raise ChangeSetFormatError(f"unknown changeset format {document.get('format')!r}")
        return _rebuild(document, network_kind)
    except ChangeSetFormatError:
        raise
    except Exception as error:  # JSON, key, type and every bdkpython parse error
        raise ChangeSetFormatError(f"corrupt changeset: {type(error).__name__}") from error


def _rebuild(document: dict[str, Any], network_kind: bdk.NetworkKind) -> bdk.ChangeSet:
    def descriptor(text: str | None) -> bdk.Descriptor | None:
        return bdk.Descriptor(text, network_kind) if text is not None else None

    def outpoint(txid: str, vout: int) -> bdk.HashableOutPoint:
        return bdk.HashableOutPoint(bdk.OutPoint(txid=bdk.Txid.from_string(txid), vout=vout))

    graph = document["tx_graph"]
    local_chain = bdk.LocalChainChangeSet(
        changes=[
            bdk.ChainChange(
                height=height,
                hash=bdk.BlockHash.from_string(block_hash) if block_hash is not None else None,
            )
            for height, block_hash in document["local_chain"]
        ]
    )
    tx_graph = bdk.TxGraphChangeSet(
        txs=[bdk.Transaction(bytes.fromhex(raw)) for raw in graph["txs"]],
        txouts={
            outpoint(txid, vout): bdk.TxOut(
                value=bdk.Amount.from_sat(value), script_pubkey=bdk.Script(bytes.fromhex(script))
            )
            for txid, vout, value, script in graph["txouts"]
        },
        anchors=[
            bdk.Anchor(
                confirmation_block_time=bdk.ConfirmationBlockTime(
                    block_id=bdk.BlockId(height=height, hash=bdk.BlockHash.from_string(block)),
                    confirmation_time=seconds,
                ),
                txid=bdk.Txid.from_string(txid),
            )
            for txid, height, block, seconds in graph["anchors"]
        ],
        last_seen=_txids(graph["last_seen"]),
        first_seen=_txids(graph["first_seen"]),
        last_evicted=_txids(graph["last_evicted"]),
    )
    indexer = bdk.IndexerChangeSet(
        last_revealed={
            bdk.DescriptorId.from_bytes(bytes.fromhex(key)): int(index)
            for key, index in document["indexer"]["last_revealed"].items()
        }
    )
    network = document["network"]
    return bdk.ChangeSet.from_aggregate_with_locked_outpoints(
        descriptor=descriptor(document["descriptor"]),
        change_descriptor=descriptor(document["change_descriptor"]),
        network=_NETWORKS[network] if network is not None else None,
        local_chain=local_chain,
        tx_graph=tx_graph,
        indexer=indexer,
        locked_outpoints={
            outpoint(txid, vout): bool(locked)
            for txid, vout, locked in document["locked_outpoints"]
        },
    )


def _txids(values: dict[str, int]) -> dict[bdk.Txid, int]:
    return {bdk.Txid.from_string(txid): int(seconds) for txid, seconds in values.items()}


def merge(changesets: list[bdk.ChangeSet]) -> bdk.ChangeSet:
    """All ``changesets`` merged in order (later ones win where BDK says so)."""
    merged = bdk.ChangeSet()
    for changeset in changesets:
        merged = bdk.ChangeSet.from_merge(merged, changeset)
    return merged
