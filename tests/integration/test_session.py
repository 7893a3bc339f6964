"""The session against a real cairn-backupd and devnet: what the wizard's screens rely on."""

from __future__ import annotations

import asyncio

import pytest

from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.localstate import require_full_backup
from cairn.backup.restore import RestoreOutcome, RestorePhase, RestoreProgress
from cairn.config import AppConfig, load_config, save_config
from cairn.keys import Network, mnemonic_to_seed
from cairn.onboarding import WalletPresence
from cairn.session import Session, SessionError
from cairn.upgrade import CURRENT_FORMAT, detect_format
from cairn.walletlock import WalletBusy, WalletExists, WalletLock
from tests.support.words import WORDS as TEST_WORDS

WORDS = list(TEST_WORDS)
OTHER = ("abandon " * 11 + "about").split()


def data_dir(tmp_path, name, backup_url, devnet_url):
    path = tmp_path / name
    save_config(
        path,
        AppConfig(
            network=Network.REGTEST,
            backup_server_url=backup_url,
            esplora_url=devnet_url,
            devnet_url=devnet_url,
        ),
    )
    return path


@pytest.mark.asyncio
async def test_presence_follows_the_wallet_through_create_and_full_backup(
    tmp_path, backupd, devnet
):
    session = await Session.open(data_dir(tmp_path, "a", backupd.url, devnet.url))
    try:
        assert await session.presence() is WalletPresence.NONE
        await session.create_wallet(WORDS, email="carol@example.com")
        assert await session.presence() is WalletPresence.READY
        assert detect_format(session.wallet_dir) == CURRENT_FORMAT
        await asyncio.to_thread(require_full_backup, session._store, "upgraded")
        assert await session.presence() is WalletPresence.NEEDS_FULL_BACKUP
        seen: list[FullBackupProgress] = []
        await session.run_full_backup(seen.append)
        assert await session.presence() is WalletPresence.READY
        assert seen[-1].done == seen[-1].total > 0 and seen[-1].bytes_sent > 0
        assert session.backup_status.current.pending_changes == 0
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_restore_of_words_without_a_backup_leaves_no_wallet(tmp_path, backupd, devnet):
    session = await Session.open(data_dir(tmp_path, "b", backupd.url, devnet.url))
    try:
        result = await session.restore(OTHER)
        assert result.outcome is RestoreOutcome.NO_BACKUP
        assert not session.has_wallet
        assert not session.records_path.exists()
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_unreachable_server_is_an_outcome_and_a_failed_backup_an_error(
    tmp_path, backupd_factory, devnet
):
    server = backupd_factory(start=False)
    session = await Session.open(data_dir(tmp_path, "c", server.url, devnet.url))
    try:
        result = await session.restore(WORDS)
        assert result.outcome is RestoreOutcome.UNREACHABLE
        assert not session.has_wallet
        await session.create_wallet(WORDS)
        with pytest.raises(SessionError, match="could not be reached"):
            await session.run_initial_backup()
        server.start()
        await session.run_initial_backup()
        assert session.backup_status.current.pending_changes == 0
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_faucet_only_on_the_devnet(tmp_path, backupd, devnet):
    path = data_dir(tmp_path, "d", backupd.url, devnet.url)
    session = await Session.open(path)
    try:
        assert session.can_use_faucet
        await session.create_wallet(WORDS)
        address = (await session.wallet.next_receive_address()).address
        txid = await session.faucet(address, 50_000)
        await session.wallet.sync()
        assert [item.txid for item in session.wallet.history()] == [txid]
    finally:
        await session.close()
    save_config(path, AppConfig(network=Network.REGTEST, backup_server_url=backupd.url))
    session = await Session.open(path)
    assert not session.can_use_faucet
    with pytest.raises(SessionError):
        await session.faucet("bcrt1qxyz", 1)


