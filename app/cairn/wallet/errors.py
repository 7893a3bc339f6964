"""Errors the wallet raises to its callers: each message says what happened and what to do."""

from __future__ import annotations

from cairn.usererrors import UserError, printable


class WalletError(UserError):
    """Base of every error the wallet raises on purpose; ``str(error)`` is fit for the user."""


class InvalidAddress(WalletError):
    """The recipient is not a Bitcoin address at all."""

    def __init__(self, text: str) -> None:
        super().__init__(
            f'"{printable(text)}" is not a valid Bitcoin address; check it and paste it again'
        )
        self.text = text


class WrongNetworkAddress(WalletError):
    """A valid address of another network (a mainnet address in a test wallet, or the reverse)."""

    def __init__(self, address: str, address_network: str, wallet_network: str) -> None:
        super().__init__(
            f"this is a {address_network} address, but this wallet is on {wallet_network}; "
            f"ask the recipient for a {wallet_network} address ({printable(address)})"
        )
        self.address = address
        self.address_network = address_network
        self.wallet_network = wallet_network


class InvalidAmount(WalletError):
    """An amount or fee rate that is zero, negative or otherwise unusable."""


class DustAmount(WalletError):
    """The amount is below the dust limit: the network would not relay such an output."""

    def __init__(self, amount_sat: int, dust_limit_sat: int) -> None:
        super().__init__(
            f"{amount_sat:,} sat is too small to send (the network's dust limit for this address "
            f"is {dust_limit_sat:,} sat); send at least {dust_limit_sat:,} sat"
        )
        self.amount_sat = amount_sat
        self.dust_limit_sat = dust_limit_sat


class InsufficientFunds(WalletError):
    """The wallet cannot pay the amount plus the fee."""

    def __init__(self, available_sat: int, needed_sat: int | None = None) -> None:
        needed = f" (needed {needed_sat:,} sat including the fee)" if needed_sat is not None else ""
        super().__init__(
            f"not enough funds: {available_sat:,} sat available{needed}; "
            "send less, lower the fee rate, or wait for incoming payments to confirm"
        )
        self.available_sat = available_sat
        self.needed_sat = needed_sat


class BroadcastRejected(WalletError):
    """The chain server refused the signed transaction; ``reason`` is its own text."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the server rejected the payment: {reason}; nothing was sent")
        self.reason = reason


class ChainUnavailable(WalletError):
    """The chain server could not be reached or answered nonsense; try again later."""


class WalletStorageError(WalletError):
    """The wallet could not read or write its records on this machine."""


class RecordsNotOfThisSeed(WalletStorageError):
    """The records in the data dir are another wallet's (a seed file swapped or copied over)."""


class AddressNotReserved(WalletError):
    """Other devices on this seed kept taking the next address first: nothing handed out."""
