"""Header rules of a real server, over raw sockets as a client written from PROTOCOL.md sends
them: transfer codings, and the whitespace HTTP allows around a field value."""

from __future__ import annotations

import json
import socket

from tests.integration.server.test_http_edges import read_answer, request_head
from tests.support.backupd import BackupServer
from tests.support.signing import Node

KEY = "ab" * 32


def answer_to(server: BackupServer, request: bytes) -> tuple[int, dict[str, object]]:
    """The status and JSON body of the answer to `request` (sent with Connection: close)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        answer = read_answer(conn)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(body)


def chunked(body: bytes) -> bytes:
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


def signed_put(node: Node, headers: dict[str, str], body: bytes) -> bytes:
    target = node.path("/objects")
    signed = {**node.headers("PUT", target, body), "Connection": "close", **headers}
    return request_head("PUT", target, signed).encode() + b"\r\n"


REFUSED_CODINGS = {
    "gzip, chunked": (501, "not_implemented"),
    "GZIP,Chunked": (501, "not_implemented"),
    "identity, chunked": (501, "not_implemented"),
    "gzip": (400, "bad_request"),  # no chunked last: the body's length is unknown
}


def test_a_transfer_coding_other_than_chunked_is_refused(backupd: BackupServer) -> None:
    node = Node()
    body = node.batch({KEY: (0, b"v")})  # not compressed, whatever the header claims
    for coding, (status, error) in REFUSED_CODINGS.items():
        head = signed_put(node, {"Transfer-Encoding": coding}, body)
        got_status, got = answer_to(backupd, head + chunked(body))
        assert (got_status, got.get("error")) == (status, error), coding
    # Nothing was applied: the same batch, framed honestly, is the store's first.
    fresh = signed_put(node, {"Transfer-Encoding": "Chunked"}, body)
    assert answer_to(backupd, fresh + chunked(body))[0] == 200


def test_a_content_coded_body_is_refused_and_identity_is_taken(backupd: BackupServer) -> None:
    node = Node()
    body = node.batch({KEY: (0, b"v")})  # not compressed, whatever the header claims
    for coding in ("gzip", "br", "identity, gzip", "X-Custom"):
        head = signed_put(
            node, {"Content-Encoding": coding, "Content-Length": str(len(body))}, body
        )
        status, refusal = answer_to(backupd, head + body)
        assert (status, refusal["error"]) == (415, "unsupported_encoding"), coding
    same = signed_put(
        node, {"Content-Encoding": "Identity", "Content-Length": str(len(body))}, body
    )
    assert answer_to(backupd, same + body)[0] == 200  # nothing of the refused ones was applied


def test_whitespace_around_the_authorization_value_is_not_part_of_it(
    backupd: BackupServer,
) -> None:
    node = Node()
    body = node.batch({KEY: (0, b"v")})
    target = node.path("/objects")
    authorization = node.headers("PUT", target, body)["Authorization"]
    head = request_head("PUT", target, {"Content-Length": str(len(body)), "Connection": "close"})
    # RFC 9110 section 5.5: a field value is what lies between leading and trailing OWS.
    padded = f"{head}Authorization: \t {authorization} \t \r\n\r\n".encode()
    assert answer_to(backupd, padded + body)[0] == 200
    # Inside the value nothing changed: a space after a comma is still malformed.
    store = node.path()
    spaced = node.headers("GET", store)["Authorization"].replace(",", ", ", 1)
    loose = request_head("GET", store, {"Authorization": spaced, "Connection": "close"})
    status, refusal = answer_to(backupd, f"{loose}\r\n".encode())
    assert (status, refusal["error"]) == (401, "unauthorized")