@pytest.mark.asyncio
async def test_open_removes_what_an_interrupted_restore_left(tmp_path, backupd, devnet):
    path = data_dir(tmp_path, "e", backupd.url, devnet.url)
    staging = path / "wallets" / "regtest" / "records.sqlite.restore-staging"
    staging.parent.mkdir(parents=True)
    staging.write_bytes(b"half a restore")
    session = await Session.open(path)
    assert not staging.exists()
    assert await session.presence() is WalletPresence.NONE
    await session.close()


@pytest.mark.asyncio
async def test_the_wizard_neither_creates_nor_restores_a_wallet_another_program_is_making(
    tmp_path, backupd, devnet
):
    path = data_dir(tmp_path, "busy", backupd.url, devnet.url)
    session = await Session.open(path)
    staging = session.wallet_dir / "records.sqlite.restore-staging"
    try:
        with WalletLock.take(session.wallet_dir):
            staging.parent.mkdir(parents=True)
            staging.write_bytes(b"another program's restore, under way")
            with pytest.raises(WalletBusy, match="Another Cairn program is creating or restoring"):
                await session.create_wallet(WORDS)
            with pytest.raises(WalletBusy):
                await session.restore(WORDS)
            # Nor does a Cairn starting meanwhile take the other's staging file for a leftover.
            await (await Session.open(path)).close()
            assert staging.read_bytes() == b"another program's restore, under way"
            assert sorted(p.name for p in session.wallet_dir.iterdir()) == [staging.name]
        staging.unlink()
        await session.create_wallet(WORDS)  # once the other is done
        assert session.has_wallet
        with pytest.raises(WalletExists):
            await session.create_wallet(OTHER)
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_a_wallet_from_a_newer_cairn_is_refused_with_advice(tmp_path, backupd, devnet):
    path = data_dir(tmp_path, "f", backupd.url, devnet.url)
    wallet = path / "wallets" / "regtest"
    wallet.mkdir(parents=True)
    (wallet / "format").write_text("7\n")
    with pytest.raises(SessionError, match="newer Cairn"):
        await Session.open(path)


def first_address(seed: bytes) -> str:
    import bdkpython as bdk

    from cairn.keys import bip84_descriptors

    external, internal = bip84_descriptors(seed, Network.REGTEST)
    wallet = bdk.Wallet(
        bdk.Descriptor(external, bdk.NetworkKind.TEST),
        bdk.Descriptor(internal, bdk.NetworkKind.TEST),
        bdk.Network.REGTEST,
        bdk.Persister.new_in_memory(),
    )
    return str(wallet.peek_address(bdk.KeychainKind.EXTERNAL, 0).address)


