"""The /devnet control endpoints: faucet, mining, reorgs, eviction, fee estimates, status.

JSON in and out; errors are `{"error": "bad_request" | "not_found", "detail": ...}`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cairn.devnet import views
from cairn.devnet.chain import FAUCET_SCRIPT
from cairn.devnet.service import Devnet

MAX_MINE = 1000


class BadRequest(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def control_routes(devnet: Devnet, block_interval: float) -> list[Route]:
    """Routes over `devnet`; `block_interval` is only reported by /devnet/status."""

    async def control_status(request: Request) -> Response:
        def read() -> dict[str, Any]:
            with devnet.reading() as chain:
                return {
                    "network": "regtest",
                    "height": chain.tip_height,
                    "tip": chain.tip.hash,
                    "mempool": len(chain.mempool),
                    "block_interval": block_interval,
                }

        return JSONResponse(await anyio.to_thread.run_sync(read))

    async def control_faucet(request: Request) -> Response:
        body = await _json_body(request)
        address = body.get("address")
        amount = body.get("amount_sat")
        if not isinstance(address, str) or not _is_positive_int(amount):
            return _json_error(400, 'expected {"address": str, "amount_sat": int > 0}')
        try:
            script = views.address_script(address)
            txid, block_hash = await anyio.to_thread.run_sync(
                lambda: devnet.faucet(script, amount, mine=bool(body.get("mine", False)))
            )
        except ValueError as exc:
            return _json_error(400, str(exc))
        return JSONResponse({"txid": txid, "block_hash": block_hash})

    async def control_mine(request: Request) -> Response:
        body = await _json_body(request)
        count = body.get("blocks", 1)
        if not _is_positive_int(count) or count > MAX_MINE:
            return _json_error(400, f"blocks must be an integer from 1 to {MAX_MINE}")
        script = FAUCET_SCRIPT
        if body.get("address") is not None:
            try:
                script = views.address_script(str(body["address"]))
            except ValueError as exc:
                return _json_error(400, str(exc))
        mined, height = await anyio.to_thread.run_sync(lambda: devnet.mine(count, script))
        return JSONResponse({"height": height, "hashes": [block.hash for block in mined]})

    async def control_reorg(request: Request) -> Response:
        body = await _json_body(request)
        depth = body.get("depth", 1)
        if not _is_positive_int(depth):
            return _json_error(400, "depth must be a positive integer")
        new_blocks = body.get("blocks", depth + 1)
        if not isinstance(new_blocks, int) or isinstance(new_blocks, bool) or new_blocks > MAX_MINE:
            return _json_error(400, f"blocks must be an integer from 0 to {MAX_MINE}")
        try:
            result = await anyio.to_thread.run_sync(devnet.reorg, depth, new_blocks)
        except ValueError as exc:
            return _json_error(400, str(exc))
        return JSONResponse(dataclasses.asdict(result))

    async def control_evict(request: Request) -> Response:
        body = await _json_body(request)
        txid = body.get("txid")
        if not isinstance(txid, str):
            return _json_error(400, 'expected {"txid": str}')
        try:
            dropped = await anyio.to_thread.run_sync(devnet.evict, txid.lower())
        except KeyError:
            return _json_error(404, "no such transaction in the mempool")
        return JSONResponse({"evicted": dropped})

    async def control_fees(request: Request) -> Response:
        body = await _json_body(request)
        try:
            curve = {int(k): float(v) for k, v in body.items()}
        except (TypeError, ValueError):
            curve = {}
        if not curve or any(t < 1 or r <= 0 for t, r in curve.items()):
            return _json_error(400, 'expected {"<blocks>": <sat/vB> > 0, ...}')
        return JSONResponse(await anyio.to_thread.run_sync(devnet.set_fee_estimates, curve))

    return [
        Route("/devnet/status", _control(control_status)),
        Route("/devnet/faucet", _control(control_faucet), methods=["POST"]),
        Route("/devnet/mine", _control(control_mine), methods=["POST"]),
        Route("/devnet/evict", _control(control_evict), methods=["POST"]),
        Route("/devnet/reorg", _control(control_reorg), methods=["POST"]),
        Route("/devnet/fee-estimates", _control(control_fees), methods=["PUT"]),
    ]


def _json_error(status: int, detail: str) -> Response:
    code = "bad_request" if status == 400 else "not_found"
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _is_positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body counts as `{}`)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    return body


def _control(
    fn: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Map BadRequest raised by a /devnet handler to a JSON error."""

    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except BadRequest as exc:
            return _json_error(exc.status, exc.detail)

    return handler
