"""The 64 KiB limit on a request's line and headers (PROTOCOL.md section 8) on a real server,
over raw sockets: exact, however the head arrives, and answered with JSON."""

from __future__ import annotations

import json
import socket

import pytest

from tests.integration.server.test_http_edges import read_answer
from tests.support.backupd import BackupServer

LIMIT = 64 * 1024
START = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "


def head_of(size: int, start: bytes = START) -> bytes:
    """A valid head of exactly `size` bytes, its empty line included."""
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def exchange(server: BackupServer, pieces: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send `pieces` one write each; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        try:
            for piece in pieces:
                conn.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending: the answer must still be there to read
        answer = read_answer(conn)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def in_pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def assert_head_too_large(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 431, (status, body[:200])
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "too_large"


@pytest.mark.parametrize("piece", [None, 1000, 10_000], ids=["whole", "1000-byte", "10000-byte"])
def test_a_head_at_the_limit_is_answered_and_one_byte_over_is_431(
    backupd: BackupServer, piece: int | None
) -> None:
    for size, expected in ((LIMIT, 200), (LIMIT + 1, 431)):
        head = head_of(size)
        status, _, _ = exchange(backupd, [head] if piece is None else in_pieces(head, piece))
        assert status == expected, (size, piece)


def test_one_large_header_or_request_line_is_431_with_a_json_body(backupd: BackupServer) -> None:
    assert_head_too_large(exchange(backupd, [head_of(128_000)]))
    line = b"GET /healthz?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert_head_too_large(exchange(backupd, [line]))


def test_an_endless_head_in_pieces_is_answered_before_the_connection_closes(
    backupd: BackupServer,
) -> None:
    pieces = [START] + [b"a" * 10_000] * 30  # sent on after the limit, as a careless client does
    assert_head_too_large(exchange(backupd, pieces))


def test_each_request_of_a_connection_has_the_whole_limit(backupd: BackupServer) -> None:
    keep_alive = head_of(LIMIT, b"PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-Pad: ")
    # Both heads at the limit, sent back to back: the second is counted from its own start.
    status, _, body = exchange(backupd, [keep_alive + b"abc" + head_of(LIMIT)])
    assert status == 405, body  # the first answer; the second follows it
    assert body.count(b"HTTP/1.1 200 OK") == 1, body[-300:]