@pytest.mark.asyncio
async def test_a_seed_saved_with_a_passphrase_opens_the_passphrase_wallet(
    tmp_path, backupd, devnet
):
    from cairn.keys import mnemonic_to_seed
    from cairn.seedfile import save_seed

    session = await Session.open(data_dir(tmp_path, "pp", backupd.url, devnet.url))
    try:
        session.wallet_dir.mkdir(parents=True, exist_ok=True)
        save_seed(session.wallet_dir, " ".join(WORDS), "correct horse")
        await session.open_existing()
        address = (await session.require_wallet().next_receive_address()).address
        assert address == first_address(mnemonic_to_seed(" ".join(WORDS), "correct horse"))
        assert address != first_address(mnemonic_to_seed(" ".join(WORDS)))
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_a_wallet_without_a_chain_server_is_refused_before_anything_is_written(
    tmp_path, backupd
):
    path = tmp_path / "nochain"
    save_config(path, AppConfig(network=Network.REGTEST, backup_server_url=backupd.url))
    session = await Session.open(path)
    try:
        with pytest.raises(SessionError, match="No chain server"):
            await session.create_wallet(WORDS)
        assert not session.has_wallet
        assert not session.wallet_dir.exists()
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_a_wallet_that_cannot_be_created_leaves_nothing_behind(tmp_path, backupd, devnet):
    session = await Session.open(data_dir(tmp_path, "late", backupd.url, devnet.url))
    # Creating fails at its last step, after the seed file and the records were written: the
    # format file cannot be put in place because a folder of that name is in the way (it was
    # there before, so it stays).
    in_the_way = session.wallet_dir / "format"
    in_the_way.mkdir(parents=True)
    (in_the_way / "kept.txt").write_text("not Cairn's")
    try:
        with pytest.raises(IsADirectoryError):
            await session.create_wallet(WORDS, email="late@example.com")
        assert not session.has_wallet
        assert sorted(p.name for p in session.wallet_dir.iterdir()) == ["format"]
        assert (in_the_way / "kept.txt").read_text() == "not Cairn's"
        # Nothing is left open either: a second try, with the folder gone, works.
        in_the_way.joinpath("kept.txt").unlink()
        in_the_way.rmdir()
        await session.create_wallet(WORDS)
        assert session.has_wallet
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_the_wizards_network_choice_is_saved_and_never_replaces_a_wallet(tmp_path, devnet):
    path = data_dir(tmp_path, "n", None, devnet.url)
    session = await Session.open(path)
    try:
        await session.create_wallet(WORDS)  # a regtest wallet
    finally:
        await session.close()
    save_config(path, AppConfig(network=Network.SIGNET))
    session = await Session.open(path)
    try:
        with pytest.raises(SessionError, match="already a regtest wallet"):
            await session.use_network(Network.REGTEST)
        assert load_config(path).network is Network.SIGNET
        await session.use_network(Network.TESTNET)
        assert session.network == "testnet"
        assert load_config(path).network is Network.TESTNET
        assert await session.presence() is WalletPresence.NONE
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_a_passphrase_wallet_is_backed_up_and_restored_only_with_its_passphrase(
    tmp_path, backupd, devnet, monkeypatch
):
    old = await Session.open(data_dir(tmp_path, "old", backupd.url, devnet.url))
    try:
        await old.create_wallet(WORDS, email="p@example.com", passphrase="TREZOR ünïcode")
        await old.run_initial_backup()
        # Reserved against other devices, so backed up before it is handed out.
        first_address = (await old.wallet.next_receive_address()).address
        assert old.has_passphrase
    finally:
        await old.close()
    plain = await Session.open(data_dir(tmp_path, "plain", backupd.url, devnet.url))
    try:
        # The words alone are another wallet: no backup of theirs, never the passphrase one's.
        result = await plain.restore(WORDS)
        assert result.outcome is RestoreOutcome.NO_BACKUP
        assert not plain.has_wallet
    finally:
        await plain.close()
    new = await Session.open(data_dir(tmp_path, "new", backupd.url, devnet.url))
    stretched: list[str] = []

    def counted(phrase: str, passphrase: str = "") -> bytes:
        stretched.append(passphrase)
        return mnemonic_to_seed(phrase, passphrase)

    # Every module that could stretch the words, wrapped so each stretch is counted.
    monkeypatch.setattr("cairn.wallet_restore.mnemonic_to_seed", counted)
    monkeypatch.setattr("cairn.session.mnemonic_to_seed", counted)
    progress: list[RestoreProgress] = []
    try:
        result = await new.restore(WORDS, progress.append, passphrase="TREZOR ünïcode")
        assert result.outcome is RestoreOutcome.RESTORED
        # The words are stretched once for the backup's keys and the wallet together.
        assert stretched == ["TREZOR ünïcode"]
        # The engine's reports arrive as they left it, byte counts included.
        assert [p.phase for p in progress][-1] is RestorePhase.DONE
        assert progress[-1].bytes_received == result.bytes > 0
        assert progress[-1].done == progress[-1].total == result.records
        assert new.email == "p@example.com"
        assert new.has_passphrase
        # The same keys: the first receive address is the old one's, and it is never handed
        # out again.
        fresh = await new.wallet.next_receive_address()
        assert fresh.address != first_address
        receive = [a for a in new.wallet.addresses() if a.keychain == "receive"]
        assert min(receive, key=lambda a: a.index).address == first_address
    finally:
        await new.close()
    again = await Session.open(tmp_path / "new")
    try:
        await again.open_existing()  # the passphrase is kept with the words in the seed file
        assert again.has_passphrase
        assert again.email == "p@example.com"
    finally:
        await again.close()
