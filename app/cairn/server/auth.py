"""Request authentication: signature, freshness, store ownership, and the nonce/rate claim."""

from __future__ import annotations

import time

from starlette.types import Scope

from cairn.server.backend import Claim, RateLimited, Replayed
from cairn.server.config import Limits
from cairn.server.errors import ApiError
from cairn.server.ratelimit import window_start
from cairn.server.requests import target_as_sent
from cairn.wire.signing import AuthError, Credentials, parse_authorization, verify_request

# A nonce is kept this long past its timestamp; after that the freshness check refuses it anyway.
NONCE_GRACE = 5


def _refused(exc: AuthError) -> ApiError:
    return ApiError(401, exc.code, exc.detail, headers={"WWW-Authenticate": "Cairn-Sig"})


def authorization(scope: Scope) -> str | None:
    """The one Authorization value, trimmed of the OWS around it (RFC 9110 section 5.5), or
    None; inside it, the rules of PROTOCOL.md section 6 apply unchanged."""
    headers = [value for name, value in scope["headers"] if name == b"authorization"]
    if len(headers) > 1:
        # Which one a proxy or framework would pick differs; none is taken.
        raise _refused(AuthError("unauthorized", "exactly one Authorization header is allowed"))
    return headers[0].decode("latin-1").strip(" \t") if headers else None


def check_head(scope: Scope, node_id: str, limits: Limits) -> Credentials:
    """What can be checked before the body: one well-formed header by a valid point, a fresh
    `ts`, and the owner of the path's store. The signature covers the body, so it waits."""
    try:
        credentials = parse_authorization(authorization(scope))
    except AuthError as exc:
        raise _refused(exc) from None
    if abs(int(time.time()) - credentials.ts) > limits.max_skew:
        raise _refused(
            AuthError(
                "stale_timestamp", f"ts is more than {limits.max_skew} s from the server clock"
            )
        )
    if credentials.node_id != node_id:
        raise ApiError(403, "forbidden", "a node may only use its own stores")
    return credentials


def authenticate(scope: Scope, body: bytes, node_id: str, limits: Limits) -> Credentials:
    """The credentials of a signed, fresh request by the owner of `node_id`'s stores."""
    try:
        credentials = verify_request(
            authorization(scope),
            str(scope["method"]),
            target_as_sent(scope),
            body,
            now=int(time.time()),
            max_skew=limits.max_skew,
        )
    except AuthError as exc:
        raise _refused(exc) from None
    if credentials.node_id != node_id:
        raise ApiError(403, "forbidden", "a node may only use its own stores")
    return credentials


def claim_for(credentials: Credentials, limits: Limits, now: int | None = None) -> Claim:
    now = int(time.time()) if now is None else now
    return Claim(
        node_id=credentials.node_id,
        nonce=credentials.nonce,
        nonce_expires=credentials.ts + limits.max_skew + NONCE_GRACE,
        window_start=window_start(now, limits.rate_window),
        window_seconds=limits.rate_window,
        rate_limit=limits.rate_limit,
    )


def claim_refusal(exc: Replayed | RateLimited) -> ApiError:
    if isinstance(exc, Replayed):
        return _refused(AuthError("replayed", "this request was seen before; sign it again"))
    return ApiError(
        429,
        "rate_limited",
        f"too many requests from this node; retry in {exc.retry_after} s",
        headers={"Retry-After": str(exc.retry_after)},
    )
