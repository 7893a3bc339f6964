"""The chain watcher on a real wallet and a real devnet: an idle tick is one small request and
no sync; a payment to an unused address and a new block are news that start a sync; ticks slow
down while nothing changes and back off while the server is down. Time is injected: the
watcher's sleeps are recorded, never waited for."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from cairn.events import EventBus, PaymentConfirmed, PaymentReceived, SyncCompleted
from cairn.keys import Network, generate_mnemonic, mnemonic_to_seed
from cairn.storage import MemoryStore
from cairn.wallet import CairnWallet
from cairn.wallet.esplora_probe import EsploraProbe
from cairn.wallet.sync import SyncStatus
from cairn.wallet.watch import ChainWatcher, SyncRound
from tests.support.devnet import DevnetProcess

from .conftest import Recorder

pytestmark = pytest.mark.asyncio


class Clock:
    """Time that moves only when the watcher sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def requests_in(log: str) -> list[str]:
    """The requests a devnet logged at debug level: "GET /path"."""
    return [f"{m.group(1)} {m.group(2)}" for m in re.finditer(r'"([A-Z]+) (\S+) HTTP', log)]


def new_wallet(url: str, bus: EventBus) -> CairnWallet:
    seed = mnemonic_to_seed(generate_mnemonic())
    return CairnWallet.open(MemoryStore(), seed, Network.REGTEST, esplora_url=url, bus=bus)


async def test_an_idle_tick_asks_one_small_question_and_does_not_sync(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    node = devnet_factory(log_level="debug")
    bus = EventBus()
    seen = Recorder(bus)
    wallet = new_wallet(node.url, bus)
    await wallet.next_receive_address()
    probe = EsploraProbe(node.url)
    clock = Clock()
    watcher = ChainWatcher(wallet, probe, clock=clock, sleep=clock.sleep)
    try:
        await watcher.sync_round()
        seen.clear()
        for _ in range(4):  # the tip, the address, the tip, the address
            before = len(node.log())
            assert await watcher.tick() is False
            asked = requests_in(node.log()[before:])
            assert len(asked) == 1, asked
            assert re.fullmatch(r"GET /(blocks/tip/hash|scripthash/[0-9a-f]{64})", asked[0])
        assert probe.requests == 4
        assert not seen.of(SyncCompleted)  # nothing changed: no BDK sync at all
    finally:
        await probe.aclose()


async def test_a_payment_and_a_block_are_news_that_start_a_sync(
    devnet: DevnetProcess,
) -> None:
    bus = EventBus()
    seen = Recorder(bus)
    wallet = new_wallet(devnet.url, bus)
    address = await wallet.next_receive_address()
    probe = EsploraProbe(devnet.url)
    clock = Clock()
    rounds: list[SyncRound[SyncStatus]] = []

    async def synced(outcome: SyncRound[SyncStatus]) -> None:
        rounds.append(outcome)

    watcher = ChainWatcher(wallet, probe, on_synced=synced, clock=clock, sleep=clock.sleep)
    try:
        await watcher.sync_round()
        assert await watcher.tick() is False and await watcher.tick() is False
        txid = devnet.faucet(address.address, 100_000)  # into the mempool only
        found = [await watcher.tick() for _ in range(2)]  # one of them asks about the address
        assert found.count(True) == 1
        assert [(e.txid, e.amount_sat, e.confirmed) for e in seen.of(PaymentReceived)] == [
            (txid, 100_000, False)
        ]
        assert rounds[-1].status is not None and rounds[-1].status.state == "online"
        # The paid address is no longer watched; the next one handed out is.
        assert wallet.watch_targets().script_hashes == ()
        devnet.mine()
        assert await watcher.tick() is True  # only the tip is left to ask about
        assert [e.txid for e in seen.of(PaymentConfirmed)] == [txid]
        assert await watcher.tick() is False
    finally:
        await probe.aclose()


async def test_ticks_slow_down_when_idle_and_back_off_while_the_server_is_down(
    devnet: DevnetProcess,
) -> None:
    bus = EventBus()
    seen = Recorder(bus)
    wallet = new_wallet(devnet.url, bus)
    probe = EsploraProbe(devnet.url, timeout=2.0)
    clock = Clock()
    watcher = ChainWatcher(
        wallet, probe, interval=1.0, idle_max=4.0, offline_max=16.0, clock=clock, sleep=clock.sleep
    )
    try:
        await watcher.sync_round()
        delays = []
        for _ in range(4):  # only the tip is watched: each idle tick is a whole round
            await watcher.tick()
            delays.append(watcher.delay)
        assert delays == [2.0, 4.0, 4.0, 4.0]

        devnet.stop()
        delays = []
        for _ in range(4):
            assert await watcher.tick() is False
            delays.append(watcher.delay)
        assert delays == [8.0, 16.0, 16.0, 16.0]
        assert not watcher.reachable

        devnet.start()
        seen.clear()
        assert await watcher.tick() is True  # reachable again: sync, and quick ticks again
        assert watcher.delay == 1.0
        assert seen.of(SyncCompleted)
    finally:
        await probe.aclose()


async def test_the_watcher_syncs_at_start_on_demand_and_now_and_then(
    devnet: DevnetProcess,
) -> None:
    bus = EventBus()
    seen = Recorder(bus)
    wallet = new_wallet(devnet.url, bus)
    probe = EsploraProbe(devnet.url)
    clock = Clock()
    watcher = ChainWatcher(wallet, probe, sync_every=30.0, clock=clock, sleep=clock.sleep)
    watcher.start()
    try:
        # The simulated clock runs ahead of the real syncs: wait for both, within a bound.
        for _ in range(1000):
            if clock.now >= 60.0 and len(seen.of(SyncCompleted)) >= 3:
                break
            await asyncio.sleep(0.01)
        # At start, then after 30 s of (simulated) idle ticks, then again.
        assert len(seen.of(SyncCompleted)) >= 3
        assert max(clock.slept) <= 4.0  # the idle ceiling, never longer
        synced = len(seen.of(SyncCompleted))
        watcher.sync_now()
        for _ in range(500):
            if len(seen.of(SyncCompleted)) > synced:
                break
            await asyncio.sleep(0.01)
        assert len(seen.of(SyncCompleted)) > synced
    finally:
        await watcher.stop()
    assert not watcher.running


async def test_news_whose_sync_fails_is_tried_again_with_backoff(devnet: DevnetProcess) -> None:
    bus = EventBus()
    seed = mnemonic_to_seed(generate_mnemonic())
    # The probes get through, but every sync times out: the tip stays news.
    wallet = CairnWallet.open(
        MemoryStore(), seed, Network.REGTEST, esplora_url=devnet.url, bus=bus, sync_timeout=1e-6
    )
    probe = EsploraProbe(devnet.url)
    clock = Clock()
    rounds: list[SyncRound[SyncStatus]] = []

    async def synced(outcome: SyncRound[SyncStatus]) -> None:
        rounds.append(outcome)

    watcher = ChainWatcher(
        wallet, probe, on_synced=synced, offline_max=8.0, clock=clock, sleep=clock.sleep
    )
    try:
        delays = []
        for _ in range(4):
            assert await watcher.tick() is True  # the same news, tried again each time
            delays.append(watcher.delay)
        assert delays == [2.0, 4.0, 8.0, 8.0]
        assert [r.status.state for r in rounds if r.status] == ["offline"] * 4
    finally:
        await probe.aclose()
        await wallet.aclose()
