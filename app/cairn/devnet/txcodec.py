"""Bitcoin transaction (de)serialization: bytes in, a `Tx` out, and back.

The devnet parses broadcast transactions itself instead of going through bdkpython's
`Transaction`: it also has to *build* transactions (coinbases, faucet payments) and blocks, so it
needs the serializer anyway; the pure codec reports malformed input as one typed error (a Rust
panic across the FFI would take the server down) and exposes the raw scriptSig, witness, size and
weight that Esplora's JSON carries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

NULL_TXID = "00" * 32
COINBASE_VOUT = 0xFFFFFFFF


class DecodeError(ValueError):
    """The bytes are not a valid serialized transaction."""


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash_to_hex(digest: bytes) -> str:
    """Bitcoin shows txids and block hashes byte-reversed."""
    return digest[::-1].hex()


@dataclass(frozen=True)
class TxIn:
    prev_txid: str  # display (reversed) hex
    prev_vout: int
    script_sig: bytes = b""
    sequence: int = 0xFFFFFFFF
    witness: tuple[bytes, ...] = ()

    @property
    def is_coinbase(self) -> bool:
        return self.prev_txid == NULL_TXID and self.prev_vout == COINBASE_VOUT


@dataclass(frozen=True)
class TxOut:
    value: int
    script_pubkey: bytes


@dataclass(frozen=True)
class Tx:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int = 0
    _cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase

    def serialize(self, *, witness: bool = True) -> bytes:
        with_witness = witness and self.has_witness
        out = bytearray(self.version.to_bytes(4, "little", signed=True))
        if with_witness:
            out += b"\x00\x01"
        out += encode_varint(len(self.inputs))
        for txin in self.inputs:
            out += bytes.fromhex(txin.prev_txid)[::-1]
            out += txin.prev_vout.to_bytes(4, "little")
            out += encode_bytes(txin.script_sig)
            out += txin.sequence.to_bytes(4, "little")
        out += encode_varint(len(self.outputs))
        for txout in self.outputs:
            out += txout.value.to_bytes(8, "little")
            out += encode_bytes(txout.script_pubkey)
        if with_witness:
            for txin in self.inputs:
                out += encode_varint(len(txin.witness))
                for item in txin.witness:
                    out += encode_bytes(item)
        out += self.locktime.to_bytes(4, "little")
        return bytes(out)

    @property
    def txid(self) -> str:
        if "txid" not in self._cache:
            self._cache["txid"] = hash_to_hex(sha256d(self.serialize(witness=False)))
        return str(self._cache["txid"])

    @property
    def wtxid(self) -> str:
        return hash_to_hex(sha256d(self.serialize()))

    @property
    def size(self) -> int:
        return len(self.serialize())

    @property
    def weight(self) -> int:
        return len(self.serialize(witness=False)) * 3 + self.size

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4


def encode_varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def encode_bytes(data: bytes) -> bytes:
    return encode_varint(len(data)) + data


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError("unexpected end of data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def varint(self) -> int:
        first = self.uint(1)
        if first < 0xFD:
            return first
        width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        return self.uint(width)

    def count(self) -> int:
        """A length prefix, bounded by the bytes left so a hostile count cannot allocate much."""
        n = self.varint()
        if n > len(self.data) - self.pos:
            raise DecodeError("length prefix exceeds the data")
        return n

    def var_bytes(self) -> bytes:
        return self.take(self.count())


def parse_tx(data: bytes) -> Tx:
    """Parse one serialized transaction (with or without witness); the whole input must be used."""
    reader = Reader(data)
    tx = read_tx(reader)
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after the transaction")
    return tx


def read_tx(reader: Reader) -> Tx:
    """Read one transaction at the reader's position."""
    version = int.from_bytes(reader.take(4), "little", signed=True)
    segwit = False
    if reader.data[reader.pos : reader.pos + 1] == b"\x00":
        marker_flag = reader.take(2)
        if marker_flag != b"\x00\x01":
            raise DecodeError("bad segwit marker")
        segwit = True
    raw_inputs = []
    for _ in range(reader.count()):
        prev_txid = hash_to_hex(reader.take(32))
        prev_vout = reader.uint(4)
        script_sig = reader.var_bytes()
        sequence = reader.uint(4)
        raw_inputs.append((prev_txid, prev_vout, script_sig, sequence))
    outputs = []
    for _ in range(reader.count()):
        value = reader.uint(8)
        outputs.append(TxOut(value, reader.var_bytes()))
    witnesses: list[tuple[bytes, ...]] = [() for _ in raw_inputs]
    if segwit:
        for i in range(len(raw_inputs)):
            witnesses[i] = tuple(reader.var_bytes() for _ in range(reader.count()))
        if not any(witnesses):
            raise DecodeError("segwit flag set but every witness is empty")
    locktime = reader.uint(4)
    inputs = tuple(
        TxIn(txid, vout, script, seq, witnesses[i])
        for i, (txid, vout, script, seq) in enumerate(raw_inputs)
    )
    return Tx(version, inputs, tuple(outputs), locktime)


def parse_tx_hex(text: str) -> Tx:
    try:
        data = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise DecodeError("not hex") from exc
    return parse_tx(data)
