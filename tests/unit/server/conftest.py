"""An in-process cairn-backupd (SQLite in tmp_path) reached through httpx's ASGI transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cairn.server.app import create_app
from cairn.server.config import Limits, Settings
from tests.support.signing import SignedClient

ApiFactory = Callable[..., contextlib.AbstractAsyncContextManager[SignedClient]]


@pytest.fixture
def make_api(tmp_path: Path) -> ApiFactory:
    """make_api(**limits) -> async context manager giving a SignedClient on a fresh server."""

    @contextlib.asynccontextmanager
    async def open_api(**limits: Any) -> AsyncIterator[SignedClient]:
        settings = Settings(
            db=str(tmp_path / "backupd.sqlite"), limits=Limits(**{"rate_limit": 0, **limits})
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://backupd.test"
            ) as http:
                yield SignedClient(http)

    return open_api
