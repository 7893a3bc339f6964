"""The v2 API over HTTP semantics: shapes, status codes, pagination, feed, export, errors."""

from __future__ import annotations

import base64
import json

import pytest

from cairn.wire.addressing import changes_target, list_target
from tests.support.signing import TOMBSTONE, Node, SignedClient
from tests.unit.server.conftest import ApiFactory

A, B, C = "a" * 64, "b" * 64, "c" * 64


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@pytest.mark.asyncio
async def test_batch_put_get_and_versions_are_generations(make_api: ApiFactory) -> None:
    async with make_api() as api:
        r = await api.put({A: (0, b"alpha"), B: (0, b"beta")}, write_id="1" * 32)
        assert r.status_code == 200
        assert r.json() == {"generation": 1, "versions": {A: 1, B: 1}}
        r = await api.put({A: (1, b"alpha2")}, deletes={B: 1})
        assert r.json() == {"generation": 2, "versions": {A: 2, B: 2}}
        r = await api.get(f"/objects/{A}")
        body = r.json()
        assert (body["key"], body["version"], body["value"]) == (A, 2, b64(b"alpha2"))
        assert len(body["write_id"]) == 32 and body["write_id"] != "1" * 32
        assert (await api.get(f"/objects/{B}")).status_code == 404  # a tombstone is no object


@pytest.mark.asyncio
async def test_conflict_reports_state_versions_and_write_ids_and_applies_nothing(
    make_api: ApiFactory,
) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")}, write_id="2" * 32)
        r = await api.put({A: (0, b"a2"), B: (0, b"b")}, deletes={C: 0})
        assert r.status_code == 409
        body = r.json()
        assert body["error"] == "conflict" and body["current"] == {A: 1, B: 0, C: 0}
        assert body["write_ids"] == {A: "2" * 32}
        assert body["generation"] == 1 and body["incarnation"] == api.node.incarnation
        assert body["erased"] is False
        info = (await api.get()).json()
        assert info["generation"] == 1 and info["objects"] == 1


