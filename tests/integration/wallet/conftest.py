"""Real CairnWallets against a real devnet process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cairn.events import Event, EventBus
from cairn.keys import Network, generate_mnemonic, mnemonic_to_seed
from cairn.storage import MemoryStore, RecordStore
from cairn.wallet import CairnWallet
from tests.support.devnet import DevnetProcess


class Recorder:
    """An EventBus subscriber keeping every event."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        bus.subscribe(self.events.append)

    def of(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]

    def clear(self) -> None:
        self.events.clear()


OpenWallet = Callable[..., CairnWallet]


@pytest.fixture
def new_seed() -> Callable[[], bytes]:
    return lambda: mnemonic_to_seed(generate_mnemonic())


@pytest.fixture
def open_wallet(devnet: DevnetProcess) -> Iterator[OpenWallet]:
    """open_wallet(seed, store=None, bus=None) -> CairnWallet on the devnet."""
    opened: list[CairnWallet] = []

    def make(
        seed: bytes,
        store: RecordStore | None = None,
        bus: EventBus | None = None,
        **options: object,
    ) -> CairnWallet:
        wallet = CairnWallet.open(
            store if store is not None else MemoryStore(),
            seed,
            Network.REGTEST,
            esplora_url=devnet.url,
            bus=bus,
            **options,  # type: ignore[arg-type]
        )
        opened.append(wallet)
        return wallet

    yield make
    for wallet in opened:
        wallet.close()


async def fund(wallet: CairnWallet, devnet: DevnetProcess, sat: int) -> str:
    """Pay the wallet from the faucet, confirm it, sync; returns the txid."""
    address = await wallet.next_receive_address()
    txid = devnet.faucet(address.address, sat, mine=True)
    await wallet.sync()
    return txid
