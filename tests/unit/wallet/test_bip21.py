"""BIP21 payment URIs: address, amount, label and message, and every way one can be unusable."""

from __future__ import annotations

import pytest

from cairn.wallet.bip21 import PaymentRequest, PaymentUriError, is_payment_uri, parse_payment_uri

ADDRESS = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"bitcoin:{ADDRESS}", PaymentRequest(ADDRESS)),
        (f"BITCOIN:{ADDRESS}", PaymentRequest(ADDRESS)),
        (f"  bitcoin:{ADDRESS}?amount=0.5  ", PaymentRequest(ADDRESS, 50_000_000)),
        (f"bitcoin://{ADDRESS}?amount=.00000546", PaymentRequest(ADDRESS, 546)),
        (
            f"bitcoin:{ADDRESS}?amount=20.3&label=Luke-Jr",
            PaymentRequest(ADDRESS, 2_030_000_000, "Luke-Jr"),
        ),
        (
            f"bitcoin:{ADDRESS}?amount=50&label=Luke-Jr&message=Donation%20for%20project%20xyz",
            PaymentRequest(ADDRESS, 5_000_000_000, "Luke-Jr", "Donation for project xyz"),
        ),
        (
            f"bitcoin:{ADDRESS}?label=Caf%C3%A9%20%26%20Co",
            PaymentRequest(ADDRESS, label="Café & Co"),
        ),
        # Parameters Cairn does not know are ignored unless they are required (req-).
        (f"bitcoin:{ADDRESS}?somethingyoudontunderstand=50", PaymentRequest(ADDRESS)),
        (f"bitcoin:{ADDRESS}?lightning=lnbc1&amount=1", PaymentRequest(ADDRESS, 100_000_000)),
    ],
)
def test_payment_uris_are_read(uri, expected):
    assert is_payment_uri(uri)
    assert parse_payment_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bitcoin:", "no address"),
        ("bitcoin:?amount=1", "no address"),
        (f"bitcoin:{ADDRESS}?req-somethingyoudontunderstand=50", "does not support"),
        (f"bitcoin:{ADDRESS}?amount=1,5", "not an amount in BTC"),
        (f"bitcoin:{ADDRESS}?amount=1e3", "not an amount in BTC"),
        (f"bitcoin:{ADDRESS}?amount=", "not an amount in BTC"),
        (f"bitcoin:{ADDRESS}?amount=0", "more than zero"),
        (f"bitcoin:{ADDRESS}?amount=0.000000001", "eight decimals"),
        (f"bitcoin:{ADDRESS}?amount=1&amount=2", "twice"),
        (ADDRESS, "not a bitcoin: payment link"),
    ],
)
def test_unusable_payment_uris_say_why(uri, message):
    with pytest.raises(PaymentUriError, match=message):
        parse_payment_uri(uri)
