"""The hot path: a well-formed `PUT {S}/objects` goes straight to its handler.

A batch PUT is nearly every request a busy server answers. Through the framework, its error
middlewares, matching the route, validating path parameters against their models and building
the request and response objects cost about as much CPU again as the handler itself. So the
app's own front (observer and address limits, app.py) hands the one spelling of a well-formed
PUT path with no query to the same `put_batch` the framework's route calls, and answers its
errors exactly as the framework's handlers would (errors.py); anything else (another route, a
malformed id, a query, an escape) takes the framework's path, which answers it as documented.
"""

from __future__ import annotations

import re

from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.server.errors import (
    ApiError,
    client_gone_response,
    error_response,
    internal_error_response,
    unavailable_errors,
    unavailable_response,
)
from cairn.server.requests import spelled_as_sent
from cairn.server.routes import STORE_PREFIX, Service, put_batch

_PUT_OBJECTS = re.compile(
    r"/v2/stores/(0[23][0-9a-f]{64})/(bitcoin|testnet|signet|regtest)/objects"
)
_UNAVAILABLE = unavailable_errors()


class FastPut:
    """ASGI app in front of the framework, for PUT {S}/objects only; `app` gets the rest."""

    def __init__(self, app: ASGIApp, service: Service, route: BaseRoute) -> None:
        self.app = app
        self.service = service
        self.route = route  # the framework's route, so that logs and metrics name the same one

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "PUT" and not scope["query_string"]:
            match = _PUT_OBJECTS.fullmatch(scope["path"])
        if match is None or b"%" in scope.get("raw_path", b"") or not spelled_as_sent(scope):
            await self.app(scope, receive, send)
            return
        node_id, store_id = match.groups()
        scope["route"] = self.route
        scope["path_params"] = {"node_id": node_id, "store_id": store_id}
        try:
            response = await put_batch(scope, receive, self.service, node_id, store_id)
        except ApiError as exc:
            response = error_response(exc)
        except ClientDisconnect:
            response = client_gone_response()
        except _UNAVAILABLE as exc:
            response = unavailable_response(exc, self.service.health)
        except Exception as exc:
            # As the framework's error middleware does: the 500 answer, then the exception
            # goes on to the server, which logs where it happened.
            self.service.health.report(exc)
            await internal_error_response(exc)(scope, receive, send)
            raise
        await response(scope, receive, send)


def put_route(routes: list[BaseRoute]) -> BaseRoute:
    """The framework's route for PUT {S}/objects."""
    for route in routes:
        if getattr(route, "path", None) == STORE_PREFIX + "/objects" and "PUT" in getattr(
            route, "methods", ()
        ):
            return route
    raise LookupError("no PUT objects route")
