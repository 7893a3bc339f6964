"""Authentication, ownership and limits: every way a request must be refused."""

from __future__ import annotations

import time

import pytest

from cairn.wire.signing import sign_request
from tests.support.signing import Node
from tests.unit.server.conftest import ApiFactory

A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64


@pytest.mark.asyncio
async def test_a_replayed_request_is_refused(make_api: ApiFactory) -> None:
    async with make_api() as api:
        target, body = api.node.path("/objects"), api.node.batch({A: (0, b"x")})
        headers = api.node.headers("PUT", target, body)
        assert (await api.http.put(target, content=body, headers=headers)).status_code == 200
        r = await api.http.put(target, content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "replayed"
        read = api.node.path()
        headers = api.node.headers("GET", read)
        assert (await api.http.get(read, headers=headers)).status_code == 200
        r = await api.http.get(read, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "replayed"


@pytest.mark.parametrize("skew", [-310, 310])
@pytest.mark.asyncio
async def test_stale_and_future_timestamps_are_refused(make_api: ApiFactory, skew: int) -> None:
    async with make_api() as api:
        target = api.node.path()
        headers = api.node.headers("GET", target, ts=int(time.time()) + skew)
        r = await api.http.get(target, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "stale_timestamp"


@pytest.mark.asyncio
async def test_a_timestamp_inside_the_window_is_accepted(make_api: ApiFactory) -> None:
    async with make_api() as api:
        target = api.node.path()
        for skew in (-290, 290):
            headers = api.node.headers("GET", target, ts=int(time.time()) + skew)
            assert (await api.http.get(target, headers=headers)).status_code == 404


@pytest.mark.asyncio
async def test_a_node_cannot_touch_another_nodes_store(make_api: ApiFactory) -> None:
    async with make_api() as api:
        await api.put({A: (0, b"mine")})
        intruder = Node()
        for method, suffix, body in (
            ("GET", "", b""),
            ("GET", f"/objects/{A}", b""),
            ("GET", "/export", b""),
            ("PUT", "/objects", intruder.batch({B: (0, b"theirs")})),
            ("GET", "/changes?since=0", b""),
            ("DELETE", "", b""),
        ):
            target = api.node.path(suffix)
            r = await api.http.request(
                method, target, content=body, headers=intruder.headers(method, target, body)
            )
            assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert (await api.get()).json()["objects"] == 1


@pytest.mark.asyncio
async def test_a_request_changed_after_signing_is_refused(make_api: ApiFactory) -> None:
    async with make_api() as api:
        target = api.node.path("/objects")
        signed_body = api.node.batch({A: (0, b"original")})
        headers = api.node.headers("PUT", target, signed_body)
        tampered = api.node.batch({A: (0, b"tampered")})
        r = await api.http.put(target, content=tampered, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
        # Same body, another target (the query is signed too).
        headers = api.node.headers("GET", target + "?limit=5")
        r = await api.http.get(target + "?limit=6", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
        # Another method.
        headers = api.node.headers("GET", api.node.path())
        r = await api.http.delete(api.node.path(), headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
        assert (await api.get()).status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer abc", "Cairn-Sig node=02,ts=1,nonce=2,sig=3", "Cairn-Sig garbage"],
)
@pytest.mark.asyncio
async def test_missing_or_malformed_authorization_is_401(
    make_api: ApiFactory, header: str | None
) -> None:
    async with make_api() as api:
        headers = {} if header is None else {"Authorization": header}
        r = await api.http.get(api.node.path(), headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Cairn-Sig"


@pytest.mark.asyncio
async def test_oversize_object_and_batch_are_413(make_api: ApiFactory) -> None:
    async with make_api(max_object_bytes=1000, max_batch_items=3, max_batch_bytes=2000) as api:
        r = await api.put({A: (0, b"x" * 1001)})
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        r = await api.put({A: (0, b"")}, deletes={B: 0, C: 0, D: 0})  # 4 items
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        r = await api.put({A: (0, b"x" * 800), B: (0, b"x" * 800), C: (0, b"x" * 800)})
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        assert (await api.put({A: (0, b"x" * 1000), B: (0, b"x" * 1000)})).status_code == 200


@pytest.mark.asyncio
async def test_a_body_too_large_to_be_a_batch_is_refused_unread(make_api: ApiFactory) -> None:
    async with make_api(max_batch_bytes=1000, max_batch_items=2) as api:
        target = api.node.path("/objects")
        body = b" " * 10_000  # larger than any valid batch under these limits
        r = await api.http.put(target, content=body, headers=api.node.headers("PUT", target, body))
        assert r.status_code == 413 and r.json()["error"] == "too_large"


@pytest.mark.asyncio
async def test_store_quota_is_enforced(make_api: ApiFactory) -> None:
    async with make_api(store_quota_bytes=1000) as api:
        assert (await api.put({A: (0, b"x" * 600)})).status_code == 200
        r = await api.put({B: (0, b"x" * 600)})
        assert r.status_code == 413 and r.json()["error"] == "quota_exceeded"
        info = (await api.get()).json()
        assert info["bytes"] == 600 and info["generation"] == 1


@pytest.mark.asyncio
async def test_rate_limit_answers_429_with_retry_after(make_api: ApiFactory) -> None:
    # An hour-long window: the test does not straddle a window boundary.
    async with make_api(rate_limit=3, rate_window=3600) as api:
        for _ in range(3):
            assert (await api.get()).status_code == 404
        r = await api.put({A: (0, b"x")})
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 3600
        # Other nodes have their own budget.
        other = Node()
        target = other.path()
        assert (await api.http.get(target, headers=other.headers("GET", target))).status_code == 404


@pytest.mark.asyncio
async def test_signatures_from_the_protocol_module_round_trip(make_api: ApiFactory) -> None:
    """A header built by the shared protocol code, as the real client does, is accepted."""
    async with make_api() as api:
        target = api.node.path()
        header = sign_request(api.node.secret, "GET", target, b"")
        assert (await api.http.get(target, headers={"Authorization": header})).status_code == 404


@pytest.mark.asyncio
async def test_two_authorization_headers_are_unauthorized(make_api: ApiFactory) -> None:
    async with make_api() as api:
        target = api.node.path()
        good = api.node.headers("GET", target)["Authorization"]
        for second in (good, Node().headers("GET", target)["Authorization"]):
            r = await api.http.get(
                target, headers=[("Authorization", good), ("Authorization", second)]
            )
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        # Neither use up the nonce: the same header alone is accepted afterwards.
        assert (await api.http.get(target, headers={"Authorization": good})).status_code == 404


@pytest.mark.asyncio
async def test_which_answers_use_up_the_nonce(make_api: ApiFactory) -> None:
    """200, 404, 409 and 413 quota_exceeded use it up; 400, 401, 403 and 413 too_large do not."""
    async with make_api(store_quota_bytes=90, max_object_bytes=50) as api:
        target = api.node.path("/objects")
        await api.put({A: (0, b"a")})

        async def twice(body: bytes, path: str = target, method: str = "PUT") -> tuple[int, int]:
            headers = api.node.headers(method, path, body, nonce=NONCE)
            first = await api.http.request(method, path, content=body, headers=headers)
            second = await api.http.request(method, path, content=body, headers=headers)
            return first.status_code, second.status_code

        NONCE = "0" * 31 + "1"
        assert await twice(api.node.batch({A: (0, b"stale")}, generation=1)) == (409, 401)
        NONCE = "0" * 31 + "2"
        assert await twice(api.node.batch({B: (0, b"x" * 45)}, generation=1)) == (200, 401)
        NONCE = "0" * 31 + "3"
        assert await twice(api.node.batch({C: (0, b"x" * 50)}, generation=2)) == (413, 401)
        NONCE = "0" * 31 + "4"
        assert await twice(b"not json") == (400, 400)
        NONCE = "0" * 31 + "5"
        assert await twice(api.node.batch({D: (0, b"x" * 51)}, generation=2)) == (413, 413)
        NONCE = "0" * 31 + "6"
        assert await twice(b"", api.node.path(f"/objects/{D}"), "GET") == (404, 401)


@pytest.mark.asyncio
async def test_a_bad_signature_does_not_use_up_the_nonce(make_api: ApiFactory) -> None:
    async with make_api() as api:
        target = api.node.path()
        nonce = "ab" * 16
        wrong = api.node.headers("GET", target + "?x", nonce=nonce)
        assert (await api.http.get(target, headers=wrong)).status_code == 401
        right = api.node.headers("GET", target, nonce=nonce)
        assert (await api.http.get(target, headers=right)).status_code == 404


@pytest.mark.asyncio
async def test_a_path_node_off_the_curve_is_forbidden_to_every_signer(make_api: ApiFactory) -> None:
    async with make_api() as api:
        off_curve = "02" + "0" * 64
        target = api.node.path(node_id=off_curve)
        r = await api.http.get(target, headers=api.node.headers("GET", target))
        assert r.status_code == 403 and r.json()["error"] == "forbidden"


@pytest.mark.asyncio
async def test_the_rate_limit_counts_only_authenticated_requests(make_api: ApiFactory) -> None:
    async with make_api(rate_limit=2, rate_window=3600) as api:
        target = api.node.path()
        for _ in range(5):
            r = await api.http.get(target, headers={"Authorization": "Cairn-Sig garbage"})
            assert r.status_code == 401
        assert (await api.get()).status_code == 404
        assert (await api.get()).status_code == 404
        assert (await api.get()).status_code == 429


@pytest.mark.asyncio
async def test_which_refusal_wins_when_a_batch_breaks_several_rules(make_api: ApiFactory) -> None:
    """docs/PROTOCOL.md 7.1: size, authentication, body, claim, preconditions, quota."""
    async with make_api(max_batch_items=2, store_quota_bytes=10, rate_limit=100) as api:
        target = api.node.path("/objects")
        await api.put({A: (0, b"a")})

        async def send(body: bytes, **sign: object) -> tuple[int, str]:
            headers = api.node.headers("PUT", target, body, **sign)  # type: ignore[arg-type]
            r = await api.http.put(target, content=body, headers=headers)
            return r.status_code, r.json()["error"]

        stale = int(time.time()) - 1000
        # A malformed body that is also badly signed: authentication first.
        assert await send(b"not json", ts=stale) == (401, "stale_timestamp")
        # Too many items and a conflict and over quota: the body's limits first.
        three = api.node.batch({B: (0, b"x" * 20), C: (0, b""), D: (0, b"")}, generation=0)
        assert await send(three) == (413, "too_large")
        # A conflict (stale generation) that would also exceed the quota: the conflict.
        assert await send(api.node.batch({B: (0, b"x" * 20)}, generation=0)) == (409, "conflict")
        # A replayed request that would conflict: the nonce.
        replay = api.node.batch({B: (0, b"b")}, generation=0)
        nonce = "cd" * 16
        assert await send(replay, nonce=nonce) == (409, "conflict")
        assert await send(replay, nonce=nonce) == (401, "replayed")
        # Another incarnation at a stale generation: one 409, and it names the incarnation.
        other = Node(secret=api.node.secret).batch({B: (0, b"b")}, generation=0)
        headers = api.node.headers("PUT", target, other)
        r = await api.http.put(target, content=other, headers=headers)
        assert r.status_code == 409 and "incarnation" in r.json()["detail"]