@pytest.mark.asyncio
async def test_a_batch_at_an_old_generation_is_a_conflict(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        await api.put({B: (0, b"b")})
        r = await api.put({C: (0, b"c")}, generation=1)  # C is new, but B was not seen
        assert r.status_code == 409 and r.json()["generation"] == 2


@pytest.mark.asyncio
async def test_another_incarnation_is_a_conflict(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        other = SignedClient(api.http, Node(secret=api.node.secret))  # same seed, new life
        r = await other.put({B: (0, b"b")}, generation=1)
        assert r.status_code == 409 and r.json()["incarnation"] == api.node.incarnation


@pytest.mark.asyncio
async def test_store_info_erase_keeps_the_generation(make_api: ApiFactory) -> None:
    async with make_api() as api:
        assert (await api.get()).json() == {"error": "not_found", "detail": "no such store"}
        await api.put({A: (0, b"12345")})
        info = (await api.get()).json()
        assert info == {
            "node_id": api.node.node_id,
            "store_id": "regtest",
            "generation": 1,
            "incarnation": api.node.incarnation,
            "erased": False,
            "compacted": 0,
            "objects": 1,
            "bytes": 5,
        }
        r = await api.delete_store()
        assert r.status_code == 200 and r.json() == {"deleted": True}
        assert (await api.delete_store()).status_code == 404
        info = (await api.get()).json()
        assert (info["generation"], info["incarnation"], info["erased"]) == (1, None, True)
        assert (info["compacted"], info["objects"], info["bytes"]) == (1, 0, 0)
        assert (await api.get(f"/objects/{A}")).status_code == 404
        # A new incarnation starts at the generation the erase left, never below it.
        api.node.incarnation = "9" * 32
        r = await api.put({A: (0, b"x")})
        assert r.json() == {"generation": 2, "versions": {A: 2}}


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
        page = (await api.get("/objects")).json()
        assert len(page["items"]) == 25 and page["next"] is None


@pytest.mark.asyncio
async def test_the_change_feed_has_objects_and_tombstones_in_generation_order(
    make_api: ApiFactory,
) -> None:
    async with make_api() as api:
        await api.put({B: (0, b"b"), A: (0, b"a")}, write_id="3" * 32)
        await api.put({C: (0, b"c")}, deletes={B: 1}, write_id="4" * 32)
        target = changes_target(api.node.node_id, "regtest", since=0)
        page = (await api.request("GET", target)).json()
        assert page == {
            "incarnation": api.node.incarnation,
            "erased": False,
            "generation": 2,
            "compacted": 0,
            "items": [
                {"key": A, "version": 1, "deleted": False, "write_id": "3" * 32, "value": b64(b"a")},
                {"key": B, "version": 2, "deleted": True, "write_id": "4" * 32,
                 "value": b64(TOMBSTONE)},
                {"key": C, "version": 2, "deleted": False, "write_id": "4" * 32, "value": b64(b"c")},
            ],
            "next": None,
        }  # fmt: skip
        page = await api.request("GET", changes_target(api.node.node_id, "regtest", since=2))
        assert page.json()["items"] == [] and page.json()["next"] is None
        # Pages hold whole generations: a limit of 1 still returns generation 2 entire.
        target = changes_target(api.node.node_id, "regtest", since=0, limit=1)
        first = (await api.request("GET", target)).json()
        assert [i["version"] for i in first["items"]] == [1] and first["next"] == 1
        target = changes_target(api.node.node_id, "regtest", since=1, limit=1)
        second = (await api.request("GET", target)).json()
        assert [i["key"] for i in second["items"]] == [B, C]
        # Cut by the limit, so more might have followed: the client asks once more.
        assert second["next"] == 2


@pytest.mark.asyncio
async def test_the_feed_of_a_missing_store_is_404_and_of_an_erased_one_needs_a_resync(
    make_api: ApiFactory,
) -> None:
    async with make_api() as api:
        target = changes_target(api.node.node_id, "regtest", since=0)
        assert (await api.request("GET", target)).status_code == 404
        await api.put({A: (0, b"a")})
        await api.delete_store()
        r = await api.request("GET", changes_target(api.node.node_id, "regtest", since=0))
        assert r.status_code == 410
        assert r.json() == {
            "error": "resync_required",
            "detail": r.json()["detail"],
            "generation": 1,
            "incarnation": None,
            "erased": True,
            "compacted": 1,
        }


@pytest.mark.asyncio
async def test_export_streams_live_objects_with_the_generation(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({B: (0, b"b"), A: (0, b"a"), C: (0, b"c")}, write_id="5" * 32)
        await api.put({B: (1, b"b2")}, deletes={C: 1}, write_id="6" * 32)
        r = await api.get("/export")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["x-cairn-generation"] == "2"
        assert r.headers["x-cairn-incarnation"] == api.node.incarnation
        lines = [json.loads(line) for line in r.text.splitlines()]
        assert lines == [
            {"key": A, "version": 1, "write_id": "5" * 32, "value": b64(b"a")},
            {"key": B, "version": 2, "write_id": "6" * 32, "value": b64(b"b2")},
        ]
        other = SignedClient(api.http, Node())
        assert (await other.get("/export")).status_code == 404


def _batch(put: str = "", delete: str = "", head: str = "") -> bytes:
    head = head or f'"incarnation":"{"1" * 32}","generation":0,"write_id":"{"2" * 32}"'
    return ("{" + head + (f',"put":[{put}]' if put else "") + (
        f',"delete":[{delete}]' if delete else "") + "}").encode()  # fmt: skip


ITEM_A = f'{{"key":"{A}","version":0,"value":"eA=="}}'


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        _batch(),  # no item
        _batch(f'{{"key":"{"A" * 64}","version":0,"value":""}}'),
        _batch(f'{{"key":"{A}","version":-1,"value":""}}'),
        _batch(f'{{"key":"{A}","version":-0,"value":""}}'),
        _batch(f'{{"key":"{A}","version":0,"value":"***"}}'),
        _batch(f'{{"key":"{A}","version":0,"value":"/x=="}}'),  # padding bits set
        _batch(f'{{"key":"{A}","version":0,"value":"QUJD="}}'),  # padding "ABC" does not need
        _batch(ITEM_A, f'{{"key":"{A}","version":0,"value":"eA=="}}'),
        _batch(f'{{"key":"{A}","version":9223372036854775808,"value":""}}'),
        _batch(f'{{"key":"{A}","version":0}}', head=""),
        _batch(ITEM_A, head=f'"incarnation":"{"1" * 32}","generation":0'),
        _batch(ITEM_A, head=f'"incarnation":"{"X" * 32}","generation":0,"write_id":"{"2" * 32}"'),
        _batch(
            ITEM_A,
            head=f'"incarnation":"{"1" * 32}","generation":0,"generation":1,'
            f'"write_id":"{"2" * 32}"',
        ),
        b'{"other": []}',
        b"[" * 1000 + b"]" * 1000,
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b"\xff\xfe",
    ],
)
@pytest.mark.asyncio
async def test_malformed_batches_are_400(make_api: ApiFactory, body: bytes) -> None:
    async with make_api() as api:
        r = await api.request("PUT", api.node.path("/objects"), body)
        assert r.status_code == 400
        assert r.json()["error"] == "bad_request"
        # The connection and the server carry on.
        assert (await api.put({A: (0, b"x")})).status_code == 200


@pytest.mark.asyncio
async def test_framework_errors_keep_the_error_shape(make_api: ApiFactory) -> None:
    async with make_api() as api:
        r = await api.http.get("/nowhere")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = await api.http.post("/healthz")
        assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
        assert "GET" in r.headers["allow"]
        r = await api.http.get("/v2/stores/zz/regtest")
        assert r.status_code == 400 and r.json()["error"] == "bad_request"
        r = await api.http.get(f"/v2/stores/{api.node.node_id}/mainnet")
        assert r.status_code == 400
        target = list_target(api.node.node_id, "regtest", limit=1001)
        r = await api.request("GET", target)
        assert r.status_code == 400 and set(r.json()) == {"error", "detail"}


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "POST", "PATCH"])
@pytest.mark.asyncio
async def test_other_methods_are_405_before_authentication(
    make_api: ApiFactory, method: str
) -> None:
    async with make_api() as api:
        r = await api.http.request(method, api.node.path())
        assert r.status_code == 405
        if method != "HEAD":  # a HEAD answer has no body
            assert r.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("suffix", ["/", "/objects/", f"/objects/{A}/", "/export/", "/changes/"])
