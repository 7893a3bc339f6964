"""What a sync announces, and how chain-server failures read to the user."""

from __future__ import annotations

import bdkpython as bdk

from cairn.events import PaymentConfirmed, PaymentReceived
from cairn.wallet.history import Direction
from cairn.wallet.sync import TxState, describe_chain_error, payment_events, rejection_reason

URL = "http://127.0.0.1:3002"


def test_news_from_a_sync():
    before = {
        "pending-in": TxState(Direction.IN, 5_000, None),
        "pending-out": TxState(Direction.OUT, 7_000, None),
        "old": TxState(Direction.IN, 1_000, 90),
    }
    after = {
        "pending-in": TxState(Direction.IN, 5_000, 101),
        "pending-out": TxState(Direction.OUT, 7_000, 101),
        "old": TxState(Direction.IN, 1_000, 90),
        "new-pending": TxState(Direction.IN, 3_000, None),
        "new-mined": TxState(Direction.IN, 4_000, 101),
        "new-out": TxState(Direction.OUT, 2_000, None),
    }
    events = payment_events(before, after)
    assert events == [
        PaymentConfirmed("pending-in", 101, "in"),
        PaymentConfirmed("pending-out", 101, "out"),
        PaymentReceived("new-pending", 3_000, confirmed=False),
        PaymentReceived("new-mined", 4_000, confirmed=True),
        PaymentConfirmed("new-mined", 101, "in"),
    ]


def test_a_reorged_out_transaction_confirming_again_is_announced_again():
    before = {"t": TxState(Direction.IN, 5_000, None)}
    assert payment_events(before, {"t": TxState(Direction.IN, 5_000, 7)}) == [
        PaymentConfirmed("t", 7, "in")
    ]


def test_bitcoind_style_rejections_give_the_bare_reason():
    error = bdk.EsploraError.HttpResponse(
        status=400,
        error_message='sendrawtransaction RPC error: {"code":-26,"message":"txn-mempool-conflict"}',
    )
    assert rejection_reason(error) == "txn-mempool-conflict"
    plain = bdk.EsploraError.HttpResponse(status=400, error_message="min relay fee not met")
    assert rejection_reason(plain) == "min relay fee not met"
    assert rejection_reason(bdk.EsploraError.Minreq(error_message="refused")) is None


def test_chain_errors_read_as_advice():
    refused = describe_chain_error(bdk.EsploraError.Minreq(error_message="refused"), URL)
    assert (
        refused == f"cannot reach the chain server at {URL}; check the connection or the server URL"
    )
    http = describe_chain_error(bdk.EsploraError.HttpResponse(status=503, error_message=""), URL)
    assert "answered HTTP 503" in http
    assert "did not answer in time" in describe_chain_error(TimeoutError(), URL)
