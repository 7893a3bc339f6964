"""Transaction parsing and serialization, cross-checked against bdkpython (rust-bitcoin)."""

from __future__ import annotations

import bdkpython as bdk
import pytest

from cairn.devnet.chain import Chain
from cairn.devnet.txcodec import DecodeError, Tx, TxIn, TxOut, parse_tx, parse_tx_hex

GENESIS_COINBASE_TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


def bdk_wallet() -> bdk.Wallet:
    key = bdk.DescriptorSecretKey(bdk.NetworkKind.TEST, bdk.Mnemonic(bdk.WordCount.WORDS12), None)
    return bdk.Wallet(
        bdk.Descriptor.new_bip84(key, bdk.KeychainKind.EXTERNAL, bdk.NetworkKind.TEST),
        bdk.Descriptor.new_bip84(key, bdk.KeychainKind.INTERNAL, bdk.NetworkKind.TEST),
        bdk.Network.REGTEST,
        bdk.Persister.new_in_memory(),
    )


def signed_payment() -> tuple[Tx, bytes]:
    """A payment BDK builds and signs from a devnet faucet output: (our faucet tx, BDK's raw tx)."""
    wallet = bdk_wallet()
    script = bytes(
        wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address.script_pubkey().to_bytes()
    )
    chain = Chain.create(1_700_000_000)
    faucet_tx = chain.txs[chain.faucet(script, 100_000)]
    funding = bdk.Transaction(faucet_tx.serialize())
    wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=funding, last_seen=1)])
    recipient = bdk.Script(bytes.fromhex("0014" + "33" * 20))
    psbt = bdk.TxBuilder().add_recipient(recipient, bdk.Amount.from_sat(40_000)).finish(wallet)
    assert wallet.sign(psbt)
    return faucet_tx, bytes(psbt.extract_tx().serialize())


def test_our_faucet_tx_reads_the_same_in_bdk() -> None:
    faucet_tx, _ = signed_payment()
    theirs = bdk.Transaction(faucet_tx.serialize())
    assert str(theirs.compute_txid()) == faucet_tx.txid
    assert str(theirs.compute_wtxid()) == faucet_tx.wtxid
    assert theirs.weight() == faucet_tx.weight
    assert theirs.vsize() == faucet_tx.vsize


def test_a_bdk_signed_payment_parses_and_round_trips() -> None:
    faucet_tx, raw = signed_payment()
    theirs = bdk.Transaction(raw)

    tx = parse_tx(raw)

    assert tx.serialize() == raw
    assert tx.txid == str(theirs.compute_txid())
    assert tx.size == theirs.total_size()
    assert tx.weight == theirs.weight()
    assert tx.vsize == theirs.vsize()
    assert tx.has_witness and len(tx.inputs[0].witness) == 2  # P2WPKH: signature, pubkey
    assert (tx.inputs[0].prev_txid, tx.inputs[0].prev_vout) == (faucet_tx.txid, 0)
    assert [o.value for o in tx.outputs if o.value == 40_000] == [40_000]


def test_a_legacy_tx_parses_and_has_the_known_txid() -> None:
    from cairn.devnet.blocks import genesis_block

    raw = genesis_block().txs[0].serialize()
    tx = parse_tx(raw)
    assert tx.txid == GENESIS_COINBASE_TXID
    assert tx.is_coinbase and not tx.has_witness
    assert tx.serialize() == raw
    assert tx.weight == 4 * len(raw)


def test_large_counts_and_values_use_wide_varints() -> None:
    outputs = tuple(TxOut(i, b"\x51" * 300) for i in range(300))  # 0xfd-prefixed lengths
    tx = Tx(1, (TxIn("ab" * 32, 1, b"", 5),), outputs, 99)
    assert parse_tx(tx.serialize()) == tx


@pytest.mark.parametrize(
    "text",
    [
        "",
        "zz",
        "0200000001",  # truncated in the input count
        "02000000000200",  # segwit marker with a bad flag
    ],
)
def test_malformed_hex_is_one_error_type(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_tx_hex(text)


def test_trailing_bytes_are_rejected() -> None:
    _, raw = signed_payment()
    with pytest.raises(DecodeError, match="trailing"):
        parse_tx(raw + b"\x00")


def test_every_truncation_of_a_real_tx_is_rejected() -> None:
    _, raw = signed_payment()
    for end in range(len(raw)):
        with pytest.raises(DecodeError):
            parse_tx(raw[:end])


def test_a_huge_length_prefix_fails_without_allocating() -> None:
    raw = bytes.fromhex("02000000" + "ff" + "ffffffffffffff7f")
    with pytest.raises(DecodeError, match="length prefix"):
        parse_tx(raw)