@pytest.mark.asyncio
async def test_a_trailing_slash_is_404_never_a_redirect(make_api: ApiFactory, suffix: str) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        target = api.node.path(suffix)
        r = await api.http.get(target, headers=api.node.headers("GET", target))
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert "location" not in r.headers


@pytest.mark.parametrize(
    "query",
    [
        "since=0&since=1",  # repeated
        "since=0&extra=1",  # unknown
        "since=%30",  # percent-encoded
        "since=00",  # not canonical
        "since=+1",
        "since=1&",
        "since",
        "limit=10",  # since is required
    ],
)
@pytest.mark.asyncio
async def test_query_parameters_are_taken_literally_or_refused(
    make_api: ApiFactory, query: str
) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        target = api.node.path("/changes?" + query)
        r = await api.http.get(target, headers=api.node.headers("GET", target))
        assert r.status_code == 400 and r.json()["error"] == "bad_request"


@pytest.mark.parametrize("query", ["after=", f"after={A.upper()}", "after=zz", "limit=5&limit=6"])
@pytest.mark.asyncio
async def test_a_listing_refuses_a_bad_after_or_repeated_limit(
    make_api: ApiFactory, query: str
) -> None:
    async with make_api() as api:
        target = api.node.path("/objects?" + query)
        r = await api.http.get(target, headers=api.node.headers("GET", target))
        assert r.status_code == 400 and r.json()["error"] == "bad_request"


