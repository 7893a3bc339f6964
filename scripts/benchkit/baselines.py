"""Ceilings measured in the same run as the figures compared with them.

Absolute times on a shared machine drift by several times with load; a ratio to a ceiling
measured a moment earlier on the same cores and the same disk does not.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV


def verify_cpu_seconds(rounds: int = 3, count: int = 2000) -> float:
    """CPU time of one coincurve ECDSA verification of a 32-byte digest (median of rounds).

    The public key is parsed each time, as the server parses the node id of every request."""
    key = PrivateKey()
    public = key.public_key.format(compressed=True)
    digest = hashlib.sha256(b"a request").digest()
    signature = key.sign(digest, hasher=None)
    samples = []
    for _ in range(rounds):
        started = time.thread_time()
        for _ in range(count):
            PublicKey(public).verify(signature, digest, hasher=None)
        samples.append((time.thread_time() - started) / count)
    return statistics.median(samples)


def durable_commit_rate(directory: Path, seconds: float = 2.0, value_bytes: int = 1024) -> float:
    """Single-row durable SQLite commits per second on the disk holding `directory`.

    WAL with synchronous=FULL, as the server runs it: each commit is on disk when it returns."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        value = os.urandom(value_bytes)
        commits = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
            conn.execute("COMMIT")
            commits += 1
        elapsed = time.perf_counter() - started
        conn.close()
    return commits / elapsed


def decrypt_rate(sealed_sizes: list[int], rounds: int = 3) -> float:
    """Bytes per CPU-second one core decrypts with AES-256-GCM-SIV, objects of these sizes.

    Each object is opened on its own (nonce, associated data), as a restore opens them."""
    cipher = AESGCMSIV(AESGCMSIV.generate_key(256))
    nonce, aad = os.urandom(12), b"cairn object name"
    sealed = [cipher.encrypt(nonce, os.urandom(max(0, size - 16)), aad) for size in sealed_sizes]
    total = sum(len(s) for s in sealed)
    samples = []
    for _ in range(rounds):
        started = time.thread_time()
        for blob in sealed:
            cipher.decrypt(nonce, blob, aad)
        samples.append(time.thread_time() - started)
    return total / statistics.median(samples)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"
