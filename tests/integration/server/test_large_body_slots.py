"""Batch bodies over 1 MiB take one of a few slots on a real server: requests that their head
already condemns never take one, and a signed batch waiting for one is not timed out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import httpx

from cairn.wire.signing import sign_request
from tests.integration.server.test_http_edges import read_answer, request_head
from tests.integration.server.test_metrics import scrape
from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node

KEY = "ab" * 32
NOT_A_POINT = "02" + "00" * 32  # of the node id's form, but on no curve point
LARGE = 2 * 1024 * 1024  # over the 1 MiB above which a batch needs a slot
SLOTS = 4


def gauge(server: BackupServer, name: str) -> float:
    return scrape(server).get((name, ()), 0.0)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        time.sleep(0.02)


def large_batch(node: Node) -> tuple[str, bytes]:
    return node.path("/objects"), node.batch({KEY: (0, b"v" * 1_200_000)})


def condemned_heads() -> dict[str, tuple[str, int]]:
    """Heads of batch PUTs announcing LARGE bytes that no body could make acceptable."""
    node, other = Node(), Node()
    target = node.path("/objects")
    stale = sign_request(node.secret, "PUT", target, b"", ts=int(time.time()) - 3600)
    fake = f"Cairn-Sig node={NOT_A_POINT},ts={int(time.time())},nonce={'0' * 32},sig={'30' * 8}"
    return {
        "no header": ("", 401),
        "not a point": (fake, 401),
        "stale": (stale, 401),
        "someone else's store": (sign_request(other.secret, "PUT", target, b""), 403),
    }


def open_put(server: BackupServer, target: str, authorization: str, length: int) -> socket.socket:
    headers = {"Content-Length": str(length), "Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    conn.sendall((request_head("PUT", target, headers) + "\r\n").encode())
    return conn


def test_a_head_that_cannot_authenticate_never_holds_a_large_body_slot(
    backupd_factory: BackupdFactory,
) -> None:
    # Longer than the signed batch below may take: had it to wait for the silent ones to time
    # out, it would not be answered in time.
    server = backupd_factory(request_timeout=20)
    target = Node().path("/objects")
    heads = condemned_heads()
    # As many such uploads as there are slots, each announcing a large body and sending none.
    holders = {name: open_put(server, target, auth, LARGE) for name, (auth, _) in heads.items()}
    assert len(holders) == SLOTS
    try:
        signer = Node()
        signed_target, body = large_batch(signer)
        answer = httpx.put(
            server.url + signed_target,
            content=body,
            headers=signer.headers("PUT", signed_target, body),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        for name, conn in holders.items():
            status = int(read_answer(conn).split(b" ", 2)[1])  # answered without a body
            assert status == heads[name][1], name
    finally:
        for conn in holders.values():
            conn.close()


def trickle(
    server: BackupServer, node: Node, pieces: int, pause: float, answers: list[bytes]
) -> None:
    target, body = large_batch(node)
    conn = open_put(server, target, node.headers("PUT", target, body)["Authorization"], len(body))
    with conn:
        size = len(body) // pieces + 1
        for start in range(0, len(body), size):
            time.sleep(pause)  # a slow client: each pause well under the request timeout
            conn.sendall(body[start : start + size])
        answers.append(read_answer(conn))


def test_a_signed_batch_waiting_for_a_slot_is_not_timed_out(
    backupd_factory: BackupdFactory,
) -> None:
    server = backupd_factory(request_timeout=2)
    slow: list[bytes] = []
    # Slow but steady signed uploads hold every slot for about 5 s, over twice the timeout.
    threads = [
        threading.Thread(target=trickle, args=(server, Node(), 8, 0.6, slow)) for _ in range(SLOTS)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: gauge(server, "cairn_backupd_large_batches_in_slot") == SLOTS, "slots taken")
    node = Node()
    target, body = large_batch(node)
    result: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: result.append(
            httpx.put(
                server.url + target,
                content=body,
                headers=node.headers("PUT", target, body),
                timeout=60,
            )
        )
    )
    waiting.start()
    wait_for(lambda: gauge(server, "cairn_backupd_large_batches_waiting") == 1, "a batch waiting")
    for thread in [*threads, waiting]:
        thread.join(60)
    assert [answer.split(b"\r\n")[0] for answer in slow] == [b"HTTP/1.1 200 OK"] * SLOTS
    assert result[0].status_code == 200, result[0].text


def test_a_chunked_batch_over_1_mib_waits_for_a_slot_too(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(request_timeout=2)
    slow: list[bytes] = []
    threads = [
        threading.Thread(target=trickle, args=(server, Node(), 8, 0.6, slow)) for _ in range(SLOTS)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: gauge(server, "cairn_backupd_large_batches_in_slot") == SLOTS, "slots taken")
    node = Node()
    target, body = large_batch(node)
    result: list[httpx.Response] = []
    pieces = [body[i : i + 256 * 1024] for i in range(0, len(body), 256 * 1024)]
    chunked = threading.Thread(
        target=lambda: result.append(
            httpx.put(
                server.url + target,
                content=iter(pieces),  # no Content-Length: Transfer-Encoding: chunked
                headers=node.headers("PUT", target, body),
                timeout=60,
            )
        )
    )
    chunked.start()
    # Its size unknown from its head, it is read until it has shown itself large: then it
    # waits like any other, so that memory stays bounded however a body is framed.
    wait_for(lambda: gauge(server, "cairn_backupd_large_batches_waiting") == 1, "a batch waiting")
    for thread in [*threads, chunked]:
        thread.join(60)
    assert [answer.split(b"\r\n")[0] for answer in slow] == [b"HTTP/1.1 200 OK"] * SLOTS
    assert result[0].status_code == 200, result[0].text
