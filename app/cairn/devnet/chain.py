"""The simulated chain: blocks, a mempool, the UTXO view and the rules a broadcast must pass.

Not thread-safe by itself: the HTTP layer serializes every call through one lock.
Only P2WPKH signatures (and the faucet's own P2WSH(OP_TRUE) witnesses) are verified, see
`sigcheck`; other scripts are accepted unchecked. The devnet exists to exercise a wallet's
chain code path, not to police consensus.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from cairn.devnet.blocks import (
    COIN,
    Block,
    block_subsidy,
    build_block,
    build_coinbase,
    genesis_block,
)
from cairn.devnet.sigcheck import ScriptFailure, check_input
from cairn.devnet.txcodec import Tx, TxIn, TxOut

log = logging.getLogger("cairn.devnet")

MAX_MONEY = 21_000_000 * COIN
# The faucet's coins sit at P2WSH(OP_TRUE): anyone-can-spend, and its witness is just the script.
OP_TRUE_SCRIPT = b"\x51"
FAUCET_SCRIPT = b"\x00\x20" + hashlib.sha256(OP_TRUE_SCRIPT).digest()
FAUCET_RESERVE = 1_000_000 * COIN
FAUCET_FEE_RATE = 2  # sat/vB, so faucet payments look like ordinary ones
SCRIPTHASH_PAGE = 25
MEMPOOL_PAGE = 50
# BIP125: a transaction signals that it may be replaced when an input's nSequence is below this.
MAX_BIP125_RBF_SEQUENCE = 0xFFFFFFFD
MIN_RELAY_FEE_RATE = 1  # sat/vB, what a replacement must pay on top for its own size
MAX_REPLACEMENT_EVICTIONS = 100

OutPoint = tuple[str, int]


class TxRejected(Exception):
    """A broadcast transaction broke a rule; `code` and `reason` follow Bitcoin Core's RPC."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class UnknownTx(KeyError):
    """No transaction with that txid in the chain or the mempool."""


@dataclass(frozen=True)
class Confirmation:
    height: int
    block_hash: str
    block_time: int
    position: int


@dataclass(frozen=True)
class Reorg:
    disconnected: list[str]  # block hashes, lowest first
    connected: list[str]
    returned: list[str]  # txids back in the mempool
    dropped: list[str]  # txids that no longer fit anywhere


@dataclass(frozen=True)
class Spend:
    txid: str
    vin: int


def scripthash(script: bytes) -> str:
    """Esplora's script hash: SHA-256 of the scriptPubKey, in natural (not reversed) byte order."""
    return hashlib.sha256(script).hexdigest()


