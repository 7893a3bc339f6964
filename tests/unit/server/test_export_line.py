"""An export line is exactly the compact JSON of the object, whatever its key, version, value."""

from __future__ import annotations

import base64
import json

import pytest

from cairn.server.routes import export_line


@pytest.mark.parametrize(
    ("key", "version", "value"),
    [
        ("ab" * 32, 1, b"sealed"),
        ("0" * 64, 2**63 - 1, bytes(range(256)) * 9),
        ("f" * 64, 7, b""),
        ('not a "key"\\', 3, b"x"),  # never accepted by the API; escaped all the same
    ],
)
def test_an_export_line_is_the_compact_json_of_the_object(
    key: str, version: int, value: bytes
) -> None:
    expected = {"key": key, "version": version, "value": base64.b64encode(value).decode()}
    line = export_line(key, version, value)
    assert line == json.dumps(expected, separators=(",", ":")).encode() + b"\n"
    assert json.loads(line) == expected
