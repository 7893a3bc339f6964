"""An export line is exactly the compact JSON of the object, whatever its key, version, value."""

from __future__ import annotations

import base64
import json

import pytest

from cairn.wire.export import export_line, parse_export_line
from cairn.wire.messages import StoredObject


@pytest.mark.parametrize(
    ("key", "version", "write_id", "value"),
    [
        ("ab" * 32, 1, "0f" * 16, b"sealed"),
        ("0" * 64, 2**63 - 1, None, bytes(range(256)) * 9),
        ("f" * 64, 7, "1" * 32, b""),
        ('not a "key"\\', 3, None, b"x"),  # never accepted by the API; escaped all the same
    ],
)
def test_an_export_line_is_the_compact_json_of_the_object(
    key: str, version: int, write_id: str | None, value: bytes
) -> None:
    expected = {
        "key": key,
        "version": version,
        "write_id": write_id,
        "value": base64.b64encode(value).decode(),
    }
    line = export_line(StoredObject(key, version, write_id, value))
    assert line == json.dumps(expected, separators=(",", ":")).encode() + b"\n"
    assert json.loads(line) == expected
    if key != 'not a "key"\\':
        assert parse_export_line(line.rstrip(b"\n")) == StoredObject(key, version, write_id, value)
