"""At info level the client logs every request's store URL; the node id in it (a stable
identifier of the user) appears as its 8-character prefix only, as in the server's logs."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cairn import logredact
from cairn.commands import backup as commands
from cairn.exitcodes import EXIT_OK
from cairn.keys import derive_backup_keys, mnemonic_to_seed
from tests.integration.datadir_support import COMMANDS, cairn, write_settings
from tests.support.backupd import BackupServer
from tests.support.words import PHRASE


def test_store_urls_are_logged_with_the_node_id_cut_to_8_characters(
    backupd: BackupServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    write_settings(data, backupd.url)
    made = cairn([*COMMANDS["wallet create"], "--no-backup"], data)
    assert made.code == EXIT_OK, made.err
    node_id = derive_backup_keys(mnemonic_to_seed(PHRASE)).node_id

    logredact.install()  # what `cairn` and the app do before anything logs
    caplog.set_level(logging.INFO)
    with ThreadPoolExecutor(1) as worker:  # its own asyncio.run, away from pytest's loop
        code = worker.submit(commands.main, ["backup", "now", "--data-dir", str(data)]).result()
    assert code == EXIT_OK

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/v2/stores/" in logged  # the requests were logged, with their URLs
    assert node_id not in logged
    assert f"/v2/stores/{node_id[:8]}.../" in logged


def test_redact_cuts_node_ids_and_nothing_else() -> None:
    node = "03" + "ab" * 32
    assert (
        logredact.redact(f"GET /v2/stores/{node}/regtest") == "GET /v2/stores/03ababab.../regtest"
    )
    digest = "ab" * 32  # a 64-hex digest is not a node id: left as it is
    assert logredact.redact(digest) == digest
    longer = node + "ff"
    assert logredact.redact(longer) == longer
