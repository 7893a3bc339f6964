"""The devnet's HTTP API: Esplora's read endpoints and broadcast, plus the controls of `controls`.

Handlers are plain functions, so Starlette runs them on its worker threads; the `Devnet` lock
serializes them against each other and against the block timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cairn.devnet import views
from cairn.devnet.blocks import Block
from cairn.devnet.chain import Chain, TxRejected, scripthash
from cairn.devnet.controls import control_routes
from cairn.devnet.service import Devnet
from cairn.devnet.txcodec import DecodeError, Tx, parse_tx_hex

log = logging.getLogger("cairn.devnet")

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
BLOCKS_PAGE = 10
BLOCK_TXS_PAGE = 25


class HTTPError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _hash_param(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not _HASH.match(value):
        raise HTTPError(400, "Invalid hex string")
    return value.lower()


def _int_param(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except ValueError:
        raise HTTPError(400, f"Invalid {name}") from None


def _text(value: object) -> PlainTextResponse:
    return PlainTextResponse(str(value))


def create_app(devnet: Devnet, *, block_interval: float = 0.0) -> Starlette:
    """The ASGI app over `devnet`; with `block_interval` > 0 it mines a block that often."""

    def get_block(chain: Chain, request: Request) -> Block:
        block = chain.block_by_hash(_hash_param(request, "hash"))
        if block is None:
            raise HTTPError(404, "Block not found")
        return block

    def get_tx(chain: Chain, request: Request) -> Tx:
        txid = _hash_param(request, "txid")
        tx = chain.txs.get(txid)
        if tx is None:
            raise HTTPError(404, "Transaction not found")
        return tx

    def script_hash_of(request: Request) -> str:
        if "address" in request.path_params:
            try:
                return scripthash(views.address_script(str(request.path_params["address"])))
            except ValueError as exc:
                raise HTTPError(400, str(exc)) from None
        return _hash_param(request, "scripthash")

    def reader(fn: Callable[[Chain, Request], Response]) -> Callable[[Request], Response]:
        """A read-only handler run under the chain lock, with errors mapped to Esplora's text."""

        def handler(request: Request) -> Response:
            try:
                with devnet.reading() as chain:
                    return fn(chain, request)
            except HTTPError as exc:
                return PlainTextResponse(exc.text, status_code=exc.status)

        return handler

    # ---- blocks -------------------------------------------------------------------------

    def tip_height(chain: Chain, request: Request) -> Response:
        return _text(chain.tip_height)

    def tip_hash(chain: Chain, request: Request) -> Response:
        return _text(chain.tip.hash)

    def blocks(chain: Chain, request: Request) -> Response:
        start = chain.tip_height
        if "height" in request.path_params:
            start = min(_int_param(request, "height"), chain.tip_height)
        heights = range(start, max(start - BLOCKS_PAGE, -1), -1)
        return JSONResponse([views.block_json(chain, chain.blocks[h]) for h in heights])

    def block_height(chain: Chain, request: Request) -> Response:
        height = _int_param(request, "height")
        if not 0 <= height <= chain.tip_height:
            raise HTTPError(404, "Block not found")
        return _text(chain.blocks[height].hash)

    def block(chain: Chain, request: Request) -> Response:
        return JSONResponse(views.block_json(chain, get_block(chain, request)))

    def block_status(chain: Chain, request: Request) -> Response:
        return JSONResponse(views.block_status_json(chain, get_block(chain, request)))

    def block_header(chain: Chain, request: Request) -> Response:
        return _text(get_block(chain, request).header.serialize().hex())

    def block_raw(chain: Chain, request: Request) -> Response:
        return Response(
            get_block(chain, request).serialize(), media_type="application/octet-stream"
        )

    def block_txids(chain: Chain, request: Request) -> Response:
        return JSONResponse([tx.txid for tx in get_block(chain, request).txs])

    def block_txid(chain: Chain, request: Request) -> Response:
        txs = get_block(chain, request).txs
        index = _int_param(request, "index")
        if not 0 <= index < len(txs):
            raise HTTPError(404, "Transaction not found")
        return _text(txs[index].txid)

    def block_txs(chain: Chain, request: Request) -> Response:
        txs = get_block(chain, request).txs
        start = _int_param(request, "start") if "start" in request.path_params else 0
        if start % BLOCK_TXS_PAGE or start < 0:
            raise HTTPError(400, f"start index must be a multiple of {BLOCK_TXS_PAGE}")
        page = txs[start : start + BLOCK_TXS_PAGE]
        return JSONResponse([views.tx_json(chain, tx) for tx in page])

    # ---- transactions -------------------------------------------------------------------

    def tx(chain: Chain, request: Request) -> Response:
        return JSONResponse(views.tx_json(chain, get_tx(chain, request)))

    def tx_status(chain: Chain, request: Request) -> Response:
        found = get_tx(chain, request)
        return JSONResponse(views.status_json(chain, found.txid))

    def tx_hex(chain: Chain, request: Request) -> Response:
        return _text(get_tx(chain, request).serialize().hex())

    def tx_raw(chain: Chain, request: Request) -> Response:
        return Response(get_tx(chain, request).serialize(), media_type="application/octet-stream")

    def tx_merkle_proof(chain: Chain, request: Request) -> Response:
        found = get_tx(chain, request)
        proof = views.merkle_proof_json(chain, found.txid)
        if proof is None:
            raise HTTPError(404, "Transaction not found")
        return JSONResponse(proof)

    def tx_outspend(chain: Chain, request: Request) -> Response:
        found = get_tx(chain, request)
        vout = _int_param(request, "vout")
        if not 0 <= vout < len(found.outputs):
            raise HTTPError(404, "Transaction output not found")
        return JSONResponse(views.outspend_json(chain, found.txid, vout))

    def tx_outspends(chain: Chain, request: Request) -> Response:
        found = get_tx(chain, request)
        return JSONResponse(
            [views.outspend_json(chain, found.txid, v) for v in range(len(found.outputs))]
        )

    # ---- scripts and addresses ----------------------------------------------------------

    def script_summary(chain: Chain, request: Request) -> Response:
        script_hash = script_hash_of(request)
        key = "address" if "address" in request.path_params else "scripthash"
        summary = {key: request.path_params[key], **views.script_stats_json(chain, script_hash)}
        return JSONResponse(summary)

    def script_txs(chain: Chain, request: Request) -> Response:
        txids = chain.scripthash_txs(script_hash_of(request))
        return JSONResponse([views.tx_json(chain, chain.txs[t]) for t in txids])

    def script_txs_chain(chain: Chain, request: Request) -> Response:
        script_hash = script_hash_of(request)
        if "last_seen" in request.path_params:
            txids = chain.scripthash_txs(script_hash, _hash_param(request, "last_seen"))
        else:
            txids = [t for t in chain.scripthash_txs(script_hash) if t in chain.confirmations]
        return JSONResponse([views.tx_json(chain, chain.txs[t]) for t in txids])

    def script_txs_mempool(chain: Chain, request: Request) -> Response:
        txids = chain.scripthash_txs(script_hash_of(request))
        pending = [t for t in txids if t not in chain.confirmations]
        return JSONResponse([views.tx_json(chain, chain.txs[t]) for t in pending])

    def script_utxo(chain: Chain, request: Request) -> Response:
        return JSONResponse(views.utxo_json(chain, script_hash_of(request)))

    # ---- mempool and fees ---------------------------------------------------------------

    def mempool(chain: Chain, request: Request) -> Response:
        return JSONResponse(views.mempool_json(chain))

    def mempool_txids(chain: Chain, request: Request) -> Response:
        return JSONResponse(list(chain.mempool))

    def mempool_recent(chain: Chain, request: Request) -> Response:
        recent = [chain.txs[t] for t in reversed(chain.mempool[-10:])]
        return JSONResponse(
            [
                {
                    "txid": t.txid,
                    "fee": chain.fee(t),
                    "vsize": t.vsize,
                    "value": sum(o.value for o in t.outputs),
                }
                for t in recent
            ]
        )

    def fee_estimates(request: Request) -> Response:
        return JSONResponse(devnet.fee_estimates())

    async def broadcast(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            tx = parse_tx_hex(body)
        except DecodeError:
            return _rpc_error(-22, "TX decode failed")
        try:
            txid = await anyio.to_thread.run_sync(devnet.broadcast, tx)
        except TxRejected as exc:
            return _rpc_error(exc.code, exc.reason)
        return _text(txid)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timer = asyncio.create_task(_mine_every(devnet, block_interval)) if block_interval else None
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer

    address_or_hash = ["/address/{address}", "/scripthash/{scripthash}"]
    script_routes = [
        route
        for prefix in address_or_hash
        for route in (
            Route(prefix, reader(script_summary)),
            Route(prefix + "/txs", reader(script_txs)),
            Route(prefix + "/txs/chain", reader(script_txs_chain)),
            Route(prefix + "/txs/chain/{last_seen}", reader(script_txs_chain)),
            Route(prefix + "/txs/mempool", reader(script_txs_mempool)),
            Route(prefix + "/utxo", reader(script_utxo)),
        )
    ]
    routes = [
        Route("/blocks/tip/height", reader(tip_height)),
        Route("/blocks/tip/hash", reader(tip_hash)),
        Route("/blocks", reader(blocks)),
        Route("/blocks/{height}", reader(blocks)),
        Route("/block-height/{height}", reader(block_height)),
        Route("/block/{hash}", reader(block)),
        Route("/block/{hash}/status", reader(block_status)),
        Route("/block/{hash}/header", reader(block_header)),
        Route("/block/{hash}/raw", reader(block_raw)),
        Route("/block/{hash}/txids", reader(block_txids)),
        Route("/block/{hash}/txid/{index}", reader(block_txid)),
        Route("/block/{hash}/txs", reader(block_txs)),
        Route("/block/{hash}/txs/{start}", reader(block_txs)),
        Route("/tx", broadcast, methods=["POST"]),
        Route("/tx/{txid}", reader(tx)),
        Route("/tx/{txid}/status", reader(tx_status)),
        Route("/tx/{txid}/hex", reader(tx_hex)),
        Route("/tx/{txid}/raw", reader(tx_raw)),
        Route("/tx/{txid}/merkle-proof", reader(tx_merkle_proof)),
        Route("/tx/{txid}/outspend/{vout}", reader(tx_outspend)),
        Route("/tx/{txid}/outspends", reader(tx_outspends)),
        *script_routes,
        Route("/mempool", reader(mempool)),
        Route("/mempool/txids", reader(mempool_txids)),
        Route("/mempool/recent", reader(mempool_recent)),
        Route("/fee-estimates", fee_estimates),
        *control_routes(devnet, block_interval),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _mine_every(devnet: Devnet, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(devnet.mine, 1)
        except Exception:  # a failed timer block must not stop the timer
            log.exception("timed block failed")


def _rpc_error(code: int, message: str) -> Response:
    """Esplora passes bitcoind's broadcast errors through as 400 text."""
    detail = json.dumps({"code": code, "message": message}, separators=(",", ":"))
    return PlainTextResponse(f"sendrawtransaction RPC error: {detail}", status_code=400)
