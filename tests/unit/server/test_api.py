"""The v1 API over HTTP semantics: shapes, status codes, pagination, export, errors."""

from __future__ import annotations

import base64
import json

import pytest

from cairn.backup.protocol import list_target
from tests.support.signing import Node, SignedClient
from tests.unit.server.conftest import ApiFactory

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.asyncio
async def test_batch_put_get_and_versions(make_api: ApiFactory) -> None:
    async with make_api() as api:
        r = await api.put({A: (0, b"alpha"), B: (0, b"beta")})
        assert r.status_code == 200
        assert r.json() == {"generation": 1, "versions": {A: 1, B: 1}}
        r = await api.put({A: (1, b"alpha2")}, deletes={B: 1})
        assert r.json() == {"generation": 2, "versions": {A: 2, B: 0}}
        r = await api.get(f"/objects/{A}")
        assert r.json() == {"key": A, "version": 2, "value": base64.b64encode(b"alpha2").decode()}
        assert (await api.get(f"/objects/{B}")).status_code == 404


@pytest.mark.asyncio
async def test_conflict_reports_every_key_and_applies_nothing(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        r = await api.put({A: (1, b"a2"), B: (0, b"b")}, deletes={C: 3})
        assert r.status_code == 409
        body = r.json()
        assert body["error"] == "conflict" and body["current"] == {A: 1, B: 0, C: 0}
        info = (await api.get()).json()
        assert info["generation"] == 1 and info["objects"] == 1


@pytest.mark.asyncio
async def test_store_info_delete_and_start_over(make_api: ApiFactory) -> None:
    async with make_api() as api:
        assert (await api.get()).json() == {"error": "not_found", "detail": "no such store"}
        await api.put({A: (0, b"12345")})
        info = (await api.get()).json()
        assert info == {
            "node_id": api.node.node_id,
            "store_id": "regtest",
            "generation": 1,
            "objects": 1,
            "bytes": 5,
        }
        r = await api.delete_store()
        assert r.status_code == 200 and r.json() == {"deleted": True}
        assert (await api.delete_store()).status_code == 404
        assert (await api.get()).status_code == 404
        assert (await api.put({A: (0, b"x")})).json()["generation"] == 1


@pytest.mark.asyncio
async def test_listing_pages_by_key(make_api: ApiFactory) -> None:
    async with make_api() as api:
        keys = [f"{i:064x}" for i in range(25)]
        await api.put({k: (0, b"v" * i) for i, k in enumerate(keys)})
        seen: list[dict[str, object]] = []
        after: str | None = None
        while True:
            target = list_target(api.node.node_id, "regtest", after=after, limit=10)
            page = (await api.request("GET", target)).json()
            seen += page["items"]
            if page["next"] is None:
                break
            after = page["next"]
        assert [item["key"] for item in seen] == keys
        assert seen[3] == {"key": keys[3], "version": 1, "size": 3}
        # The default page holds them all, and says there is no more.
        page = (await api.get("/objects")).json()
        assert len(page["items"]) == 25 and page["next"] is None


@pytest.mark.asyncio
async def test_export_streams_ndjson_with_the_generation(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({B: (0, b"b"), A: (0, b"a")})
        await api.put({B: (1, b"b2")})
        r = await api.get("/export")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["x-cairn-generation"] == "2"
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert lines == [
            {"key": A, "version": 1, "value": base64.b64encode(b"a").decode()},
            {"key": B, "version": 2, "value": base64.b64encode(b"b2").decode()},
        ]
        other = SignedClient(api.http, Node())
        assert (await other.get("/export")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"put": [{"key": "A", "version": 0, "value": ""}]}',
        b'{"put": [{"key": "' + A.encode() + b'", "version": -1, "value": ""}]}',
        b'{"put": [{"key": "' + A.encode() + b'", "version": 0, "value": "***"}]}',
        b'{"put": [{"key": "'
        + A.encode()
        + b'", "version": 0, "value": ""}], "delete": [{"key": "'
        + A.encode()
        + b'", "version": 0}]}',
        b'{"put": [{"key": "' + A.encode() + b'", "version": 9223372036854775807, "value": ""}]}',
        b'{"other": []}',
    ],
)
@pytest.mark.asyncio
async def test_malformed_batches_are_400(make_api: ApiFactory, body: bytes) -> None:
    async with make_api() as api:
        r = await api.request("PUT", api.node.path("/objects"), body)
        assert r.status_code == 400
        assert r.json()["error"] == "bad_request"


@pytest.mark.asyncio
async def test_framework_errors_keep_the_error_shape(make_api: ApiFactory) -> None:
    async with make_api() as api:
        r = await api.http.get("/nowhere")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = await api.http.post("/healthz")
        assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
        r = await api.http.get("/v1/stores/zz/regtest")
        assert r.status_code == 400 and r.json()["error"] == "bad_request"
        r = await api.http.get(f"/v1/stores/{api.node.node_id}/mainnet")
        assert r.status_code == 400
        target = list_target(api.node.node_id, "regtest", limit=1001)
        r = await api.request("GET", target)
        assert r.status_code == 400 and set(r.json()) == {"error", "detail"}


@pytest.mark.asyncio
async def test_health_metrics_and_openapi_are_public(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        assert (await api.http.get("/healthz")).json() == {"status": "ok"}
        metrics = (await api.http.get("/metrics")).text
        assert (
            'cairn_backupd_requests_total{method="PUT",route="/v1/stores/{node_id}/{store_id}/objects",status="200"} 1.0'
            in metrics
        )
        assert 'cairn_backupd_batches_total{outcome="applied"} 1.0' in metrics
        schema = (await api.http.get("/openapi.json")).json()
        assert "/v1/stores/{node_id}/{store_id}/objects" in schema["paths"]
        assert "CairnSig" in schema["components"]["securitySchemes"]


@pytest.mark.asyncio
async def test_a_store_that_does_not_exist_lists_as_empty(make_api: ApiFactory) -> None:
    async with make_api() as api:
        r = await api.get("/objects")
        assert r.status_code == 200 and r.json() == {"items": [], "next": None}


def test_an_error_log_names_the_exception_and_place_but_not_its_message() -> None:
    import logging

    from cairn.server.observability import JsonFormatter

    try:
        raise ValueError("secret-ish detail " + A)
    except ValueError:
        record = logging.LogRecord("cairn.server", logging.ERROR, __file__, 1, "boom", None, None)
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["exception"] == "ValueError" and line["trace"]
    assert A not in json.dumps(line)


@pytest.mark.asyncio
async def test_metrics_label_routes_by_template_never_by_concrete_path(
    make_api: ApiFactory,
) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        await api.get(f"/objects/{A}")
        await api.http.get("/openapi.json")
        await api.http.get(f"/nowhere/{B}")
        metrics = (await api.http.get("/metrics")).text
        assert 'route="/v1/stores/{node_id}/{store_id}/objects/{key}",status="200"' in metrics
        assert 'route="/openapi.json"' in metrics and 'route="unmatched"' in metrics
        assert A not in metrics and B not in metrics and api.node.node_id not in metrics
