"""Property-based requests from the published OpenAPI document: never a 5xx, never a crash.

Requests are signed as a real client signs them, and most use the signing node's own store, so
the generated data reaches the handlers and the database instead of stopping at 401/403.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)

from cairn.wire.signing import sign_request
from tests.support.backupd import BackupServer
from tests.support.signing import Node

NODE = Node()


def _restore_many_more() -> None:
    """hypothesis-jsonschema 0.23.1 (the newest) draws objects with `many(...).more()`, which
    this Hypothesis replaced by `with many(...) as elements: for _ in elements`; provide
    `more()` on top of the new protocol so schemathesis can generate objects at all."""
    from hypothesis.internal.conjecture import utils as cu

    if hasattr(cu.many, "more"):
        return

    def more(self: Any) -> bool:
        elements = getattr(self, "_compat_iter", None)
        if elements is None:
            self.__enter__()
            elements = self._compat_iter = iter(self)
        try:
            next(elements)
        except StopIteration:
            self.__exit__(None)
            return False
        return True

    cu.many.more = more  # type: ignore[attr-defined]


_restore_many_more()


class CairnSigAuth(requests.auth.AuthBase):
    """Sign the prepared request exactly as it goes on the wire (target and body bytes)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        assert r.method is not None
        r.headers["Authorization"] = sign_request(NODE.secret, r.method, r.path_url, body)
        return r


@pytest.fixture(scope="module")
def backupd_openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.SchemaT]:
    base = tmp_path_factory.mktemp("fuzz")
    server = BackupServer(str(base / "backupd.sqlite"), base / "backupd.log").start()
    # FastAPI publishes OpenAPI 3.1, which schemathesis 3.39 reads behind a feature flag.
    schemathesis.experimental.OPEN_API_3_1.enable()
    try:
        yield schemathesis.from_uri(server.url + "/openapi.json", base_url=server.url)
    finally:
        server.stop()
        assert '"level":"error"' not in server.log_text()


with warnings.catch_warnings():
    # schemathesis 3.39 warns about its own filtration arguments even when none are passed, and
    # its OpenAPI modules use jsonschema's deprecated RefResolver; import them here, once.
    warnings.simplefilter("ignore", DeprecationWarning)
    import schemathesis.specs.openapi.references

    schema = schemathesis.from_pytest_fixture("backupd_openapi")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.auth = CairnSigAuth()
        yield s


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_makes_the_server_fail(
    case: schemathesis.Case, session: requests.Session
) -> None:
    # Mostly our own store (past the ownership check); sometimes someone else's.
    params = case.path_parameters or {}
    if "node_id" in params and zlib.crc32(repr(sorted(params.items())).encode()) % 4:
        params["node_id"] = NODE.node_id
    response = case.call(session=session, timeout=30)
    case.validate_response(
        response, checks=(not_a_server_error, status_code_conformance, content_type_conformance)
    )