@pytest.mark.parametrize("suffix", ["", "/export", f"/objects/{A}"])
@pytest.mark.asyncio
async def test_endpoints_without_parameters_refuse_any_query(
    make_api: ApiFactory, suffix: str
) -> None:
    async with make_api() as api:
        target = api.node.path(suffix + "?x=1")
        r = await api.http.get(target, headers=api.node.headers("GET", target))
        assert r.status_code == 400 and r.json()["error"] == "bad_request"


@pytest.mark.asyncio
async def test_protocol_v1_clients_are_told_to_upgrade(make_api: ApiFactory) -> None:
    async with make_api() as api:
        for method in ("GET", "PUT", "DELETE", "OPTIONS"):
            r = await api.http.request(method, f"/v1/stores/{api.node.node_id}/regtest/objects")
            assert r.status_code == 410 and r.json()["error"] == "upgrade_required"


@pytest.mark.asyncio
async def test_the_content_type_of_a_request_is_not_consulted(make_api: ApiFactory) -> None:
    async with make_api() as api:
        target, body = api.node.path("/objects"), api.node.batch({A: (0, b"a")})
        headers = {**api.node.headers("PUT", target, body), "Content-Type": "text/plain"}
        assert (await api.http.put(target, content=body, headers=headers)).status_code == 200


@pytest.mark.asyncio
async def test_health_metrics_and_openapi_are_public(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        assert (await api.http.get("/healthz")).json() == {"status": "ok"}
        metrics = (await api.http.get("/metrics")).text
        assert (
            'cairn_backupd_requests_total{method="PUT",route="/v2/stores/{node_id}/{store_id}/objects",status="200"} 1.0'
            in metrics
        )
        assert 'cairn_backupd_batches_total{outcome="applied"} 1.0' in metrics
        schema = (await api.http.get("/openapi.json")).json()
        assert "/v2/stores/{node_id}/{store_id}/objects" in schema["paths"]
        assert "/v2/stores/{node_id}/{store_id}/changes" in schema["paths"]
        assert "CairnSig" in schema["components"]["securitySchemes"]


@pytest.mark.asyncio
async def test_a_store_that_does_not_exist_lists_as_empty(make_api: ApiFactory) -> None:
    async with make_api() as api:
        r = await api.get("/objects")
        assert r.status_code == 200 and r.json() == {"items": [], "next": None}


def test_an_error_log_names_the_exception_and_place_but_not_its_message() -> None:
    import logging
    import sys

    from cairn.server.observability import JsonFormatter

    try:
        raise ValueError("secret-ish detail " + A)
    except ValueError:
        record = logging.LogRecord("cairn.server", logging.ERROR, __file__, 1, "boom", None, None)
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
        assert 'route="/v2/stores/{node_id}/{store_id}/objects/{key}",status="200"' in metrics
        assert 'route="/openapi.json"' in metrics and 'route="unmatched"' in metrics
        assert A not in metrics and B not in metrics and api.node.node_id not in metrics


@pytest.mark.parametrize("path", ["/objects%2F" + A, "%2Fobjects", "/obj%65cts"])
@pytest.mark.asyncio
async def test_a_percent_encoded_path_is_refused_not_decoded(
    make_api: ApiFactory, path: str
) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"a")})
        target = api.node.path(path)
        r = await api.http.get(target, headers=api.node.headers("GET", target))
        assert r.status_code == 400 and r.json()["error"] == "bad_request"
