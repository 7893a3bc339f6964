"""HTTP as clients really send it, on a real server: a client hanging up mid-body, a replayed
request, several Accept lines, spaces around a header's value. Sent over raw sockets, since
HTTP libraries tidy such requests up before they leave."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.integration.server.test_abuse_controls import invites
from tests.integration.server.test_metrics import scrape
from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node

KEY = "ab" * 32


def send_raw(server: BackupServer, head: str, body: bytes = b"", *, hang_up: bool = False) -> bytes:
    """Send a request as written; the answer's status line and headers (b"" after a hang-up)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(head.encode("latin-1") + b"\r\n" + body)
        if hang_up:
            return b""
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = conn.recv(65536)
            if not piece:
                break
            answer += piece
        return answer.split(b"\r\n\r\n")[0]


def request_head(method: str, target: str, headers: Mapping[str, str]) -> str:
    lines = [f"{method} {target} HTTP/1.1", "Host: x", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n"


def requests_by_status(server: BackupServer, route_suffix: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for (name, labels), value in scrape(server).items():
        fields = dict(labels)
        if name == "cairn_backupd_requests_total" and fields["route"].endswith(route_suffix):
            counts[fields["status"]] = counts.get(fields["status"], 0) + value
    return counts


def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(backupd: BackupServer) -> None:
    node = Node()
    body = node.batch({KEY: (0, b"v")})
    objects, store = node.path("/objects"), node.path()
    for method, target in (("PUT", objects), ("GET", store)):
        headers = {**node.headers(method, target, body), "Content-Length": str(len(body))}
        send_raw(backupd, request_head(method, target, headers), body[:3], hang_up=True)
    # The server is unharmed, and the next request is answered as usual.
    good = httpx.put(
        backupd.url + objects, content=body, headers=node.headers("PUT", objects, body)
    )
    assert good.status_code == 200, good.text
    deadline = time.monotonic() + 10  # the hang-ups are counted once the server has seen them
    while requests_by_status(backupd, "/objects").get("499") != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests_by_status(backupd, "/objects") == {"200": 1, "499": 1}
    assert "500" not in requests_by_status(backupd, "{store_id}")
    log = Path(backupd.log_path).read_text()
    assert '"level":"error"' not in log and "Traceback" not in log and "ClientDisconnect" not in log


def test_a_replayed_request_is_told_how_to_authenticate(backupd: BackupServer) -> None:
    node = Node()
    target = node.path()
    headers = node.headers("GET", target)
    with httpx.Client(base_url=backupd.url) as http:
        assert http.get(target, headers=headers).status_code == 404  # no store yet
        again = http.get(target, headers=headers)
    assert again.status_code == 401 and again.json()["error"] == "replayed"
    assert again.headers["WWW-Authenticate"] == "Cairn-Sig"


def test_several_accept_lines_are_one_list(backupd: BackupServer) -> None:
    node = Node()
    objects = node.path("/objects")
    body = node.batch({KEY: (0, b"v")})
    put = httpx.put(backupd.url + objects, content=body, headers=node.headers("PUT", objects, body))
    assert put.status_code == 200
    export = node.path("/export")
    head = request_head("GET", export, node.headers("GET", export))
    head += "Accept: application/x-ndjson\r\nAccept: application/x-cairn-export\r\n"
    answer = send_raw(backupd, head).lower()
    assert answer.startswith(b"http/1.1 200")
    assert b"content-type: application/x-cairn-export" in answer


def test_spaces_around_an_invite_are_not_part_of_it(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(env={"CAIRN_BACKUPD_REGISTRATION": "invite"})
    (invite,) = invites(server)
    node = Node()
    target = node.path("/objects")
    body = node.batch({KEY: (0, b"v")})
    headers = {**node.headers("PUT", target, body), "Content-Length": str(len(body))}
    head = request_head("PUT", target, headers) + f"Cairn-Invite: \t {invite} \t\r\n"
    assert send_raw(server, head, body).startswith(b"HTTP/1.1 200")


def test_a_target_is_taken_only_as_it_was_sent(backupd: BackupServer) -> None:
    node = Node()
    objects, store = node.path("/objects"), node.path()
    body = node.batch({KEY: (0, b"v")})
    put = httpx.put(backupd.url + objects, content=body, headers=node.headers("PUT", objects, body))
    assert put.status_code == 200
    # An empty query and a fragment are not in the parsed path and query a signature could be
    # checked against: refused, however the request was signed.
    for sent, signed in ((store + "?", store + "?"), (store + "?", store), (store + "#x", store)):
        answer = send_raw(backupd, request_head("GET", sent, node.headers("GET", signed)))
        assert answer.startswith(b"HTTP/1.1 400"), (sent, signed, answer)
    sent = objects + "?"
    headers = {**node.headers("PUT", sent, body), "Content-Length": str(len(body))}
    assert send_raw(backupd, request_head("PUT", sent, headers), body).startswith(b"HTTP/1.1 400")
    # The absolute form, which HTTP/1.1 servers must take, is signed over its path.
    absolute = f"http://127.0.0.1:{backupd.port}{store}"
    answer = send_raw(backupd, request_head("GET", absolute, node.headers("GET", store)))
    assert answer.startswith(b"HTTP/1.1 200")


def read_answer(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    answer = b""
    while piece := conn.recv(65536):
        answer += piece
    return answer


def test_huge_or_endless_headers_are_refused_and_cost_nothing(backupd: BackupServer) -> None:
    with socket.create_connection(("127.0.0.1", backupd.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(100):  # up to 10 MB, never finished
                conn.sendall(b"a" * 100_000)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed by the server, as it should be
        answer = read_answer(conn)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    many = "".join(f"X-{n}: {n}\r\n" for n in range(150))
    with socket.create_connection(("127.0.0.1", backupd.port), timeout=10) as conn:
        conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())
        assert read_answer(conn).startswith(b"HTTP/1.1 400")
    assert httpx.get(backupd.url + "/healthz").status_code == 200


def test_a_request_that_stops_coming_is_timed_out_but_a_slow_one_is_not(
    backupd_factory: BackupdFactory,
) -> None:
    server = backupd_factory(request_timeout=2)
    node = Node()
    target = node.path("/objects")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        assert read_answer(conn).startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 15
    body = node.batch({KEY: (0, b"v" * 1000)})
    headers = {**node.headers("PUT", target, body), "Content-Length": str(len(body))}
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
        conn.sendall(request_head("PUT", target, headers).encode() + b"\r\n" + body[:100])
        assert read_answer(conn).startswith(b"HTTP/1.1 408")  # the body stopped coming
    # A body that keeps coming, however slowly, is never cut: each pause is under the limit.
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
        conn.sendall(request_head("PUT", target, headers).encode() + b"\r\n")
        pieces = [body[i : i + len(body) // 4 + 1] for i in range(0, len(body), len(body) // 4 + 1)]
        for piece in pieces:
            time.sleep(1.2)
            conn.sendall(piece)
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
    log = Path(server.log_path).read_text()
    assert '"level":"error"' not in log and "Traceback" not in log


def test_healthz_and_metrics_take_no_query(backupd: BackupServer) -> None:
    for path in ("/healthz", "/metrics"):
        for query in ("?x", "?x=1", "?since=0"):
            answer = httpx.get(backupd.url + path + query)
            assert answer.status_code == 400, (path, query, answer.text)
            assert answer.json()["error"] == "bad_request"
        # An empty query, which httpx would not send.
        assert send_raw(backupd, request_head("GET", path + "?", {})).startswith(b"HTTP/1.1 400")
        assert httpx.get(backupd.url + path).status_code == 200
