"""BIP21 payment URIs (``bitcoin:<address>?amount=…&label=…&message=…``), parsed without I/O.

The address is only taken apart here; whether it is valid, and for which network, is the
payment's check (``cairn.wallet.addresses``), so a pasted URI gets the same answers as an address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from cairn.usererrors import UserError
from cairn.wallet.amounts import AmountError, Unit, parse_amount

SCHEME = "bitcoin:"
# BIP21 amounts are decimal BTC with "." whatever the locale: no grouping, no exponent.
_AMOUNT = re.compile(r"[0-9]*\.?[0-9]*")
KNOWN_PARAMETERS = ("amount", "label", "message")


class PaymentUriError(ValueError, UserError):
    """A ``bitcoin:`` URI that cannot be used; ``str(error)`` says why, for the user."""


@dataclass(frozen=True)
class PaymentRequest:
    """What a payment URI asks for: the address, and optionally amount, label and message."""

    address: str
    amount_sat: int | None = None
    label: str | None = None
    message: str | None = None


def is_payment_uri(text: str) -> bool:
    return text.strip().lower().startswith(SCHEME)


def parse_payment_uri(text: str) -> PaymentRequest:
    """The request in a ``bitcoin:`` URI; PaymentUriError saying what is wrong otherwise."""
    uri = text.strip()
    if not is_payment_uri(uri):
        raise PaymentUriError("This is not a bitcoin: payment link.")
    rest = uri[len(SCHEME) :].removeprefix("//")  # some apps write bitcoin://address
    address, _, query = rest.partition("?")
    address = unquote(address).strip()
    if not address:
        raise PaymentUriError("The payment link has no address to pay.")
    values: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        raw_name, _, raw_value = part.partition("=")
        name = unquote(raw_name).lower()
        if name in values:
            raise PaymentUriError(f"The payment link gives “{name}” twice; ask for a new link.")
        if name.startswith("req-"):
            # BIP21: a required parameter this wallet does not understand makes the URI unusable.
            raise PaymentUriError(
                f"The payment link requires “{name[4:]}”, which Cairn does not support; "
                "ask the recipient for a plain address and amount."
            )
        values[name] = unquote(raw_value)
    return PaymentRequest(
        address=address,
        amount_sat=_amount(values["amount"]) if "amount" in values else None,
        label=values.get("label") or None,
        message=values.get("message") or None,
    )


def _amount(text: str) -> int:
    if not text or not _AMOUNT.fullmatch(text):
        raise PaymentUriError(
            f"The payment link's amount “{text}” is not an amount in BTC; "
            "ask the recipient for a new link, or type the amount yourself."
        )
    try:
        return parse_amount(text, Unit.BTC)
    except AmountError as error:
        raise PaymentUriError(f"The payment link's amount is unusable: {error}") from None
