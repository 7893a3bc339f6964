"""The devnet's operations: one lock around the chain, and a save after every change."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cairn.devnet.blocks import Block
from cairn.devnet.chain import FAUCET_SCRIPT, Chain, Reorg
from cairn.devnet.statefile import StateFile
from cairn.devnet.txcodec import Tx

log = logging.getLogger("cairn.devnet")

# Esplora's confirmation targets (blocks) and a plausible curve of sat/vB for each.
DEFAULT_FEE_CURVE: dict[int, float] = {
    1: 20.0,
    2: 15.0,
    3: 12.0,
    4: 10.0,
    6: 8.0,
    10: 5.0,
    25: 3.0,
    144: 2.0,
    504: 1.0,
    1008: 1.0,
}
ESPLORA_TARGETS = [*range(1, 26), 144, 504, 1008]


def expand_fee_curve(curve: dict[int, float]) -> dict[str, float]:
    """Every Esplora target, each taking the rate of the nearest given target at or below it."""
    table: dict[str, float] = {}
    known = sorted(curve)
    for target in ESPLORA_TARGETS:
        below = [t for t in known if t <= target]
        table[str(target)] = curve[below[-1] if below else known[0]]
    return table


class Devnet:
    """A chain persisted in a state file; every public method is safe from any thread."""

    def __init__(
        self,
        state_path: Path,
        *,
        verify_signatures: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state = StateFile(state_path)
        self.chain = self._state.load(self.now(), verify_signatures=verify_signatures)
        stored = self._state.get_setting("fee_estimates")
        self._fees = (
            {str(k): float(v) for k, v in stored.items()}
            if isinstance(stored, dict)
            else expand_fee_curve(DEFAULT_FEE_CURVE)
        )

    def now(self) -> int:
        return int(self._clock())

    @contextmanager
    def reading(self) -> Iterator[Chain]:
        """Hold the lock while a view reads the chain."""
        with self._lock:
            yield self.chain

    def broadcast(self, tx: Tx) -> str:
        with self._lock:
            known = tx.txid in self.chain.txs
            txid, replaced = self.chain.accept_replacing(tx)
            if not known:
                self._state.save(self.chain)
                log.info("accepted tx %s (%d vB)", txid, tx.vsize)
            if replaced:
                log.info("tx %s replaced %s", txid, ", ".join(replaced))
            return txid

    def faucet(
        self, script_pubkey: bytes, amount: int, *, mine: bool = False
    ) -> tuple[str, str | None]:
        """Pay from the faucet; answer (txid, hash of the block that confirmed it or None)."""
        with self._lock:
            txid = self.chain.faucet(script_pubkey, amount)
            block_hash = None
            if mine:
                block_hash = self.chain.mine(1, self.now())[0].hash
            self._state.save(self.chain)
            log.info("faucet paid %d sat in %s", amount, txid)
            return txid, block_hash

    def mine(self, count: int, coinbase_script: bytes = FAUCET_SCRIPT) -> tuple[list[Block], int]:
        """Mine `count` blocks; answer them and the new tip height."""
        with self._lock:
            blocks = self.chain.mine(count, self.now(), coinbase_script=coinbase_script)
            self._state.save(self.chain)
            log.info("mined %d block(s), tip %d %s", count, self.chain.tip_height, blocks[-1].hash)
            return blocks, self.chain.tip_height

    def reorg(self, depth: int, new_blocks: int) -> Reorg:
        with self._lock:
            result = self.chain.reorg(depth, new_blocks, self.now())
            self._state.save(self.chain)
            log.info(
                "reorg: %d block(s) replaced by %d, %d tx(s) back in the mempool, %d dropped",
                depth,
                new_blocks,
                len(result.returned),
                len(result.dropped),
            )
            return result

    def evict(self, txid: str) -> list[str]:
        with self._lock:
            dropped = self.chain.evict(txid)
            self._state.save(self.chain)
            log.info("evicted %d tx(s) from the mempool", len(dropped))
            return dropped

    def fee_estimates(self) -> dict[str, float]:
        with self._lock:
            return dict(self._fees)

    def set_fee_estimates(self, curve: dict[int, float]) -> dict[str, float]:
        with self._lock:
            self._fees = expand_fee_curve(curve)
            self._state.set_setting("fee_estimates", self._fees)
            return dict(self._fees)

    def close(self) -> None:
        with self._lock:
            self._state.close()
