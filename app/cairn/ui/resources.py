"""Files shipped in cairn.resources: icons and the style sheet."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _root() -> Path:
    return Path(str(resources.files("cairn.resources")))


def icon_path(size: int = 256) -> Path:
    return _root() / "icons" / f"cairn-{size}.png"


def style_sheet() -> str:
    """The shared style sheet followed by the wizard's own rules."""
    parts = []
    for name in ("style.qss", "wizard.qss"):
        path = _root() / name
        if path.exists():
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)
