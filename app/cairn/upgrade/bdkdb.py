"""Read the tables of BDK's own SQLite persister (format 1's wallet.sqlite) into a ChangeSet.

BDK keeps a wallet as one aggregate changeset spread over tables (bdk_wallet, bdk_blocks,
bdk_txs, bdk_txouts, bdk_anchors, bdk_descriptor_last_revealed, bdk_wallet_locked_outpoints).
Reading them back into a ``bdkpython.ChangeSet`` carries every transaction, anchor, block and
revealed index over as they are, so the migrated wallet needs no rescan. The derived-script
cache (bdk_descriptor_derived_spks) is left behind: BDK derives those scripts again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import bdkpython as bdk

# The schema versions (table bdk_schemas) this reader understands; a newer BDK may add columns
# this code would silently drop, so a higher version stops the migration instead.
KNOWN_SCHEMAS = {"bdk_wallet": 1, "bdk_localchain": 0, "bdk_txgraph": 3, "bdk_keychaintxout": 1}

NETWORKS = {
    "bitcoin": bdk.Network.BITCOIN,
    "testnet": bdk.Network.TESTNET,
    "testnet4": bdk.Network.TESTNET4,
    "signet": bdk.Network.SIGNET,
    "regtest": bdk.Network.REGTEST,
}


class LegacyDatabaseError(Exception):
    """wallet.sqlite is not a BDK wallet this version can read (the message says why)."""


@dataclass(frozen=True)
class LegacyWalletInfo:
    """What the BDK file says about itself, for checks and reports."""

    descriptor: str
    change_descriptor: str
    network: str
    transactions: int
    anchors: int
    tip_height: int
    last_revealed: dict[str, int]  # descriptor id (hex) -> index


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def check_schemas(conn: sqlite3.Connection) -> None:
    """Raise LegacyDatabaseError unless every BDK schema in the file is one this code reads."""
    try:
        rows = conn.execute("SELECT name, version FROM bdk_schemas").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LegacyDatabaseError(f"not a BDK wallet database ({exc})") from None
    for name, version in rows:
        known = KNOWN_SCHEMAS.get(str(name))
        if known is not None and int(version) > known:
            raise LegacyDatabaseError(
                f"the BDK table set {name} is at version {version}; this Cairn reads up to {known}"
            )


def wallet_info(conn: sqlite3.Connection) -> LegacyWalletInfo:
    """The descriptors, network and counts stored in a BDK wallet database."""
    check_schemas(conn)
    row = conn.execute(
        "SELECT descriptor, change_descriptor, network FROM bdk_wallet WHERE id = 0"
    ).fetchone()
    if row is None or None in row:
        raise LegacyDatabaseError("the BDK database holds no wallet (bdk_wallet is empty)")
    (txs,) = conn.execute("SELECT count(*) FROM bdk_txs").fetchone()
    (anchors,) = conn.execute("SELECT count(*) FROM bdk_anchors").fetchone()
    (tip,) = conn.execute("SELECT coalesce(max(block_height), 0) FROM bdk_blocks").fetchone()
    revealed = dict(
        conn.execute("SELECT descriptor_id, last_revealed FROM bdk_descriptor_last_revealed")
    )
    return LegacyWalletInfo(
        str(row[0]), str(row[1]), str(row[2]), int(txs), int(anchors), int(tip), revealed
    )


def read_changeset(conn: sqlite3.Connection, network_kind: bdk.NetworkKind) -> bdk.ChangeSet:
    """The whole wallet stored in a BDK SQLite database, as one aggregate ChangeSet."""
    info = wallet_info(conn)
    network = NETWORKS.get(info.network)
    if network is None:
        raise LegacyDatabaseError(f"the BDK database names an unknown network {info.network!r}")
    try:
        return bdk.ChangeSet.from_aggregate_with_locked_outpoints(
            descriptor=bdk.Descriptor(info.descriptor, network_kind),
            change_descriptor=bdk.Descriptor(info.change_descriptor, network_kind),
            network=network,
            local_chain=_local_chain(conn),
            tx_graph=_tx_graph(conn),
            indexer=bdk.IndexerChangeSet(
                last_revealed={
                    bdk.DescriptorId.from_string(descriptor_id): index
                    for descriptor_id, index in info.last_revealed.items()
                }
            ),
            locked_outpoints=_locked_outpoints(conn),
        )
    except LegacyDatabaseError:
        raise
    except Exception as exc:  # every bdkpython parse error of a damaged row
        raise LegacyDatabaseError(f"a row of the BDK database is unreadable ({exc})") from None


def _local_chain(conn: sqlite3.Connection) -> bdk.LocalChainChangeSet:
    rows = conn.execute("SELECT block_height, block_hash FROM bdk_blocks ORDER BY block_height")
    return bdk.LocalChainChangeSet(
        changes=[
            bdk.ChainChange(height=int(height), hash=bdk.BlockHash.from_string(str(block_hash)))
            for height, block_hash in rows
        ]
    )


def _tx_graph(conn: sqlite3.Connection) -> bdk.TxGraphChangeSet:
    columns = _columns(conn, "bdk_txs")
    optional = [c for c in ("last_seen", "first_seen", "last_evicted") if c in columns]
    select = ", ".join(["txid", "raw_tx", *optional])
    txs: list[bdk.Transaction] = []
    seen: dict[str, dict[bdk.Txid, int]] = {name: {} for name in optional}
    for row in conn.execute(f"SELECT {select} FROM bdk_txs ORDER BY txid"):  # noqa: S608
        txid = bdk.Txid.from_string(str(row[0]))
        if row[1] is not None:
            txs.append(bdk.Transaction(bytes(row[1])))
        for name, value in zip(optional, row[2:], strict=True):
            if value is not None:
                seen[name][txid] = int(value)
    txouts = {
        bdk.HashableOutPoint(
            bdk.OutPoint(txid=bdk.Txid.from_string(str(txid)), vout=int(vout))
        ): bdk.TxOut(value=bdk.Amount.from_sat(int(value)), script_pubkey=bdk.Script(bytes(script)))
        for txid, vout, value, script in conn.execute(
            "SELECT txid, vout, value, script FROM bdk_txouts ORDER BY txid, vout"
        )
    }
    anchors = [
        bdk.Anchor(
            confirmation_block_time=bdk.ConfirmationBlockTime(
                block_id=bdk.BlockId(height=int(height), hash=bdk.BlockHash.from_string(str(bh))),
                confirmation_time=max(0, int(seconds)),
            ),
            txid=bdk.Txid.from_string(str(txid)),
        )
        for txid, height, bh, seconds in conn.execute(
            "SELECT txid, block_height, block_hash, confirmation_time FROM bdk_anchors"
            " ORDER BY txid, block_height"
        )
    ]
    return bdk.TxGraphChangeSet(
        txs=txs,
        txouts=txouts,
        anchors=anchors,
        last_seen=seen.get("last_seen", {}),
        first_seen=seen.get("first_seen", {}),
        last_evicted=seen.get("last_evicted", {}),
    )


def _locked_outpoints(conn: sqlite3.Connection) -> dict[bdk.HashableOutPoint, bool]:
    tables = {
        str(name) for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "bdk_wallet_locked_outpoints" not in tables:
        return {}
    return {
        bdk.HashableOutPoint(
            bdk.OutPoint(txid=bdk.Txid.from_string(str(txid)), vout=int(vout))
        ): True
        for txid, vout in conn.execute("SELECT txid, vout FROM bdk_wallet_locked_outpoints")
    }
