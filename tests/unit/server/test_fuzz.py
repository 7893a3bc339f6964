"""Raw bytes, deep nesting, odd headers and paths: never a 5xx, every refusal from the error table."""

from __future__ import annotations

import asyncio
import atexit
import json
import shutil
import tempfile
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.server.app import create_app
from cairn.server.config import Limits, Settings
from cairn.wire.constants import ERROR_STATUS
from cairn.wire.signing import sign_request
from tests.support.signing import Node

NODE = Node()
_DIR = Path(tempfile.mkdtemp(prefix="cairn-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
DB = _DIR / "backupd.sqlite"  # one database for every example, as a long-running server has
A = "a" * 64

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_like.map(lambda doc: json.dumps(doc).encode()),
    st.integers(1, 3000).map(lambda n: b'{"put":' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"0" + b"}" * n),
    st.just(NODE.batch({A: (0, b"x")})),
)
suffixes = st.sampled_from(
    ["", "/", "/objects", "/objects/", f"/objects/{A}", "/export", "/changes", "/changes?since=0",
     "/changes?since=-1", "/changes?since=99999999999999999999", "/objects?after=zz",
     "/objects?limit=0", "/x", "/%2e%2e", "?a=1&a=2"]
)  # fmt: skip
methods = st.sampled_from(["GET", "PUT", "DELETE", "POST", "PATCH", "HEAD", "OPTIONS"])
authorizations = st.sampled_from(["signed", "none", "twice", "garbage", "other-node"])


async def one_request(method: str, suffix: str, body: bytes, auth: str) -> httpx.Response:
    app = create_app(Settings(db=str(DB), limits=Limits(rate_limit=0)))
    target = NODE.path(suffix)
    signature = sign_request(NODE.secret, method, target, body)
    headers: list[tuple[str, str]] = {
        "signed": [("Authorization", signature)],
        "none": [],
        "twice": [("Authorization", signature), ("Authorization", signature)],
        "garbage": [("Authorization", "Cairn-Sig node=,ts=,nonce=,sig=")],
        "other-node": [("Authorization", sign_request(Node().secret, method, target, body))],
    }[auth]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://backupd.test") as http:
            return await http.request(method, target, content=body, headers=headers)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=methods, suffix=suffixes, body=bodies, auth=authorizations)
def test_no_input_makes_the_server_fail_and_every_refusal_is_in_the_table(
    method: str, suffix: str, body: bytes, auth: str
) -> None:
    r = asyncio.run(one_request(method, suffix, body, auth))
    assert r.status_code < 500, r.text
    if r.status_code >= 400 and method != "HEAD":
        assert r.headers["content-type"] == "application/json"
        error = r.json()
        assert set(error) >= {"error", "detail"}
        assert ERROR_STATUS[error["error"]] == r.status_code
