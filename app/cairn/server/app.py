"""The ASGI application: routes, error shapes, metrics, and the backend's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.server import errors, limits
from cairn.server.backend import Backend
from cairn.server.config import Settings, from_env, sqlite_path
from cairn.server.dbhealth import DatabaseHealth
from cairn.server.fastput import FastPut, put_route
from cairn.server.observability import Metrics, RequestObserver
from cairn.server.registration import StoreAdmission
from cairn.server.routes import Service, router
from cairn.server.schemas import BatchModel

log = logging.getLogger("cairn.server")
PURGE_INTERVAL = 60.0
API_VERSION = "2"


def make_backend(settings: Settings) -> Backend:
    if settings.is_postgres:
        from cairn.server.postgres_backend import PostgresBackend

        return PostgresBackend(settings.db, pool_size=settings.pg_pool_size)
    from cairn.server.sqlite_backend import SqliteBackend

    return SqliteBackend(sqlite_path(settings.db))


async def _purge_forever(backend: Backend, health: DatabaseHealth) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            await backend.purge_expired(int(time.time()))
        except Exception as exc:  # a failed purge is retried next round; never fatal
            health.report(exc)
            log.warning("purge failed", extra={"fields": {"exception": type(exc).__name__}})


class BackupdApp(FastAPI):
    """The framework's app behind the server's own front (`front`).

    The front, for every request: the observer (one log line and metric sample each), the
    address limits, then PUT {S}/objects straight to its handler (fastput.py) and everything
    else to the framework. Outside the framework, the hot path skips its error middlewares.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings, backend: Backend | None = None, *, freeze_startup_objects: bool = False
) -> BackupdApp:
    """The cairn-backupd app; the backend is opened on startup and closed on shutdown.

    `freeze_startup_objects` (for the server process, not for tests sharing a process) moves
    everything alive after start-up out of the garbage collector's sight: a full collection
    would otherwise walk the framework's tens of thousands of objects, a pause every request in
    flight waits for.
    """
    chosen = backend if backend is not None else make_backend(settings)
    metrics = Metrics()
    health = DatabaseHealth(chosen.ping, metrics.database_errors)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await chosen.open()
        except Exception as exc:
            health.report(exc)  # "database unavailable" when it cannot be reached at start
            raise
        if freeze_startup_objects:
            gc.collect()
            gc.freeze()
        purger = asyncio.create_task(_purge_forever(chosen, health))
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await health.close()
            await chosen.close()

    app = BackupdApp(
        title="cairn-backupd",
        version=API_VERSION,
        description="Encrypted backup storage for Cairn wallets (protocol v2, docs/PROTOCOL.md).",
        lifespan=lifespan,
        # A trailing slash is another path (404), never a redirect built from the Host header.
        redirect_slashes=False,
        **_without_framework_telemetry(),
    )
    service = Service(
        backend=chosen,
        limits=settings.limits,
        metrics=metrics,
        health=health,
        admission=StoreAdmission.from_settings(settings, chosen),
    )
    app.state.service = service
    app.state.db_health = health
    app.include_router(router)
    errors.install(app)
    # Inside the observer, so the hot path is logged and measured like every other request;
    # inside the address middlewares, so forwarded addresses and the limit apply to it too.
    hot_path = FastPut(app.framework, service=service, route=put_route(router.routes))
    app.front = RequestObserver(limits.in_front(hot_path, settings), metrics=metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _without_framework_telemetry() -> dict[str, Any]:
    """Turn off FastAPI's own OpenTelemetry spans and logs (in FastAPI versions that have them).

    They would record concrete paths (node ids, object keys) and exception messages, which must
    never leave the server; its metrics and logs are the ones in observability.py.
    """
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    return {"telemetry": {**off, "auto_configure": False}}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        # Parameter errors are answered 400 bad_request (errors.py), never FastAPI's 422.
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        component_schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            component_schemas.pop(unused, None)
        # The batch body is parsed by the protocol module, so FastAPI does not see its model.
        batch = BatchModel.model_json_schema(ref_template="#/components/schemas/{model}")
        component_schemas.update(batch.pop("$defs", {}))
        component_schemas["BatchModel"] = batch
        schema.setdefault("components", {})["securitySchemes"] = {
            "CairnSig": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Cairn-Sig node=…,ts=…,nonce=…,sig=… (docs/PROTOCOL.md)",
            }
        }
        app.openapi_schema = schema
    return app.openapi_schema


def app_from_env() -> FastAPI:
    """ASGI factory for `uvicorn --factory cairn.server.app:app_from_env` (CAIRN_BACKUPD_* env)."""
    return create_app(from_env())
