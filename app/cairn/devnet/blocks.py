"""Block headers, merkle roots and coinbases of the simulated regtest chain."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cairn.devnet.txcodec import (
    COINBASE_VOUT,
    NULL_TXID,
    DecodeError,
    Reader,
    Tx,
    TxIn,
    TxOut,
    encode_bytes,
    encode_varint,
    hash_to_hex,
    parse_tx,
    read_tx,
    sha256d,
)

REGTEST_BITS = 0x207FFFFF
BLOCK_VERSION = 0x20000000
HALVING_INTERVAL = 150  # regtest
COIN = 100_000_000

# Bitcoin Core's regtest genesis block: BDK wallets start their local chain at this hash, so the
# devnet's height 0 must be exactly it.
REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
_GENESIS_COINBASE_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff"
    "001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e"
    "6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104"
    "678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51e"
    "c112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
_GENESIS_TIME = 1296688602
_GENESIS_NONCE = 2

# Segwit coinbase commitment: OP_RETURN PUSH36 aa21a9ed <32-byte commitment>.
_WITNESS_COMMITMENT_PREFIX = bytes.fromhex("6a24aa21a9ed")
_WITNESS_RESERVED_VALUE = bytes(32)


@dataclass(frozen=True)
class Header:
    version: int
    prev_hash: str  # display hex
    merkle_root: str  # display hex
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            self.version.to_bytes(4, "little", signed=True)
            + bytes.fromhex(self.prev_hash)[::-1]
            + bytes.fromhex(self.merkle_root)[::-1]
            + self.time.to_bytes(4, "little")
            + self.bits.to_bytes(4, "little")
            + self.nonce.to_bytes(4, "little")
        )

    @functools.cached_property
    def hash(self) -> str:
        return hash_to_hex(sha256d(self.serialize()))

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) != 80:
            raise ValueError("a block header is 80 bytes")
        return cls(
            version=int.from_bytes(data[0:4], "little", signed=True),
            prev_hash=data[4:36][::-1].hex(),
            merkle_root=data[36:68][::-1].hex(),
            time=int.from_bytes(data[68:72], "little"),
            bits=int.from_bytes(data[72:76], "little"),
            nonce=int.from_bytes(data[76:80], "little"),
        )


@dataclass(frozen=True)
class Block:
    header: Header
    txs: tuple[Tx, ...]

    @property
    def hash(self) -> str:
        return self.header.hash

    def serialize(self) -> bytes:
        body = b"".join(tx.serialize() for tx in self.txs)
        return self.header.serialize() + encode_varint(len(self.txs)) + body


def parse_block(data: bytes) -> Block:
    reader = Reader(data)
    header = Header.parse(reader.take(80))
    txs = tuple(read_tx(reader) for _ in range(reader.count()))
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after the block")
    return Block(header, txs)


def merkle_root(txids: list[str]) -> str:
    """Bitcoin's merkle root over display-hex txids (odd levels duplicate their last node)."""
    level = [bytes.fromhex(txid)[::-1] for txid in txids]
    if not level:
        return NULL_TXID
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return hash_to_hex(level[0])


def merkle_branch(txids: list[str], index: int) -> list[str]:
    """The sibling hashes proving txids[index] (Esplora's `merkle` list, display hex)."""
    level = [bytes.fromhex(txid)[::-1] for txid in txids]
    branch: list[str] = []
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(hash_to_hex(level[index ^ 1]))
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return branch


def target_from_bits(bits: int) -> int:
    exponent, mantissa = bits >> 24, bits & 0xFFFFFF
    return mantissa << (8 * (exponent - 3))


def solve(header: Header) -> Header:
    """Grind the nonce to meet the regtest target (about two tries): real proof of work."""
    target = target_from_bits(header.bits)
    nonce = header.nonce
    while True:
        candidate = Header(
            header.version, header.prev_hash, header.merkle_root, header.time, header.bits, nonce
        )
        if int(candidate.hash, 16) <= target:
            return candidate
        nonce += 1


def block_subsidy(height: int) -> int:
    halvings = height // HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


def genesis_block() -> Block:
    coinbase = parse_tx(bytes.fromhex(_GENESIS_COINBASE_HEX))
    header = Header(1, NULL_TXID, coinbase.txid, _GENESIS_TIME, REGTEST_BITS, _GENESIS_NONCE)
    return Block(header, (coinbase,))


def bip34_height_push(height: int) -> bytes:
    """The coinbase scriptSig's leading push of the block height (BIP34, minimal encoding)."""
    if height == 0:
        return b"\x00"
    if 1 <= height <= 16:
        return bytes([0x50 + height])
    raw = height.to_bytes((height.bit_length() + 8) // 8, "little")
    return bytes([len(raw)]) + raw


def witness_commitment_script(txs: list[Tx]) -> bytes:
    """Commit to the wtxids, the coinbase's counting as zero (BIP141)."""
    wtxids = [NULL_TXID] + [tx.wtxid for tx in txs]
    root = bytes.fromhex(merkle_root(wtxids))[::-1]
    commitment = sha256d(root + _WITNESS_RESERVED_VALUE)
    return _WITNESS_COMMITMENT_PREFIX + commitment


def build_coinbase(
    height: int, outputs: list[TxOut], txs: list[Tx], *, extra_nonce: bytes = b""
) -> Tx:
    """A coinbase paying `outputs`, with the BIP34 height and, if any tx has a witness, BIP141.

    `extra_nonce` makes a block differ from another one at the same height (a reorg's).
    """
    script_sig = bip34_height_push(height) + b"\x0ccairn-devnet" + encode_bytes(extra_nonce)
    all_outputs = list(outputs)
    witness: tuple[bytes, ...] = ()
    if any(tx.has_witness for tx in txs):
        all_outputs.append(TxOut(0, witness_commitment_script(txs)))
        witness = (_WITNESS_RESERVED_VALUE,)
    txin = TxIn(NULL_TXID, COINBASE_VOUT, script_sig, 0xFFFFFFFF, witness)
    return Tx(2, (txin,), tuple(all_outputs), 0)


def build_block(prev_hash: str, time: int, txs: list[Tx]) -> Block:
    """A solved block over `txs` (coinbase first)."""
    root = merkle_root([tx.txid for tx in txs])
    header = solve(Header(BLOCK_VERSION, prev_hash, root, time, REGTEST_BITS, 0))
    return Block(header, tuple(txs))
