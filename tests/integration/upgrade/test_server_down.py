"""The upgrade's full backup while the backup server is down: the wallet stays usable, the full
backup stays required and is retried, and once it went through a restore brings everything back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.backup.restore import RestoreOutcome
from cairn.backup.status import BackupState
from cairn.config import load_config, save_config
from cairn.onboarding import WalletPresence
from cairn.session import Session, SessionError
from cairn.upgrade import FULL_BACKUP_REASON, detect_format
from cairn.upgrade.compare import compare_wallets
from tests.integration.upgrade.helpers import FIXTURE, INPUTS, NETWORK, REPORT, copy_fixture
from tests.support.backupd import BackupServer
from tests.support.waiting import eventually as wait_for

RETRY_TIMEOUT = 30.0


def configure(data_dir: Path, backup_url: str) -> None:
    config = load_config(data_dir).with_changes(
        network=NETWORK, backup_server_url=backup_url, esplora_url="http://127.0.0.1:9"
    )
    save_config(data_dir, config)


@pytest.mark.asyncio
async def test_full_backup_is_retried_until_the_server_is_back(
    tmp_path: Path, backupd: BackupServer
) -> None:
    data_dir = tmp_path / "data"
    wallet_dir = copy_fixture(data_dir)
    configure(data_dir, backupd.url)
    backupd.stop()

    session = await Session.open(data_dir, backup_timeout=2.0)  # migrates the format-1 dir
    try:
        assert detect_format(wallet_dir) == 2
        assert await session.presence() is WalletPresence.NEEDS_FULL_BACKUP
        with pytest.raises(SessionError, match="could not be reached"):
            await session.run_full_backup()
        status = session.backup_status.current
        assert status.full_backup_reason == FULL_BACKUP_REASON
        assert status.state is BackupState.OFFLINE
        assert await session.presence() is WalletPresence.NEEDS_FULL_BACKUP

        # The wallet is usable meanwhile: balance, history, a new address.
        wallet = session.wallet
        assert wallet.balance().total_sat == REPORT["balance_sat"]
        assert len(wallet.history()) == 7
        address = await wallet.next_receive_address()
        assert address.index == len(REPORT["address"])
        assert session.email == INPUTS["settings"]["email"]

        # The background uploader keeps retrying; the server comes back; the backup completes.
        await session.start()
        uploader = session._require_service().uploader
        # Two rounds tried and failed while the server is down: still owed, not given up.
        await wait_for(lambda: uploader.backoff.failures >= 2, RETRY_TIMEOUT)
        assert session.backup_status.current.full_backup_reason == FULL_BACKUP_REASON
        backupd.start()
        await wait_for(
            lambda: session.backup_status.current.full_backup_reason is None, RETRY_TIMEOUT
        )
        await wait_for(lambda: session.backup_status.current.pending_changes == 0, RETRY_TIMEOUT)
        assert await session.presence() is WalletPresence.READY
    finally:
        await session.close()

    # Wipe, restore from the words alone, and compare with the legacy wallet.
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    configure(restored_dir, backupd.url)
    restored = await Session.open(restored_dir)
    try:
        result = await restored.restore(INPUTS["mnemonic"].split())
        assert result.outcome is RestoreOutcome.RESTORED
        assert await restored.presence() is WalletPresence.READY  # a restore never owes one
        assert (restored.wallet_dir / "format").read_text() == "2\n"
        assert restored.wallet.revealed_index() == address.index
    finally:
        await restored.close()
    legacy_dir = FIXTURE / "data" / "wallets" / NETWORK.value
    comparison = compare_wallets(legacy_dir, restored.wallet_dir, NETWORK)
    assert comparison.problems == []
