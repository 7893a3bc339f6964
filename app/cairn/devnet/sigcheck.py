"""Witness checks for the two script kinds the devnet sees most: P2WPKH and P2WSH(OP_TRUE).

P2WPKH inputs (every BIP84 wallet payment) get the full check: the witness is a signature and a
compressed public key, the key hashes to the program, and the ECDSA signature (low-S, strict DER)
signs the BIP143 digest. A P2WSH input must reveal the script its program commits to; only the
faucet's OP_TRUE script is run. Every other kind (legacy, P2SH, taproot, other witness scripts)
is accepted unchecked — see docs/DEVNET.md.
"""

from __future__ import annotations

import hashlib
import struct

import coincurve

from cairn.devnet.txcodec import Tx, TxOut, encode_bytes, sha256d
from cairn.keys import hash160  # RIPEMD-160 of SHA-256, with a pure-Python fallback

SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE, SIGHASH_ANYONECANPAY = 1, 2, 3, 0x80
OP_TRUE = b"\x51"


class ScriptFailure(Exception):
    """An input's witness does not satisfy the output it spends."""


def check_input(tx: Tx, index: int, prevout: TxOut) -> None:
    """Raise ScriptFailure if input `index` of `tx` cannot spend `prevout` (where checked)."""
    script = prevout.script_pubkey
    txin = tx.inputs[index]
    if len(script) == 22 and script[:2] == b"\x00\x14":
        _check_p2wpkh(tx, index, prevout.value, script[2:])
    elif len(script) == 34 and script[:2] == b"\x00\x20":
        if txin.script_sig:
            raise ScriptFailure("Witness requires empty scriptSig")
        if not txin.witness:
            raise ScriptFailure("Witness program was passed an empty witness")
        witness_script = txin.witness[-1]
        if hashlib.sha256(witness_script).digest() != script[2:]:
            raise ScriptFailure("Witness program hash mismatch")
        if witness_script == OP_TRUE and len(txin.witness) != 1:
            raise ScriptFailure("Stack size must be exactly one after execution")


def _check_p2wpkh(tx: Tx, index: int, amount: int, program: bytes) -> None:
    txin = tx.inputs[index]
    if txin.script_sig:
        raise ScriptFailure("Witness requires empty scriptSig")
    if len(txin.witness) != 2:
        raise ScriptFailure("Witness program hash mismatch")
    signature, pubkey = txin.witness
    if len(pubkey) != 33 or pubkey[0] not in (2, 3):
        raise ScriptFailure("Using non-compressed keys in segwit")
    if hash160(pubkey) != program:
        raise ScriptFailure("Witness program hash mismatch")
    if not signature:
        raise ScriptFailure("Signature must be zero for failed CHECK(MULTI)SIG operation")
    der, hash_type = signature[:-1], signature[-1]
    if hash_type & ~SIGHASH_ANYONECANPAY not in (SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE):
        raise ScriptFailure("Signature hash type missing or not understood")
    script_code = b"\x76\xa9\x14" + program + b"\x88\xac"
    digest = bip143_digest(tx, index, script_code, amount, hash_type)
    try:
        valid = coincurve.PublicKey(pubkey).verify(der, digest, hasher=None)
    except ValueError:  # not strict DER, or not a point on the curve
        valid = False
    if not valid:
        raise ScriptFailure("Signature must be zero for failed CHECK(MULTI)SIG operation")


def bip143_digest(tx: Tx, index: int, script_code: bytes, amount: int, hash_type: int) -> bytes:
    """The segwit v0 signature hash (BIP143) of input `index`."""
    anyone_can_pay = bool(hash_type & SIGHASH_ANYONECANPAY)
    base = hash_type & 0x1F
    zero = bytes(32)
    hash_prevouts = hash_sequence = hash_outputs = zero
    if not anyone_can_pay:
        hash_prevouts = sha256d(b"".join(_outpoint(tx, i) for i in range(len(tx.inputs))))
        if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
            hash_sequence = sha256d(
                b"".join(struct.pack("<I", txin.sequence) for txin in tx.inputs)
            )
    if base not in (SIGHASH_SINGLE, SIGHASH_NONE):
        hash_outputs = sha256d(b"".join(_output(out) for out in tx.outputs))
    elif base == SIGHASH_SINGLE and index < len(tx.outputs):
        hash_outputs = sha256d(_output(tx.outputs[index]))
    txin = tx.inputs[index]
    preimage = (
        struct.pack("<i", tx.version)
        + hash_prevouts
        + hash_sequence
        + _outpoint(tx, index)
        + encode_bytes(script_code)
        + struct.pack("<q", amount)
        + struct.pack("<I", txin.sequence)
        + hash_outputs
        + struct.pack("<I", tx.locktime)
        + struct.pack("<I", hash_type)
    )
    return sha256d(preimage)


def _outpoint(tx: Tx, index: int) -> bytes:
    txin = tx.inputs[index]
    return bytes.fromhex(txin.prev_txid)[::-1] + struct.pack("<I", txin.prev_vout)


def _output(out: TxOut) -> bytes:
    return struct.pack("<q", out.value) + encode_bytes(out.script_pubkey)
