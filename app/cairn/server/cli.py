"""`cairn-backupd serve|migrate|stats|compact|invite|backup`: flags first, then CAIRN_BACKUPD_* env, then defaults."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from cairn import __version__
from cairn.server.config import (
    Limits,
    Settings,
    build_settings,
    default_db_path,
    env_name,
    limits_from,
    sqlite_path,
)

if TYPE_CHECKING:
    import uvicorn

LIMIT_HELP = {
    "max_object_bytes": "largest object value in bytes (default 4 MiB)",
    "max_batch_items": "most puts + deletes in one batch (default 1000)",
    "max_batch_bytes": "most value bytes in one batch (default 16 MiB)",
    "store_quota_bytes": "most value bytes one store may hold (default 512 MiB)",
    "rate_limit": "requests per node per window; 0 = unlimited (default 600)",
    "rate_window": "rate-limit window in seconds (default 60)",
    "ip_rate_limit": "requests per client address per window, before authentication; "
    "0 = unlimited (default 0)",
    "ip_rate_window": "window of --ip-rate-limit in seconds (default 60)",
    "new_stores_per_ip": "new stores one client address may create per day; 0 = unlimited "
    "(default 0)",
    "request_timeout": "seconds a request's headers may take, and the longest pause in its "
    "body, before it is answered 408; 0 = no limit (default 60)",
}


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        help="SQLite file path or postgresql:// URL "
        f"(env {env_name('db')}; default {default_db_path()})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cairn-backupd", description="The Cairn backup server.")
    parser.add_argument("--version", action="version", version=f"cairn-backupd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    _db_option(serve)
    serve.add_argument("--host", help=f"address to listen on (env {env_name('host')}; 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port (env {env_name('port')}; 8470)")
    serve.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help=f"log level (env {env_name('log_level')}; info)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help=f"server processes sharing the port, one core each (env {env_name('workers')}; 1)",
    )
    serve.add_argument(
        "--pg-pool-size",
        type=int,
        help=f"PostgreSQL connections (env {env_name('pg_pool_size')}; 20)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=int,
        help="seconds a stop waits for requests in flight before cancelling them "
        f"(env {env_name('shutdown_timeout')}; 10)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="a reverse proxy (address or CIDR network) whose X-Forwarded-For names the client; "
        f"repeatable (env {env_name('trusted_proxies')}, comma-separated; default none)",
    )
    serve.add_argument(
        "--registration",
        choices=["open", "invite", "allowlist"],
        help="who may create stores: anyone, holders of an invite (`cairn-backupd invite`), or "
        f"the node ids in --allowlist (env {env_name('registration')}; open)",
    )
    serve.add_argument(
        "--allowlist",
        metavar="FILE",
        help=f"file of node ids allowed to create stores, one per line (env {env_name('allowlist')})",
    )
    for f in fields(Limits):
        if f.name in LIMIT_HELP:
            serve.add_argument(
                "--" + f.name.replace("_", "-"),
                type=int,
                help=f"{LIMIT_HELP[f.name]} (env {env_name(f.name)})",
            )
    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    _db_option(migrate)
    stats = commands.add_parser("stats", help="print stores, objects and bytes as JSON")
    _db_option(stats)
    compact = commands.add_parser(
        "compact",
        help="drop tombstones older than a number of days; clients that last synced before "
        "them re-list their store once",
    )
    _db_option(compact)
    compact.add_argument(
        "--older-than-days",
        type=float,
        default=90.0,
        help="drop tombstones written more than this many days ago (default 90)",
    )
    invite = commands.add_parser(
        "invite",
        help="create invites for --registration invite; prints one per line",
    )
    _db_option(invite)
    invite.add_argument("--count", type=int, default=1, help="how many invites (default 1)")
    invite.add_argument(
        "--days", type=float, default=30.0, help="days until an unused invite expires (default 30)"
    )
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database while the server runs (online backup), mode 0600",
    )
    _db_option(backup)
    backup.add_argument("--to", required=True, metavar="PATH", help="the copy to write")
    return parser


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    flags = dict(vars(args))
    if flags.get("trusted_proxy") is not None:
        flags["trusted_proxies"] = ",".join(flags["trusted_proxy"])

    def pick(name: str, default: str) -> str:
        value = flags.get(name)
        return str(value) if value is not None else env.get(env_name(name), default)

    flag_limits = {f.name: flags.get(f.name) for f in fields(Limits)}
    return build_settings(pick, limits_from(flag_limits, env))


def serve(settings: Settings) -> int:
    from cairn.server.observability import configure_logging

    configure_logging(settings.log_level)
    if settings.workers == 1:
        _server(settings).run()
        return 0
    from cairn.server.workers import bind, supervise
    from cairn.server.writer_process import WriterProcess

    # Once, before any worker opens the database: workers never race a schema upgrade.
    asyncio.run(_migrate(settings))
    sock = bind(settings.host, settings.port)
    # On SQLite, one writer process takes every worker's writes (writer_process.py).
    writer = None if settings.is_postgres else WriterProcess(sqlite_path(settings.db))
    return supervise(
        settings.workers,
        sock,
        lambda s, link: _server(settings, link).run(sockets=[s]),
        writer,
    )


def _server(settings: Settings, writer_link: socket.socket | None = None) -> uvicorn.Server:
    import uvicorn

    from cairn.server.app import create_app
    from cairn.server.http_protocol import protocol_class

    backend = None
    if writer_link is not None:
        from cairn.server.sqlite_backend import SqliteBackend

        backend = SqliteBackend(sqlite_path(settings.db), writer_link=writer_link)
    config = uvicorn.Config(
        create_app(settings, backend, freeze_startup_objects=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,
        # The access log would print concrete paths, which carry object keys.
        access_log=False,
        # X-Forwarded-For is read by proxies.py, from --trusted-proxy peers only; uvicorn's own
        # handling would believe it from any process on loopback.
        proxy_headers=False,
        # One stalled client must not hold a stop (systemd's TimeoutStopSec is above this).
        timeout_graceful_shutdown=settings.shutdown_timeout,
        lifespan="on",
        server_header=False,
        # httptools, as "auto" would pick; a response's head and body in one write.
        http=protocol_class(float(settings.limits.request_timeout)),
    )
    return uvicorn.Server(config)


async def _migrate(settings: Settings) -> None:
    from cairn.server.app import make_backend

    backend = make_backend(settings)
    await backend.open()  # opening brings the schema up to date
    await backend.close()


async def _stats(settings: Settings) -> dict[str, int]:
    from cairn.server.app import make_backend

    backend = make_backend(settings)
    await backend.open()
    try:
        stats = await backend.stats()
    finally:
        await backend.close()
    return {"stores": stats.stores, "objects": stats.objects, "bytes": stats.bytes}


async def _invite(settings: Settings, count: int, days: float) -> list[str]:

    from cairn.server.app import make_backend
    from cairn.server.registration import invites_for

    backend = make_backend(settings)
    await backend.open()
    try:
        now = int(time.time())
        return await invites_for(backend).create(count, now + int(days * 86400), now)
    finally:
        await backend.close()


async def _compact(settings: Settings, older_than_days: float) -> int:

    from cairn.server.app import make_backend

    backend = make_backend(settings)
    await backend.open()
    try:
        return await backend.compact(int(time.time() - older_than_days * 86400))
    finally:
        await backend.close()


def _say_creating(command: str, directory: Path) -> None:
    if command != "serve":
        print(f"cairn-backupd: creating {directory} for the database", file=sys.stderr)
        return
    # The server's stderr is a stream of JSON lines from its first line on.
    line = {
        "ts": round(time.time(), 3),
        "level": "info",
        "logger": "cairn.server",
        "msg": "creating the database directory",
        "path": str(directory),
    }
    print(json.dumps(line, separators=(",", ":")), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args, os.environ)
        if not settings.is_postgres:
            path = sqlite_path(settings.db)
            if args.command in ("stats", "compact", "backup", "invite") and not path.is_file():
                raise ValueError(f"no database at {path} (check --db or {env_name('db')})")
            if args.command in ("serve", "migrate") and not path.parent.is_dir():
                _say_creating(args.command, path.parent)
        elif args.command == "backup":
            raise ValueError(
                "backup copies a SQLite database; for PostgreSQL use pg_dump or pg_basebackup "
                "(docs/OPERATIONS.md)"
            )
        if args.command == "serve" and settings.registration == "allowlist":
            from cairn.server.registration import read_allowlist

            try:
                read_allowlist(Path(settings.allowlist))
            except OSError as exc:
                raise ValueError(
                    f"cannot read the allowlist {settings.allowlist}: {exc.strerror}"
                ) from None
        if args.command == "invite" and (args.count < 1 or args.days <= 0):
            raise ValueError("--count must be at least 1 and --days above 0")
    except ValueError as exc:
        print(f"cairn-backupd: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings)
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("cairn-backupd: schema is up to date", file=sys.stderr)
    elif args.command == "invite":
        for token in asyncio.run(_invite(settings, args.count, args.days)):
            print(token)
        print(
            f"cairn-backupd: {args.count} invite(s), each admits one node, unused ones expire in "
            f"{args.days:g} days",
            file=sys.stderr,
        )
    elif args.command == "backup":
        import sqlite3

        from cairn.server.dbcopy import copy_database

        try:
            pages = copy_database(sqlite_path(settings.db), Path(args.to))
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            print(
                f"cairn-backupd: cannot copy the database to {args.to}: {reason}", file=sys.stderr
            )
            return 1
        print(json.dumps({"copied_to": args.to, "pages": pages}))
    elif args.command == "compact":
        if args.older_than_days < 0:
            print("cairn-backupd: --older-than-days must not be negative", file=sys.stderr)
            return 2
        dropped = asyncio.run(_compact(settings, args.older_than_days))
        print(json.dumps({"tombstones_dropped": dropped}))
    else:
        print(json.dumps(asyncio.run(_stats(settings))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
