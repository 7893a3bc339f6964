"""Receiving: the next address to hand out, reserved on disk (and against the other devices
on this seed) before it is shown. A part of `CairnWallet`."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bdkpython as bdk

from cairn.events import AddressRevealed, EventBus
from cairn.storage.device import device_id
from cairn.wallet.errors import AddressNotReserved, WalletStorageError

if TYPE_CHECKING:
    from cairn.storage import RecordStore

log = logging.getLogger("cairn.wallet.core")  # the wallet's one logger, as before the split
REVEALED_PREFIX = "wallet/revealed/"
# One record per receive index handed out: the device that reserved it. The first to reach
# the backup server keeps it (cairn.backup.merge), so each index has exactly one owner.
RESERVED_PREFIX = "wallet/reserved/external/"
# Lost reservations (another device took the index first) before giving up, and retries of
# one reservation that met other devices' writes; each pause is random, up to a few tenths.
MAX_RESERVATION_ROUNDS = 12
MAX_BUSY_RETRIES = 6
RESERVATION_PAUSE = 0.4
AddressReserver = Callable[[], Awaitable[object]]


class ReservationBusy(Exception):
    """The reserver met other devices' writes and did not finish; trying again may."""


@dataclass(frozen=True)
class ReceiveAddress:
    """An address handed out for receiving, with its BIP84 index on the external keychain."""

    address: str
    index: int


