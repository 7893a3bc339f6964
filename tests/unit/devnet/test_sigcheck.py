"""Witness checks on real BDK-signed payments, and what a forger cannot get past them."""

from __future__ import annotations

import dataclasses

import pytest

from cairn.devnet.chain import Chain, TxRejected
from cairn.devnet.sigcheck import bip143_digest
from cairn.devnet.txcodec import Tx, TxIn, TxOut, parse_tx
from tests.unit.devnet.test_txcodec import signed_payment


def chain_with(funding: Tx) -> Chain:
    """A verifying chain whose mempool holds the faucet payment BDK spent from."""
    chain = Chain.create(1_700_000_000)
    chain.accept(funding)
    return chain


def with_input(tx: Tx, **changes: object) -> Tx:
    return dataclasses.replace(tx, inputs=(dataclasses.replace(tx.inputs[0], **changes),))


@pytest.fixture(scope="module")
def payment() -> tuple[Tx, Tx]:
    funding, raw = signed_payment()
    return funding, parse_tx(raw)


def test_a_bdk_signed_payment_is_accepted(payment: tuple[Tx, Tx]) -> None:
    funding, tx = payment
    chain = chain_with(funding)
    assert chain.accept(tx) == tx.txid


def test_a_payment_with_a_changed_amount_is_rejected(payment: tuple[Tx, Tx]) -> None:
    funding, tx = payment
    outputs = list(tx.outputs)
    outputs[0] = TxOut(outputs[0].value - 1, outputs[0].script_pubkey)
    forged = dataclasses.replace(tx, outputs=tuple(outputs))
    with pytest.raises(TxRejected, match="mandatory-script-verify-flag-failed"):
        chain_with(funding).accept(forged)


def test_a_damaged_signature_is_rejected(payment: tuple[Tx, Tx]) -> None:
    funding, tx = payment
    signature, pubkey = tx.inputs[0].witness
    damaged = signature[:10] + bytes([signature[10] ^ 1]) + signature[11:]
    with pytest.raises(TxRejected, match="CHECK"):
        chain_with(funding).accept(with_input(tx, witness=(damaged, pubkey)))


def test_another_key_is_rejected(payment: tuple[Tx, Tx]) -> None:
    funding, tx = payment
    signature, _ = tx.inputs[0].witness
    other = bytes.fromhex("02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    with pytest.raises(TxRejected, match="Witness program hash mismatch"):
        chain_with(funding).accept(with_input(tx, witness=(signature, other)))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"witness": ()}, "Witness program hash mismatch"),
        ({"script_sig": b"\x00"}, "Witness requires empty scriptSig"),
    ],
)
def test_malformed_witnesses_are_rejected(
    payment: tuple[Tx, Tx], changes: dict[str, object], reason: str
) -> None:
    funding, tx = payment
    with pytest.raises(TxRejected, match=reason):
        chain_with(funding).accept(with_input(tx, **changes))


def test_a_faucet_output_needs_its_witness_script() -> None:
    chain = Chain.create(1_700_000_000)
    funding = chain.faucet(bytes.fromhex("0014" + "66" * 20), 1_000)
    reserve = chain.txs[funding].outputs[1].value
    spend = Tx(2, (TxIn(funding, 1, b"", 0, (b"\x52",)),), (TxOut(reserve, b"\x51"),), 0)
    with pytest.raises(TxRejected, match="Witness program hash mismatch"):
        chain.accept(spend)
    good = dataclasses.replace(spend, inputs=(TxIn(funding, 1, b"", 0, (b"\x51",)),))
    assert chain.accept(good) == good.txid


def test_bip143_digest_matches_the_spec_vector() -> None:
    """BIP143's "native P2WPKH" example, second input."""
    unsigned = parse_tx(
        bytes.fromhex(
            "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffff"
            "ef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb2"
            "06000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde"
            "42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
        )
    )
    script_code = bytes.fromhex("76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac")
    digest = bip143_digest(unsigned, 1, script_code, 600_000_000, 1)
    assert digest.hex() == "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670"
