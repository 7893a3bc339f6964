"""Every address this wallet has handed out (receive) or used for change, as the address list
shows it: whether it has been paid, what it holds now, and its label."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bdkpython as bdk

RECEIVE = "receive"
CHANGE = "change"


@dataclass(frozen=True)
class AddressInfo:
    keychain: str  # RECEIVE or CHANGE
    index: int
    address: str
    used: bool  # some transaction paid it (even if since spent)
    balance_sat: int  # what its unspent coins hold now, confirmed or not
    payments: int  # how many outputs paid it
    label: str | None


def addresses_of(wallet: bdk.Wallet, label_of: Callable[[str], str | None]) -> list[AddressInfo]:
    """Receive addresses up to the last one revealed, then change addresses likewise."""
    paid: dict[tuple[str, int], list[bdk.LocalOutput]] = {}
    for output in wallet.list_output():
        paid.setdefault((_name(output.keychain), output.derivation_index), []).append(output)
    found: list[AddressInfo] = []
    for keychain in (bdk.KeychainKind.EXTERNAL, bdk.KeychainKind.INTERNAL):
        last = wallet.derivation_index(keychain)
        if last is None:
            continue
        name = _name(keychain)
        for index in range(last + 1):
            address = str(wallet.peek_address(keychain, index).address)
            outputs = paid.get((name, index), [])
            found.append(
                AddressInfo(
                    keychain=name,
                    index=index,
                    address=address,
                    used=bool(outputs),
                    balance_sat=sum(o.txout.value.to_sat() for o in outputs if not o.is_spent),
                    payments=len(outputs),
                    label=label_of(address),
                )
            )
    return found


def _name(keychain: bdk.KeychainKind) -> str:
    return RECEIVE if keychain == bdk.KeychainKind.EXTERNAL else CHANGE
