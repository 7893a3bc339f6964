"""uvicorn's httptools protocol, sending a response's head and body in one write, keeping the
request target as sent, and limiting a request's head and how long it may take to arrive.

uvicorn writes a response's status line and headers when the app sends `http.response.start`
and the body when it sends `http.response.body`: two socket writes per answer, two segments
for the client to read. For small answers (every PUT's) that second system call is a good part
of what the HTTP layer costs. Here a write that begins a response is held back until the next
write on the same connection, which carries it along; if none comes before the event loop
turns (a HEAD answer, a slow first chunk of a stream), it goes out on its own then. Nothing
else changes: bytes, their order and flow control are uvicorn's.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cairn.server.requests import RAW_TARGET

_RESPONSE_START = b"HTTP/1.1 "


class _CoalescingTransport:
    """A transport that holds back a response head until the next write (or the loop's turn)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif bytes(data[: len(_RESPONSE_START)]) == _RESPONSE_START:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()  # a held answer goes before the end of the stream, never after it
        if self._transport.can_write_eof():
            self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        # Everything else (pause_reading, is_closing, get_extra_info, ...) is the transport's.
        return getattr(self._transport, name)


# A request's line and headers: nginx's default buffers hold 32 KiB; every Cairn request's
# are well under 2 KiB. Past this the connection is answered 431 and closed, before httptools
# has buffered more of it.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
# Seconds a request's line and headers may take from the connection's start (or the last
# answer's end), and the longest pause while its body comes in: nginx's client_header_timeout
# and client_body_timeout. A client that sends a little and then nothing holds no connection
# for longer; a slow but steady upload is never cut.
REQUEST_TIMEOUT = 60.0


def _closing_answer(status: str, code: str, detail: str) -> bytes:
    """A whole error answer, written before the app saw the request, that closes the connection."""
    body = json.dumps({"error": code, "detail": detail}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_HEAD_TOO_LARGE = _closing_answer(
    "431 Request Header Fields Too Large",
    "too_large",
    f"the request's line and headers exceed {MAX_HEAD_BYTES} bytes",
)
_TIMED_OUT = _closing_answer("408 Request Timeout", "timeout", "the request did not arrive in time")
_BAD_REQUEST = _closing_answer(
    "400 Bad Request", "bad_request", "the request is not valid HTTP/1.1"
)
_TOO_MANY_HEADERS = _closing_answer(
    "400 Bad Request", "bad_request", f"a request has at most {MAX_HEADERS} header lines"
)
_NOT_IMPLEMENTED = _closing_answer(
    "501 Not Implemented",
    "not_implemented",
    "the only transfer coding this server takes is chunked, alone",
)
_UNSUPPORTED_ENCODING = _closing_answer(
    "415 Unsupported Media Type",
    "unsupported_encoding",
    "request bodies are not content-coded here (Content-Encoding: identity only)",
)
# After an answer that closes the connection, what the client still sends is read and dropped
# for this long, so that closing does not reset the connection before the client has read the
# answer (a close with unread data sends a TCP reset, which may destroy what was sent).
LINGER = 2.0
_END_OF_HEAD = b"\r\n\r\n"
# A chunked body is fed to the parser in pieces of at most this much, so that the head of a
# request pipelined after it is counted from at most this many bytes before its start.
_CHUNKED_PIECE = 16 * 1024


class Refused(Exception):
    """Raised from a parser callback that set `_refusal`: the parser stops, and uvicorn's
    handling of a parser error sends that answer (`send_400_response`)."""


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with three additions:

    - a response's head and body in one write (`_CoalescingTransport`, above);
    - the request target as it came in the request line, which ASGI's parsed path and query do
      not keep (`/x?` and `/x` give the same pair): the signature covers what was sent;
    - limits uvicorn does not set: at most MAX_HEAD_BYTES and MAX_HEADERS of head, and
      REQUEST_TIMEOUT seconds for a request's head, and as the longest pause in its body
      (else 408), so that a client that sends huge headers, or a little and then nothing,
      costs neither memory nor a connection for long. Every refusal of this layer is the
      protocol's JSON error, and closes the connection only after a linger (`_refuse`).
    """

    request_timeout = REQUEST_TIMEOUT
    _head_bytes = 0  # bytes of the current head fed to the parser so far
    _in_head = True  # from the end of a request (or the connection's start) to its headers' end
    _body_left: int | None = None  # a Content-Length body's bytes not yet parsed
    _refusal: bytes | None = None  # the answer a parser callback refused the request with
    _lingering: asyncio.TimerHandle | None = None
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = _CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser so that a head is measured exactly, however it arrives: in head
        state up to the end of the head (or one byte past the limit), in body state up to the
        end of a Content-Length body, so that the next head starts a piece of its own."""
        if self._lingering is not None:
            return  # answered and closing: the rest is dropped
        if not self._in_head and self._deadline is not None:
            self._start_deadline()  # the body is moving: only a pause counts
        while data and self._lingering is None and not self.transport.is_closing():
            chunked = not self._in_head and self._body_left is None
            if self._in_head:
                room = MAX_HEAD_BYTES - self._head_bytes
                tail = self._head_tail
                end = (tail + data[:room]).find(_END_OF_HEAD)
                if end < 0 and len(data) > room:
                    self._refuse(_HEAD_TOO_LARGE)
                    return
                size = end + len(_END_OF_HEAD) - len(tail) if end >= 0 else len(data)
                piece, data = data[:size], data[size:]
                self._head_bytes += len(piece)
                self._head_tail = (tail + piece)[-3:]
            else:
                size = self._body_left or _CHUNKED_PIECE
                piece, data = data[:size], data[size:]
            self._feed(piece)
            if chunked and self._in_head:
                # A chunked body ended inside `piece`: what followed it there, of unknown
                # length, may be the next head's start. Counted in full, never less.
                self._head_bytes = len(piece)
                self._head_tail = piece[-3:]

    _head_tail = b""  # the last bytes of the current head, where a terminator may begin

    def _feed(self, piece: bytes) -> None:
        super().data_received(piece)

    def send_400_response(self, msg: str) -> None:
        """A request the parser refused: the JSON answer of PROTOCOL.md section 8, and close."""
        refusal, self._refusal = self._refusal, None
        self._refuse(refusal or _BAD_REQUEST)

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= MAX_HEADERS:
            self._refusal = _TOO_MANY_HEADERS
            raise Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        refusal = _transfer_coding_refusal(self.headers) or _content_coding_refusal(self.headers)
        if refusal is not None:
            self._refusal = refusal
            raise Refused
        self._in_head = False
        self._body_left = _content_length(self.headers)
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RAW_TARGET] = bytes(self.url)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._body_left is not None:
            self._body_left -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_deadline()
        self._in_head = True  # whatever comes next is the next request's head
        self._head_bytes = 0
        self._head_tail = b""
        self._body_left = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._start_deadline()  # for the next request on this connection

    def _start_deadline(self) -> None:
        self._stop_deadline()
        if self.request_timeout <= 0:  # 0: no limit
            return
        self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            return  # the app is answering: its own limits apply
        if not self._in_head and self.flow.read_paused:
            # The server stopped reading (a body waiting for a slot, a pipelined request
            # waiting for the one before): no pause of the client's. Reading resumes when
            # the app asks for the body, and from then on its pauses count again.
            self._start_deadline()
            return
        self._refuse(_TIMED_OUT)

    def _refuse(self, answer: bytes) -> None:
        """Answer `answer` unless a response has begun, and close the connection once the
        client has had LINGER seconds to read it (or closes its end first)."""
        if self.transport.is_closing() or self._lingering is not None:
            return
        self._stop_deadline()
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(answer)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # a handler reading the body sees its client gone
            cycle.message_event.set()
        self.transport.write_eof()
        self.flow.resume_reading()  # read and drop what still comes, rather than reset
        self._lingering = self.loop.call_later(LINGER, self.transport.close)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """A body's length by its Content-Length, or None (chunked, or for the parser to refuse)."""
    lengths = [value for name, value in headers if name == b"content-length"]
    if len(lengths) != 1 or any(name == b"transfer-encoding" for name, _ in headers):
        return None
    text = lengths[0].strip(b" \t")
    return int(text) if text.isdigit() else None


def protocol_class(request_timeout: float) -> type[CoalescingHttpToolsProtocol]:
    """The protocol for uvicorn's `http`, with the server's request timeout."""
    return type(
        "BackupdHttpProtocol", (CoalescingHttpToolsProtocol,), {"request_timeout": request_timeout}
    )


def _content_coding_refusal(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The answer to a request body said to be content-coded (`gzip`, ...), or None.

    Nothing here decodes a body, and a signature covers the bytes as sent: a coded body would
    be read as the JSON it is not. RFC 9110 section 15.5.16: 415.
    """
    codings = [
        coding.strip(b" \t").lower()
        for name, value in headers
        if name == b"content-encoding"
        for coding in value.split(b",")
    ]
    if all(coding in (b"identity", b"") for coding in codings):
        return None
    return _UNSUPPORTED_ENCODING


def _transfer_coding_refusal(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The answer to a Transfer-Encoding other than exactly `chunked` (in any case), or None.

    Without `chunked` last the body has no length (RFC 9112 section 6.3: 400). With codings
    before it (`gzip, chunked`) the parser would frame the body by `chunked` and ignore the
    rest, reading the body as something it is not: 501, as RFC 9112 section 6.1 advises.
    """
    codings = [
        coding.strip(b" \t").lower()
        for name, value in headers
        if name == b"transfer-encoding"
        for coding in value.split(b",")
    ]
    if not codings or codings == [b"chunked"]:
        return None
    return _NOT_IMPLEMENTED if codings[-1] == b"chunked" else _BAD_REQUEST