class Chain:
    """Blocks from the regtest genesis up, a mempool in arrival order, and their indexes."""

    def __init__(self, *, verify_signatures: bool = True) -> None:
        self.verify_signatures = verify_signatures
        self.blocks: list[Block] = []
        self.height_of: dict[str, int] = {}
        self.txs: dict[str, Tx] = {}
        self.confirmations: dict[str, Confirmation] = {}
        self.mempool: list[str] = []
        self.spent_by: dict[OutPoint, Spend] = {}
        # scripthash -> txids touching it, in arrival order (a dict as an ordered set)
        self.history: dict[str, dict[str, None]] = {}

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def create(cls, now: int, *, verify_signatures: bool = True) -> Chain:
        """Genesis, then block 1 whose coinbase funds the faucet reserve."""
        chain = cls(verify_signatures=verify_signatures)
        chain._connect(genesis_block())
        chain.mine(1, now, coinbase_script=FAUCET_SCRIPT, coinbase_value=FAUCET_RESERVE)
        return chain

    @classmethod
    def restore(
        cls, blocks: Iterable[Block], mempool: Iterable[Tx], *, verify_signatures: bool = True
    ) -> Chain:
        """Rebuild every index from stored blocks and mempool (re-checked as they are added)."""
        chain = cls(verify_signatures=verify_signatures)
        for block in blocks:
            chain._connect(block)
        for tx in mempool:
            try:
                chain.accept(tx)
            except TxRejected as exc:  # e.g. saved without signature checks, loaded with them
                log.warning("dropped mempool tx %s on load: %s", tx.txid, exc.reason)
        return chain

    # ---- queries ------------------------------------------------------------------------

    @property
    def tip_height(self) -> int:
        return len(self.blocks) - 1

    @property
    def tip(self) -> Block:
        return self.blocks[-1]

    def block_by_hash(self, block_hash: str) -> Block | None:
        height = self.height_of.get(block_hash)
        return None if height is None else self.blocks[height]

    def get_tx(self, txid: str) -> Tx:
        try:
            return self.txs[txid]
        except KeyError:
            raise UnknownTx(txid) from None

    def output(self, txid: str, vout: int) -> TxOut | None:
        tx = self.txs.get(txid)
        if tx is None or vout >= len(tx.outputs):
            return None
        return tx.outputs[vout]

    def prevout(self, txin: TxIn) -> TxOut | None:
        return None if txin.is_coinbase else self.output(txin.prev_txid, txin.prev_vout)

    def fee(self, tx: Tx) -> int:
        if tx.is_coinbase:
            return 0
        prevouts = [self.prevout(txin) for txin in tx.inputs]
        return sum(p.value for p in prevouts if p) - sum(o.value for o in tx.outputs)

    def scripthash_txs(self, script_hash: str, after_txid: str | None = None) -> list[str]:
        """Esplora's paging: newest mempool txs, then confirmed newest first, 25 per page."""
        touching = list(self.history.get(script_hash, {}))
        confirmed = sorted(
            (t for t in touching if t in self.confirmations),
            key=lambda t: (self.confirmations[t].height, self.confirmations[t].position),
            reverse=True,
        )
        if after_txid is None:
            unconfirmed = [t for t in reversed(touching) if t not in self.confirmations]
            return unconfirmed[:MEMPOOL_PAGE] + confirmed[:SCRIPTHASH_PAGE]
        if after_txid not in confirmed:
            return []
        start = confirmed.index(after_txid) + 1
        return confirmed[start : start + SCRIPTHASH_PAGE]

    def unspent_outputs(self, script_hash: str) -> list[OutPoint]:
        found: list[OutPoint] = []
        for txid in self.history.get(script_hash, {}):
            for vout, out in enumerate(self.txs[txid].outputs):
                outpoint = (txid, vout)
                if scripthash(out.script_pubkey) == script_hash and outpoint not in self.spent_by:
                    found.append(outpoint)
        return found

    # ---- mempool ------------------------------------------------------------------------

    def check(self, tx: Tx) -> list[str]:
        """Raise TxRejected unless `tx` could enter the mempool now.

        Answers the mempool transactions it would replace (BIP125), descendants included,
        in mempool order: empty for a transaction that conflicts with none.
        """
        if not tx.inputs:
            raise TxRejected(-26, "bad-txns-vin-empty")
        if not tx.outputs:
            raise TxRejected(-26, "bad-txns-vout-empty")
        if tx.is_coinbase or any(txin.is_coinbase for txin in tx.inputs):
            raise TxRejected(-26, "coinbase")
        if any(out.value > MAX_MONEY for out in tx.outputs):
            raise TxRejected(-26, "bad-txns-vout-toolarge")
        if sum(out.value for out in tx.outputs) > MAX_MONEY:
            raise TxRejected(-26, "bad-txns-txouttotal-toolarge")
        outpoints = [(txin.prev_txid, txin.prev_vout) for txin in tx.inputs]
        if len(set(outpoints)) != len(outpoints):
            raise TxRejected(-26, "bad-txns-inputs-duplicate")
        if tx.txid in self.confirmations:
            raise TxRejected(-27, "Transaction already in block chain")
        value_in = 0
        prevouts: list[TxOut] = []
        conflicts: dict[str, None] = {}  # mempool txs spending one of our inputs, an ordered set
        for outpoint in outpoints:
            prev = self.output(*outpoint)
            # As in Bitcoin Core, the genesis coinbase never entered the UTXO set.
            if prev is None or outpoint[0] == self.blocks[0].txs[0].txid:
                raise TxRejected(-25, "bad-txns-inputs-missingorspent")
            spender = self.spent_by.get(outpoint)
            if spender is not None:
                if spender.txid in self.confirmations:
                    raise TxRejected(-25, "bad-txns-inputs-missingorspent")
                conflicts[spender.txid] = None
            value_in += prev.value
            prevouts.append(prev)
        value_out = sum(out.value for out in tx.outputs)
        if value_out > value_in:
            raise TxRejected(
                -26, f"bad-txns-in-belowout, value in ({value_in}) < value out ({value_out})"
            )
        if self.verify_signatures:
            for index, prev in enumerate(prevouts):
                try:
                    check_input(tx, index, prev)
                except ScriptFailure as exc:
                    raise TxRejected(-26, f"mandatory-script-verify-flag-failed ({exc})") from None
        if not conflicts:
            return []
        return self._replacement(tx, value_in - value_out, list(conflicts))

    def _replacement(self, tx: Tx, fee: int, conflicts: list[str]) -> list[str]:
        """BIP125's rules, as Bitcoin Core words them; answer every tx the replacement evicts."""
        for txid in conflicts:
            if not any(i.sequence <= MAX_BIP125_RBF_SEQUENCE for i in self.txs[txid].inputs):
                raise TxRejected(-26, "txn-mempool-conflict")  # the original did not opt in
        evicted = self.descendants(conflicts)
        if len(evicted) > MAX_REPLACEMENT_EVICTIONS:
            raise TxRejected(
                -26, f"too many potential replacements, rejecting replacement {tx.txid}"
            )
        if any(txin.prev_txid in evicted for txin in tx.inputs):
            raise TxRejected(-26, "bad-txns-spends-conflicting-tx")
        originals_inputs = {
            (i.prev_txid, i.prev_vout) for t in conflicts for i in self.txs[t].inputs
        }
        for txin in tx.inputs:
            outpoint = (txin.prev_txid, txin.prev_vout)
            if txin.prev_txid not in self.confirmations and outpoint not in originals_inputs:
                raise TxRejected(-26, "replacement-adds-unconfirmed")
        for txid in conflicts:
            old = self.txs[txid]
            # Compared as fractions: fee / vsize against fee / vsize, without rounding.
            if fee * old.vsize <= self.fee(old) * tx.vsize:
                raise TxRejected(
                    -26,
                    f"insufficient fee, rejecting replacement {tx.txid}; new feerate "
                    f"{fee / tx.vsize:.2f} sat/vB <= old feerate {self.fee(old) / old.vsize:.2f}",
                )
        evicted_fees = sum(self.fee(self.txs[t]) for t in evicted)
        if fee < evicted_fees:
            raise TxRejected(
                -26,
                f"insufficient fee, rejecting replacement {tx.txid}, less fees than "
                f"conflicting txs; {fee} < {evicted_fees}",
            )
        needed = MIN_RELAY_FEE_RATE * tx.vsize
        if fee - evicted_fees < needed:
            raise TxRejected(
                -26,
                f"insufficient fee, rejecting replacement {tx.txid}, not enough additional "
                f"fees to relay; {fee - evicted_fees} < {needed}",
            )
        return evicted

    def descendants(self, txids: Iterable[str]) -> list[str]:
        """The mempool txs `txids` and every one spending their outputs, in mempool order."""
        doomed = set(txids)
        for candidate in self.mempool:  # arrival order: parents precede children
            if any(txin.prev_txid in doomed for txin in self.txs[candidate].inputs):
                doomed.add(candidate)
        return [t for t in self.mempool if t in doomed]

    def accept(self, tx: Tx) -> str:
        """Add `tx` to the mempool (idempotent for a tx already there); answer its txid.

        A replacement (BIP125) first evicts the transactions it conflicts with.
        """
        return self.accept_replacing(tx)[0]

    def accept_replacing(self, tx: Tx) -> tuple[str, list[str]]:
        """``accept``, also answering the txids the transaction replaced."""
        if tx.txid in self.txs and tx.txid not in self.confirmations:
            return tx.txid, []
        replaced = self.check(tx)
        self._drop(replaced)
        self._index(tx)
        self.mempool.append(tx.txid)
        return tx.txid, replaced

    def evict(self, txid: str) -> list[str]:
        """Drop a mempool tx and everything spending its outputs; answer the dropped txids."""
        if txid not in self.mempool:
            raise UnknownTx(txid)
        dropped = self.descendants([txid])
        self._drop(dropped)
        return dropped

    def _drop(self, txids: list[str]) -> None:
        """Remove mempool txs (children after parents in `txids`) and their index entries."""
        for dropped_txid in reversed(txids):
            self._unindex(self.txs[dropped_txid])
        doomed = set(txids)
        self.mempool = [t for t in self.mempool if t not in doomed]

    # ---- faucet and mining --------------------------------------------------------------

    def faucet(self, script_pubkey: bytes, amount: int) -> str:
        """Pay `amount` to `script_pubkey` from the faucet reserve, into the mempool."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        # The reserve is the largest unspent faucet output (block rewards are far smaller); found
        # afresh each time so an evicted faucet payment cannot leave a dangling reserve.
        candidates = self.unspent_outputs(scripthash(FAUCET_SCRIPT))
        if not candidates:
            raise ValueError("the faucet is dry")
        outpoint = max(candidates, key=lambda op: self.txs[op[0]].outputs[op[1]].value)
        reserve = self.txs[outpoint[0]].outputs[outpoint[1]].value

        def build(fee: int) -> Tx:
            txin = TxIn(*outpoint, b"", 0xFFFFFFFD, (OP_TRUE_SCRIPT,))
            change = reserve - amount - fee
            if change < 0:
                raise ValueError("the faucet is dry")
            outputs = (TxOut(amount, script_pubkey), TxOut(change, FAUCET_SCRIPT))
            return Tx(2, (txin,), outputs, 0)

        return self.accept(build(build(0).vsize * FAUCET_FEE_RATE))

    def mine(
        self,
        count: int,
        now: int,
        *,
        coinbase_script: bytes = FAUCET_SCRIPT,
        coinbase_value: int | None = None,
        include_mempool: bool = True,
        extra_nonce: bytes = b"",
    ) -> list[Block]:
        """Mine `count` blocks; the first takes the whole mempool. Answer the new blocks."""
        mined: list[Block] = []
        for _ in range(count):
            height = len(self.blocks)
            txs = [self.txs[txid] for txid in self.mempool] if include_mempool else []
            fees = sum(self.fee(tx) for tx in txs)
            value = block_subsidy(height) + fees if coinbase_value is None else coinbase_value
            outputs = [TxOut(value, coinbase_script)]
            coinbase = build_coinbase(height, outputs, txs, extra_nonce=extra_nonce)
            # Strictly increasing times keep every block distinct even when mined in one call.
            time = max(now, self.tip.header.time + 1)
            block = build_block(self.tip.hash, time, [coinbase, *txs])
            if include_mempool:
                self.mempool = []
            self._connect(block)
            mined.append(block)
        return mined

    def reorg(self, depth: int, new_blocks: int, now: int) -> Reorg:
        """Replace the top `depth` blocks by `new_blocks` empty ones.

        Their transactions go back to the mempool (before the ones already there) unless they
        no longer fit, e.g. because they spend a coinbase of a disconnected block.
        """
        if not 1 <= depth < self.tip_height:  # the faucet's block 1 stays
            raise ValueError(f"depth must be from 1 to {self.tip_height - 1}")
        if new_blocks < 0:
            raise ValueError("new_blocks must not be negative")
        disconnected = self.blocks[-depth:]
        pending = [tx for block in disconnected for tx in block.txs[1:]]
        pending += [self.txs[txid] for txid in self.mempool]
        for txid in reversed(self.mempool):
            self._unindex(self.txs[txid])
        self.mempool = []
        for block in reversed(disconnected):
            for tx in reversed(block.txs):
                del self.confirmations[tx.txid]
                self._unindex(tx)
            self.blocks.pop()
            del self.height_of[block.hash]
        returned: list[str] = []
        dropped: list[str] = []
        for tx in pending:
            try:
                returned.append(self.accept(tx))
            except TxRejected:
                dropped.append(tx.txid)
        # The old tip's hash as extra nonce: a replacement block never equals the one it replaces.
        nonce = bytes.fromhex(disconnected[-1].hash)[:8]
        mined = self.mine(new_blocks, now, include_mempool=False, extra_nonce=nonce)
        return Reorg([b.hash for b in disconnected], [b.hash for b in mined], returned, dropped)

    # ---- indexes ------------------------------------------------------------------------

    def _connect(self, block: Block) -> None:
        height = len(self.blocks)
        if height and block.header.prev_hash != self.tip.hash:
            raise ValueError(f"block {block.hash} does not extend the tip")
        self.blocks.append(block)
        self.height_of[block.hash] = height
        for position, tx in enumerate(block.txs):
            if tx.txid not in self.txs:
                self._index(tx)
            if tx.txid in self.mempool:
                self.mempool.remove(tx.txid)
            self.confirmations[tx.txid] = Confirmation(
                height, block.hash, block.header.time, position
            )

    def _touch(self, script: bytes, txid: str) -> None:
        self.history.setdefault(scripthash(script), {})[txid] = None

    def _index(self, tx: Tx) -> None:
        txid = tx.txid
        self.txs[txid] = tx
        for vin, txin in enumerate(tx.inputs):
            prev = self.prevout(txin)
            if prev is not None:
                self.spent_by[(txin.prev_txid, txin.prev_vout)] = Spend(txid, vin)
                self._touch(prev.script_pubkey, txid)
        for out in tx.outputs:
            self._touch(out.script_pubkey, txid)

    def _unindex(self, tx: Tx) -> None:
        txid = tx.txid
        for txin in tx.inputs:
            outpoint = (txin.prev_txid, txin.prev_vout)
            if self.spent_by.get(outpoint, Spend("", 0)).txid == txid:
                del self.spent_by[outpoint]
        for txids in self.history.values():
            txids.pop(txid, None)
        del self.txs[txid]
