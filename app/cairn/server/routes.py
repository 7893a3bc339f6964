"""The protocol v2 endpoints (docs/PROTOCOL.md); every store route is signed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope

from cairn.server.auth import authenticate, check_head, claim_for, claim_refusal
from cairn.server.backend import (
    Backend,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Replayed,
    ResyncRequired,
    StoreRef,
)
from cairn.server.config import Limits
from cairn.server.dbhealth import DatabaseHealth
from cairn.server.errors import ApiError, json_response
from cairn.server.export_response import ExportResponse
from cairn.server.observability import Metrics
from cairn.server.registration import StoreAdmission
from cairn.server.requests import (
    check_query,
    header,
    parse_and_check_batch,
    read_body,
    read_start,
)
from cairn.server.schemas import (
    KEY_PATTERN,
    MAX_VERSION,
    NODE_PATTERN,
    BatchResultModel,
    ConflictModel,
    DeletedModel,
    FeedPageModel,
    HealthModel,
    ListPageModel,
    ObjectModel,
    ResyncModel,
    StoreInfoModel,
    errors,
)
from cairn.wire.constants import (
    FEED_LIMIT_MAX,
    GENERATION_HEADER,
    INCARNATION_HEADER,
    NDJSON_MEDIA_TYPE,
)
from cairn.wire.export import (
    FRAMES_MEDIA_TYPE,
    accepts_frames,
)
from cairn.wire.messages import (
    BatchResult,
    ListItem,
    encode_batch_result,
    encode_conflict,
    encode_feed_page,
    encode_list_page,
    encode_object,
    encode_store_info,
)
from cairn.wire.signing import Credentials

# Bodies of requests other than a batch PUT are empty; anything beyond this is refused unread.
SMALL_BODY = 64 * 1024
# Batch bodies above LARGE_BODY are handled at most LARGE_BODY_SLOTS at a time.
LARGE_BODY = 1024 * 1024
LARGE_BODY_SLOTS = 4
STORE_PREFIX = "/v2/stores/{node_id}/{store_id}"

NodeId = Annotated[str, Path(pattern=NODE_PATTERN, description="the signing node's public key")]
StoreId = Annotated[
    Literal["bitcoin", "testnet", "signet", "regtest"], Path(description="the network name")
]
ObjectKey = Annotated[str, Path(pattern=KEY_PATTERN, description="HMAC of the record name")]
SIGNED: dict[str, Any] = {"security": [{"CairnSig": []}]}


@dataclass
class Service:
    """What the handlers share: one per app."""

    backend: Backend
    limits: Limits
    metrics: Metrics
    health: DatabaseHealth
    admission: StoreAdmission
    large_batches: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(LARGE_BODY_SLOTS)
    )


router = APIRouter()


def service_of(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


async def signed(
    request: Request, service: Service, node_id: str, body_limit: int = SMALL_BODY
) -> tuple[Credentials, bytes]:
    """Read the body (at most `body_limit` bytes) and authenticate; the caller records the claim."""
    body = await read_body(request.scope, request.receive, body_limit)
    return authenticate(request.scope, body, node_id, service.limits), body


async def signed_and_claimed(request: Request, service: Service, node_id: str) -> Credentials:
    """Authenticate a bodiless request and record its nonce and rate-limit hit."""
    credentials, _ = await signed(request, service, node_id)
    try:
        await service.backend.claim(claim_for(credentials, service.limits))
    except (Replayed, RateLimited) as exc:
        raise claim_refusal(exc) from None
    return credentials


@router.get("/healthz", response_model=HealthModel, responses=errors(400, 503))
async def healthz(request: Request) -> Response:
    check_query(request)
    health = service_of(request).health
    try:
        await service_of(request).backend.ping()
    except Exception as exc:
        health.report(exc)
        raise ApiError(503, "unavailable", "the database does not answer") from None
    health.answered()
    return json_response({"status": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **errors(400)},
)
async def metrics(request: Request) -> Response:
    check_query(request)
    service = service_of(request)
    await service.metrics.scrape.refresh(service.backend, service.health)
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.put(
    STORE_PREFIX + "/objects",
    response_model=BatchResultModel,
    responses={409: {"model": ConflictModel}, **errors(400, 401, 403, 413, 429)},
    openapi_extra={
        **SIGNED,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BatchModel"}}
            },
        },
    },
)
async def put_objects(request: Request, node_id: NodeId, store_id: StoreId) -> Response:
    check_query(request)
    return await put_batch(request.scope, request.receive, service_of(request), node_id, store_id)


async def put_batch(
    scope: Scope, receive: Receive, service: Service, node_id: str, store_id: str
) -> Response:
    """PUT {S}/objects once its path and query are known to be well formed (also fastput.py)."""
    store = StoreRef(node_id, store_id)
    limit = service.limits.max_body_bytes
    declared = header(scope, b"content-length")
    if declared.isdigit():
        if int(declared) > limit:
            raise ApiError(413, "too_large", f"the request body exceeds {limit} bytes")
        # Refused from its head alone, a request never waits for its body, nor holds a slot
        # below while it comes: only the signature needs the body (it covers its hash).
        check_head(scope, node_id, service.limits)
        if int(declared) <= LARGE_BODY:
            return await apply_batch(scope, await read_body(scope, receive, limit), service, store)
        async with large_body_slot(service):
            return await apply_batch(scope, await read_body(scope, receive, limit), service, store)
    # A chunked body shows its size only as it comes: its first LARGE_BODY bytes are read as
    # any small body is; a larger one is read on, and applied, in a slot like a declared one.
    start, complete = await read_start(receive, min(LARGE_BODY, limit))
    if len(start) > limit:
        raise ApiError(413, "too_large", f"the request body exceeds {limit} bytes")
    if complete:
        return await apply_batch(scope, start, service, store)
    check_head(scope, node_id, service.limits)
    async with large_body_slot(service):
        body = await read_body(scope, receive, limit, start)
        return await apply_batch(scope, body, service, store)


@contextlib.asynccontextmanager
async def large_body_slot(service: Service) -> AsyncIterator[None]:
    """One of the LARGE_BODY_SLOTS: a maximal batch takes several times its size in memory
    while it is read, parsed and applied, and a few at a time keep a burst of full backups
    from exhausting memory."""
    metrics = service.metrics
    metrics.large_batches_waiting.inc()
    try:
        await service.large_batches.acquire()
    finally:
        metrics.large_batches_waiting.dec()
    metrics.large_batches_in_slot.inc()
    try:
        yield
    finally:
        metrics.large_batches_in_slot.dec()
        service.large_batches.release()


async def apply_batch(scope: Scope, body: bytes, service: Service, store: StoreRef) -> Response:
    credentials = authenticate(scope, body, store.node_id, service.limits)
    batch = parse_and_check_batch(body, service.limits)
    admitted = None
    if batch.generation == 0:  # only a first batch can create a store (registration.py)
        admitted = await service.admission.admit(scope, store, batch)
    try:
        applied = await service.backend.apply_batch(
            store,
            batch,
            quota=service.limits.store_quota_bytes,
            claim=claim_for(credentials, service.limits),
        )
    except (Replayed, RateLimited) as exc:
        service.metrics.batch_outcome(type(exc).__name__.lower()).inc()
        raise claim_refusal(exc) from None
    except Conflict as exc:
        service.metrics.batch_outcome("conflict").inc()
        return raw_json(encode_conflict(exc.info, f"{exc.detail}; nothing was applied"), 409)
    except QuotaExceeded as exc:
        service.metrics.batch_outcome("quota_exceeded").inc()
        raise ApiError(413, "quota_exceeded", str(exc)) from None
    service.metrics.batch_outcome("applied").inc()
    if admitted is not None:
        admitted.created()
    service.metrics.objects_written.inc(len(batch.keys))
    service.metrics.bytes_written.inc(batch.value_bytes)
    return raw_json(encode_batch_result(BatchResult(applied.generation, applied.versions)))


class RawJson(Response):
    """An answer whose body a protocol encoder produced.

    The same headers Response(body, media_type="application/json") sends, set directly:
    nothing here needs rendering, a charset or a header mapping to encode.
    """

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


def raw_json(body: bytes, status: int = 200) -> Response:
    return RawJson(body, status)


@router.get(
    STORE_PREFIX + "/objects/{key}",
    response_model=ObjectModel,
    responses=errors(400, 401, 403, 404, 429),
    openapi_extra=SIGNED,
)
async def get_object(
    request: Request, node_id: NodeId, store_id: StoreId, key: ObjectKey
) -> Response:
    check_query(request)
    service = service_of(request)
    await signed_and_claimed(request, service, node_id)
    found = await service.backend.get_object(StoreRef(node_id, store_id), key)
    if found is None:
        raise ApiError(404, "not_found", "no such object")
    return raw_json(encode_object(found))


@router.get(
    STORE_PREFIX + "/objects",
    response_model=ListPageModel,
    responses=errors(400, 401, 403, 429),
    openapi_extra=SIGNED,
)
async def list_objects(
    request: Request,
    node_id: NodeId,
    store_id: StoreId,
    after: Annotated[str, Query(pattern=KEY_PATTERN, description="list keys after this one")] = "",
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 1000,
) -> Response:
    check_query(request, frozenset({"after", "limit"}))
    service = service_of(request)
    await signed_and_claimed(request, service, node_id)
    # One extra row tells whether another page exists, so `next` is null on the last page.
    rows = await service.backend.list_objects(StoreRef(node_id, store_id), after, limit + 1)
    page = [ListItem(r.key, r.version, r.size) for r in rows[:limit]]
    return raw_json(encode_list_page(page, page[-1].key if len(rows) > limit else None))


@router.get(
    STORE_PREFIX + "/changes",
    response_model=FeedPageModel,
    responses={410: {"model": ResyncModel}, **errors(400, 401, 403, 404, 429)},
    openapi_extra=SIGNED,
)
async def changes(
    request: Request,
    node_id: NodeId,
    store_id: StoreId,
    since: Annotated[int, Query(ge=0, le=MAX_VERSION, description="the generation seen")],
    limit: Annotated[
        int, Query(ge=1, le=FEED_LIMIT_MAX, description="items per page (whole generations)")
    ] = FEED_LIMIT_MAX,
) -> Response:
    check_query(request, frozenset({"since", "limit"}))
    service = service_of(request)
    await signed_and_claimed(request, service, node_id)
    try:
        page = await service.backend.changes(StoreRef(node_id, store_id), since, limit)
    except ResyncRequired as exc:
        raise ApiError(
            410,
            "resync_required",
            "changes this old were compacted: list the store again from the export",
            extra={
                "generation": exc.state.generation,
                "incarnation": exc.state.incarnation,
                "erased": exc.state.erased,
                "compacted": exc.compacted,
            },
        ) from None
    if page is None:
        raise ApiError(404, "not_found", "no such store")
    return raw_json(encode_feed_page(page))


@router.get(
    STORE_PREFIX + "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON_MEDIA_TYPE: {}, FRAMES_MEDIA_TYPE: {}},
            "description": "one object per line, or per frame when Accept asks for frames",
        },
        **errors(400, 401, 403, 404, 429),
    },
    openapi_extra=SIGNED,
)
async def export_store(request: Request, node_id: NodeId, store_id: StoreId) -> Response:
    check_query(request)
    service = service_of(request)
    await signed_and_claimed(request, service, node_id)
    export = await service.backend.open_export(StoreRef(node_id, store_id))
    if export is None:
        raise ApiError(404, "not_found", "no such store")
    return ExportResponse(
        export,
        # Several Accept lines are one list (RFC 9110 section 5.3).
        frames=accepts_frames(", ".join(request.headers.getlist("accept"))),
        headers={
            GENERATION_HEADER: str(export.generation),
            INCARNATION_HEADER: export.incarnation or "",
            # The encoding depends on Accept: a cache in between must not mix them up.
            "Vary": "Accept",
        },
    )


@router.get(
    STORE_PREFIX,
    response_model=StoreInfoModel,
    responses=errors(400, 401, 403, 404, 429),
    openapi_extra=SIGNED,
)
async def store_info(request: Request, node_id: NodeId, store_id: StoreId) -> Response:
    check_query(request)
    service = service_of(request)
    await signed_and_claimed(request, service, node_id)
    info = await service.backend.store_info(StoreRef(node_id, store_id))
    if info is None:
        raise ApiError(404, "not_found", "no such store")
    return raw_json(encode_store_info(node_id, store_id, info))


@router.delete(
    STORE_PREFIX,
    response_model=DeletedModel,
    responses=errors(400, 401, 403, 404, 429),
    openapi_extra=SIGNED,
)
async def delete_store(request: Request, node_id: NodeId, store_id: StoreId) -> Response:
    check_query(request)
    service = service_of(request)
    await signed_and_claimed(request, service, node_id)
    if not await service.backend.delete_store(StoreRef(node_id, store_id)):
        raise ApiError(404, "not_found", "no such store")
    return json_response({"deleted": True})


V1_METHODS = ["GET", "PUT", "DELETE", "POST", "HEAD", "OPTIONS", "PATCH"]


@router.api_route("/v1", methods=V1_METHODS, include_in_schema=False)
@router.api_route("/v1/{rest:path}", methods=V1_METHODS, include_in_schema=False)
async def protocol_v1(rest: str = "") -> Response:
    """Protocol v1 clients are told to update rather than left guessing."""
    raise ApiError(
        410,
        "upgrade_required",
        "this backup server speaks protocol v2; update Cairn to keep backing up",
    )
