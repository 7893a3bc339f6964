"""Esplora's JSON shapes for the chain's transactions, blocks and outputs.

Field names and meanings follow Blockstream Esplora's API.md; the `*_asm` fields are left out
(no client we serve reads them).
"""

from __future__ import annotations

import functools
import statistics
from typing import Any

import bdkpython

from cairn.devnet.blocks import Block, merkle_branch, target_from_bits
from cairn.devnet.chain import Chain, scripthash
from cairn.devnet.txcodec import Tx, TxOut

Json = dict[str, Any]

_MAX_TARGET = target_from_bits(0x1D00FFFF)


def script_type(script: bytes) -> str:
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return "p2pkh"
    if n == 23 and script[:2] == b"\xa9\x14" and script[22:] == b"\x87":
        return "p2sh"
    if n == 22 and script[:2] == b"\x00\x14":
        return "v0_p2wpkh"
    if n == 34 and script[:2] == b"\x00\x20":
        return "v0_p2wsh"
    if n == 34 and script[:2] == b"\x51\x20":
        return "v1_p2tr"
    if n and script[0] == 0x6A:
        return "op_return"
    if n in (35, 67) and script[-1] == 0xAC and script[0] in (33, 65):
        return "p2pk"
    return "unknown"


@functools.lru_cache(maxsize=4096)
def script_address(script: bytes) -> str | None:
    """The regtest address of a script (cached: wallets ask for the same few over and over)."""
    try:
        return str(
            bdkpython.Address.from_script(bdkpython.Script(script), bdkpython.Network.REGTEST)
        )
    except Exception:  # no address form (OP_RETURN, bare scripts): Esplora omits the field
        return None


def address_script(address: str) -> bytes:
    """The scriptPubKey of a regtest address; ValueError for anything else."""
    try:
        parsed = bdkpython.Address(address, bdkpython.Network.REGTEST)
    except Exception as exc:
        raise ValueError("Invalid Bitcoin address") from exc
    return bytes(parsed.script_pubkey().to_bytes())


def output_json(out: TxOut) -> Json:
    view: Json = {
        "scriptpubkey": out.script_pubkey.hex(),
        "scriptpubkey_type": script_type(out.script_pubkey),
        "value": out.value,
    }
    address = script_address(out.script_pubkey)
    if address is not None:
        view["scriptpubkey_address"] = address
    return view


def status_json(chain: Chain, txid: str) -> Json:
    conf = chain.confirmations.get(txid)
    if conf is None:
        return {"confirmed": False}
    return {
        "confirmed": True,
        "block_height": conf.height,
        "block_hash": conf.block_hash,
        "block_time": conf.block_time,
    }


def tx_json(chain: Chain, tx: Tx) -> Json:
    vin = []
    for txin in tx.inputs:
        prev = chain.prevout(txin)
        entry: Json = {
            "txid": txin.prev_txid,
            "vout": txin.prev_vout,
            "prevout": None if prev is None else output_json(prev),
            "scriptsig": txin.script_sig.hex(),
            "is_coinbase": txin.is_coinbase,
            "sequence": txin.sequence,
        }
        if txin.witness:
            entry["witness"] = [item.hex() for item in txin.witness]
        vin.append(entry)
    return {
        "txid": tx.txid,
        "version": tx.version,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [output_json(out) for out in tx.outputs],
        "size": tx.size,
        "weight": tx.weight,
        "fee": chain.fee(tx),
        "status": status_json(chain, tx.txid),
    }


def outspend_json(chain: Chain, txid: str, vout: int) -> Json:
    spend = chain.spent_by.get((txid, vout))
    if spend is None:
        return {"spent": False}
    return {
        "spent": True,
        "txid": spend.txid,
        "vin": spend.vin,
        "status": status_json(chain, spend.txid),
    }


def block_json(chain: Chain, block: Block) -> Json:
    height = chain.height_of[block.hash]
    header = block.header
    recent = [b.header.time for b in chain.blocks[max(0, height - 10) : height + 1]]
    return {
        "id": block.hash,
        "height": height,
        "version": header.version,
        "timestamp": header.time,
        "mediantime": int(statistics.median_low(recent)),
        "tx_count": len(block.txs),
        "size": len(block.serialize()),
        "weight": block_weight(block),
        "merkle_root": header.merkle_root,
        "previousblockhash": header.prev_hash if height else None,
        "nonce": header.nonce,
        "bits": header.bits,
        "difficulty": _MAX_TARGET / target_from_bits(header.bits),
    }


def block_weight(block: Block) -> int:
    # Header and tx count count four times each, like every non-witness byte.
    overhead = len(block.serialize()) - sum(tx.size for tx in block.txs)
    return overhead * 4 + sum(tx.weight for tx in block.txs)


def block_status_json(chain: Chain, block: Block) -> Json:
    height = chain.height_of[block.hash]
    next_best = chain.blocks[height + 1].hash if height < chain.tip_height else None
    return {"in_best_chain": True, "height": height, "next_best": next_best}


def merkle_proof_json(chain: Chain, txid: str) -> Json | None:
    conf = chain.confirmations.get(txid)
    if conf is None:
        return None
    txids = [tx.txid for tx in chain.blocks[conf.height].txs]
    return {
        "block_height": conf.height,
        "merkle": merkle_branch(txids, conf.position),
        "pos": conf.position,
    }


def utxo_json(chain: Chain, script_hash: str) -> list[Json]:
    return [
        {
            "txid": txid,
            "vout": vout,
            "value": chain.txs[txid].outputs[vout].value,
            "status": status_json(chain, txid),
        }
        for txid, vout in chain.unspent_outputs(script_hash)
    ]


def script_stats_json(chain: Chain, script_hash: str) -> Json:
    """Esplora's chain_stats / mempool_stats of one script."""
    stats = {
        key: {
            "funded_txo_count": 0,
            "funded_txo_sum": 0,
            "spent_txo_count": 0,
            "spent_txo_sum": 0,
            "tx_count": 0,
        }
        for key in ("chain_stats", "mempool_stats")
    }
    for txid in chain.history.get(script_hash, {}):
        bucket = stats["chain_stats" if txid in chain.confirmations else "mempool_stats"]
        bucket["tx_count"] += 1
        tx = chain.txs[txid]
        for out in tx.outputs:
            if scripthash(out.script_pubkey) == script_hash:
                bucket["funded_txo_count"] += 1
                bucket["funded_txo_sum"] += out.value
        for txin in tx.inputs:
            prev = chain.prevout(txin)
            if prev is not None and scripthash(prev.script_pubkey) == script_hash:
                bucket["spent_txo_count"] += 1
                bucket["spent_txo_sum"] += prev.value
    return stats


def mempool_json(chain: Chain) -> Json:
    txs = [chain.txs[t] for t in chain.mempool]
    return {
        "count": len(txs),
        "vsize": sum(tx.vsize for tx in txs),
        "total_fee": sum(chain.fee(tx) for tx in txs),
        "fee_histogram": [],
    }
