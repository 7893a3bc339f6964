"""Backup wire protocol v2: its constants, limits and error codes (docs/PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

# --- Constants ----------------------------------------------------------------------------

PROTOCOL_VERSION: Final = 2
PROTOCOL_PREFIX: Final = "/v2"
LEGACY_PREFIXES: Final = ("/v1",)  # answered 410 upgrade_required
SIGNATURE_DOMAIN: Final = b"cairn-backup/v2"
AUTH_SCHEME: Final = "Cairn-Sig"
MAX_SKEW: Final = 300  # seconds between the client's ts and the server's clock
NONCE_BYTES: Final = 16
GENERATION_HEADER: Final = "X-Cairn-Generation"
INCARNATION_HEADER: Final = "X-Cairn-Incarnation"
WRITE_ID_BYTES: Final = 16
INCARNATION_BYTES: Final = 16
FEED_LIMIT_DEFAULT: Final = 1000
FEED_LIMIT_MAX: Final = 1000
MAX_JSON_DEPTH: Final = 4  # the deepest body of the protocol: batch → list → item → value
NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"

# Default server limits (configurable on the server; clients should respect them).
MAX_OBJECT_BYTES: Final = 4 * 1024 * 1024  # one decoded value
MAX_BATCH_ITEMS: Final = 1000  # puts + deletes in one batch
MAX_BATCH_BYTES: Final = 16 * 1024 * 1024  # decoded values of one batch
STORE_QUOTA_BYTES: Final = 512 * 1024 * 1024
LIST_LIMIT_DEFAULT: Final = 1000
LIST_LIMIT_MAX: Final = 1000

STORE_IDS: Final = frozenset({"bitcoin", "testnet", "signet", "regtest"})

# Error codes of `{"error": code, "detail": text}` bodies, with their HTTP status.
ERROR_STATUS: Final[Mapping[str, int]] = {
    "bad_request": 400,
    "unauthorized": 401,
    "stale_timestamp": 401,
    "replayed": 401,
    "bad_signature": 401,
    "forbidden": 403,
    "not_allowlisted": 403,
    "invite_required": 403,
    "invite_invalid": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "quota_exceeded": 413,
    "method_not_allowed": 405,
    "gone": 410,
    "resync_required": 410,
    "upgrade_required": 410,
    "rate_limited": 429,
    "too_many_stores": 429,
    "internal": 500,
    "unavailable": 503,
}
AuthCode = Literal["unauthorized", "stale_timestamp", "replayed", "bad_signature"]


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}
