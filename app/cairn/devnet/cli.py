"""`cairn-devnet` (also `cairn devnet`): serve a simulated regtest chain over Esplora's API."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from cairn import __version__

DEFAULT_STATE = Path("devnet-state.sqlite")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cairn devnet",
        description="A local Esplora-compatible simulated regtest chain (faucet, mining, mempool).",
    )
    parser.add_argument("--version", action="version", version=f"cairn-devnet {__version__}")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3002, help="port to listen on")
    parser.add_argument(
        "--state",
        type=Path,
        default=DEFAULT_STATE,
        help=f"state file (SQLite), created if missing (default: ./{DEFAULT_STATE})",
    )
    parser.add_argument(
        "--block-interval",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="mine a block every SECONDS (default 0: only on demand)",
    )
    parser.add_argument(
        "--no-verify-signatures",
        dest="verify_signatures",
        action="store_false",
        help="accept P2WPKH inputs without checking their signatures",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level; 'debug' also logs every request",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.block_interval < 0:
        build_parser().error("--block-interval must be >= 0")
    # Imported here so `--help` stays fast and cheap.
    import uvicorn

    from cairn.devnet.app import create_app
    from cairn.devnet.service import Devnet

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    devnet = Devnet(args.state, verify_signatures=args.verify_signatures)
    app = create_app(devnet, block_interval=args.block_interval)
    logging.getLogger("cairn.devnet").info(
        "devnet at http://%s:%d, height %d, state %s",
        args.host,
        args.port,
        devnet.chain.tip_height,
        args.state,
    )
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=args.log_level == "debug",
        )
    finally:
        devnet.close()
    return 0
