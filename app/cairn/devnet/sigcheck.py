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


def hash160(data: bytes) -> bytes:
    return ripemd160(hashlib.sha256(data).digest())


def ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 from OpenSSL when it offers it (OpenSSL 3 may not), else in pure Python."""
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:
        return _ripemd160_pure(data)


# RIPEMD-160 round constants (Dobbertin, Bosselaers, Preneel 1996).
_RL = [
    *range(16),
    *[7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8],
    *[3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12],
    *[1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2],
    *[4, 0, 5, 9, 7, 12, 2, 10, 14, 1, 3, 8, 11, 6, 15, 13],
]
_RR = [
    *[5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12],
    *[6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2],
    *[15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13],
    *[8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14],
    *[12, 15, 10, 4, 1, 5, 8, 7, 6, 2, 13, 14, 0, 3, 9, 11],
]
_SL = [
    *[11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8],
    *[7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12],
    *[11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5],
    *[11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12],
    *[9, 15, 5, 11, 6, 8, 13, 12, 5, 12, 13, 14, 11, 8, 5, 6],
]
_SR = [
    *[8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6],
    *[9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11],
    *[9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5],
    *[15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8],
    *[8, 5, 12, 9, 12, 5, 14, 6, 8, 13, 6, 5, 15, 13, 11, 11],
]
_KL = [0x00000000, 0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xA953FD4E]
_KR = [0x50A28BE6, 0x5C4DD124, 0x6D703EF3, 0x7A6D76E9, 0x00000000]
_MASK = 0xFFFFFFFF


def _f(j: int, x: int, y: int, z: int) -> int:
    if j < 16:
        return x ^ y ^ z
    if j < 32:
        return (x & y) | (~x & z)
    if j < 48:
        return (x | ~y) ^ z
    if j < 64:
        return (x & z) | (y & ~z)
    return x ^ (y | ~z)


def _rol(x: int, n: int) -> int:
    x &= _MASK
    return ((x << n) | (x >> (32 - n))) & _MASK


def _ripemd160_pure(data: bytes) -> bytes:
    h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    padded = data + b"\x80" + bytes((55 - len(data)) % 64) + struct.pack("<Q", 8 * len(data))
    for offset in range(0, len(padded), 64):
        x = struct.unpack("<16I", padded[offset : offset + 64])
        al, bl, cl, dl, el = h
        ar, br, cr, dr, er = h
        for j in range(80):
            t = _rol(al + _f(j, bl, cl, dl) + x[_RL[j]] + _KL[j // 16], _SL[j]) + el
            al, el, dl, cl, bl = el, dl, _rol(cl, 10), bl, t & _MASK
            t = _rol(ar + _f(79 - j, br, cr, dr) + x[_RR[j]] + _KR[j // 16], _SR[j]) + er
            ar, er, dr, cr, br = er, dr, _rol(cr, 10), br, t & _MASK
        t = (h[1] + cl + dr) & _MASK
        h[1] = (h[2] + dl + er) & _MASK
        h[2] = (h[3] + el + ar) & _MASK
        h[3] = (h[4] + al + br) & _MASK
        h[4] = (h[0] + bl + cr) & _MASK
        h[0] = t
    return struct.pack("<5I", *h)