class Receiving:
    """Receive addresses; `CairnWallet` provides the state below."""

    _wallet: bdk.Wallet
    _lock: threading.RLock
    _bus: EventBus
    _store: RecordStore
    _reserve: AddressReserver | None

    def _persist_quietly(self) -> None:
        raise NotImplementedError  # CairnWallet's

    # --- receiving --------------------------------------------------------------------------

    def set_address_reserver(self, reserve: AddressReserver | None) -> None:
        """How a new address index is reserved against other devices on this seed.

        `reserve` (the backup engine's sync) runs after the index is on disk and before the
        address is handed out. Two online devices never hand out one address: the device whose
        reservation reached the server second finds the other's index merged in, and takes the
        next one. Programs on one data dir take turns on the record itself (a compare-and-set).
        A server that asks to wait (429) is waited for, a while; offline, the address is handed
        out anyway (the reservation travels later, and two offline devices may then show one
        address twice: same wallet, same funds).
        """
        self._reserve = reserve

    async def next_receive_address(self) -> ReceiveAddress:
        """A new address never handed out before; its index is on disk before it is returned.

        AddressNotReserved when other devices on this seed kept taking the next index first,
        each time (nothing is handed out then: one address shown on two devices is what the
        reservation is for).
        """
        if self._reserve is None:
            candidate = await asyncio.to_thread(self._reveal_next)
        else:
            candidate = await self._reserved_next(self._reserve)
        self._bus.publish(AddressRevealed("external", candidate.index, candidate.address))
        return candidate

    async def _reserved_next(self, reserve: AddressReserver) -> ReceiveAddress:
        for _ in range(MAX_RESERVATION_ROUNDS):
            candidate = await asyncio.to_thread(self._reveal_next)
            try:
                await _reserved(reserve)
            except Exception as error:  # offline: hand it out, the reservation goes later
                log.info("address reservation not confirmed: %s", type(error).__name__)
                return candidate
            if await asyncio.to_thread(self._owns, candidate.index):
                return candidate
            # Another device reserved this index first: take the next one, after a pause
            # that keeps devices taking addresses at one moment from meeting again.
            await asyncio.sleep(random.uniform(0.0, RESERVATION_PAUSE))
        raise AddressNotReserved(
            "No new address could be reserved: other devices on this wallet kept taking the "
            "next one at the same moment. Try again."
        )

    def next_receive_address_blocking(self) -> ReceiveAddress:
        address = self._reveal_next()
        self._bus.publish(AddressRevealed("external", address.index, address.address))
        return address

    def _device(self) -> str:
        return device_id(self._store).hex()

    def _owns(self, index: int) -> bool:
        """Whether this device's reservation of `index` is the one the server kept.

        The index's own record says so, whatever indexes the devices have taken since. The
        last-index record still counts where it names another device at this index (one
        written by a version without per-index records).
        """
        me = self._device()
        owner = self._store.get(_reserved_name(index))
        recorded = self._recorded(bdk.KeychainKind.EXTERNAL)
        if recorded is not None and recorded[0] == index and recorded[1] not in ("", me):
            return False
        if owner is not None:
            return owner.decode("ascii", "replace") == me
        return recorded is None or recorded == (index, me)

    def _reveal_next(self) -> ReceiveAddress:
        keychain = bdk.KeychainKind.EXTERNAL
        name = _revealed_name(keychain)
        with self._lock:
            # Compare-and-set: another program on this data dir (the app and a `cairn wallet
            # receive`) reads the same record; whichever writes second sees it changed and
            # takes the index after the other's.
            while True:
                before = self._store.get(name)
                recorded = _parsed(before)
                index = self._wallet.next_derivation_index(keychain)
                if recorded is not None:
                    index = max(index, recorded[0] + 1)
                while self._store.get(_reserved_name(index)) is not None:
                    index += 1  # another device's, pulled before its last-index record
                if self._saved(name, f"{index} {self._device()}".encode(), before):
                    break
            # Ours from here: another program on this data dir takes the next index.
            self._write_reservation(index)
            address = str(self._wallet.peek_address(keychain, index).address)
            self._wallet.reveal_addresses_to(keychain, index)
            self._persist_quietly()
        return ReceiveAddress(address, index)

    def _write_reservation(self, index: int) -> None:
        try:
            self._store.put(_reserved_name(index), self._device().encode("ascii"))
        except Exception as error:
            raise WalletStorageError(
                f"the new address could not be saved ({type(error).__name__}); "
                "no address was handed out"
            ) from None

    def _saved(self, name: str, value: bytes, before: bytes | None) -> bool:
        try:
            return self._store.put_if(name, value, expect=before)
        except Exception as error:
            raise WalletStorageError(
                f"the new address could not be saved ({type(error).__name__}); "
                "no address was handed out"
            ) from None

    async def current_receive_address(self) -> ReceiveAddress:
        """The last address handed out while nothing paid to it yet; otherwise a new one."""
        with self._lock:
            recorded = self._recorded_index(bdk.KeychainKind.EXTERNAL)
            if recorded is not None:
                unused = {
                    info.index
                    for info in self._wallet.list_unused_addresses(bdk.KeychainKind.EXTERNAL)
                }
                if recorded in unused:
                    info = self._wallet.peek_address(bdk.KeychainKind.EXTERNAL, recorded)
                    return ReceiveAddress(str(info.address), recorded)
        return await self.next_receive_address()

    def _recorded_index(self, keychain: bdk.KeychainKind) -> int | None:
        recorded = self._recorded(keychain)
        return None if recorded is None else recorded[0]

    def _recorded(self, keychain: bdk.KeychainKind) -> tuple[int, str] | None:
        """The last index handed out and the device that reserved it ("" before devices)."""
        return _parsed(self._store.get(_revealed_name(keychain)))


def _parsed(value: bytes | None) -> tuple[int, str] | None:
    if value is None:
        return None
    parsed = parse_revealed(value)
    if parsed is None:
        log.error("the revealed-index record is unreadable; using the wallet's own index")
    return parsed


async def _reserved(reserve: AddressReserver) -> None:
    """Run the reservation; one that met other devices' writes (ReservationBusy) is tried
    again, after a pause, a few times before it counts as not confirmed."""
    for attempt in range(MAX_BUSY_RETRIES):
        try:
            await reserve()
            return
        except ReservationBusy:
            if attempt == MAX_BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(random.uniform(0.0, RESERVATION_PAUSE))


def parse_revealed(value: bytes) -> tuple[int, str] | None:
    """A `wallet/revealed/...` record: "<index> <device id hex>" ("<index>" before devices)."""
    index, _, device = value.decode("utf-8", "replace").partition(" ")
    try:
        return int(index), device
    except ValueError:
        return None


def _reserved_name(index: int) -> str:
    return f"{RESERVED_PREFIX}{index}"


def _revealed_name(keychain: bdk.KeychainKind) -> str:
    suffix = "external" if keychain == bdk.KeychainKind.EXTERNAL else "internal"
    return REVEALED_PREFIX + suffix
