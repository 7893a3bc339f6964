"""Write a format-1 wallet directory, as the first release (before backups) did, with chosen content.

The first release used bdkpython directly: BDK's own SQLite persister (`wallet.sqlite`), the
phrase in a plain `seed.txt`, `settings.json` and BIP-329 `labels.jsonl`. This module repeats
what it did, against a devnet: faucet payments to fresh addresses, blocks, payments out,
addresses handed out but never paid, payments left in the mempool, and a final full scan.

The content comes from an inputs document (JSON, `LegacyInputs`); label references may name
what the run creates: `{funding[0]}` (txid of the first faucet payment), `{payment[0]}` (txid of
the first payment out), `{pending[0]}`, `{address[2]}` (the third receive address handed out).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bdkpython as bdk
import httpx

from cairn.files import make_private_dir, write_file_atomically
from cairn.keys import Network, validate_mnemonic
from cairn.upgrade.bdkdb import NETWORKS
from cairn.upgrade.formats import (
    LEGACY_FORMAT,
    LEGACY_LABELS,
    LEGACY_SEED,
    LEGACY_SETTINGS,
    LEGACY_WALLET_DB,
    write_format,
)

STOP_GAP = 20
_PLACEHOLDER = re.compile(r"\{(funding|payment|pending|address)\[(\d+)\]\}")


class LegacyWalletError(Exception):
    """The legacy wallet could not be written (bad inputs, devnet refused, directory in use)."""


@dataclass(frozen=True)
class Payment:
    address: str
    amount_sat: int
    fee_rate_sat_vb: float = 2.0


@dataclass(frozen=True)
class LegacyInputs:
    """Everything the generator needs; `to_json` is what INPUTS.json holds."""

    mnemonic: str
    network: str = "regtest"
    funding: list[int] = field(default_factory=lambda: [150_000, 250_000])
    blocks_after_funding: int = 1
    payments: list[Payment] = field(default_factory=list)
    blocks_after_payments: int = 1
    unused_addresses: int = 0
    pending_funding: list[int] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> LegacyInputs:
        known = {name for name in cls.__dataclass_fields__}
        values = {k: v for k, v in document.items() if k in known}
        values["payments"] = [Payment(**p) for p in document.get("payments", [])]
        try:
            return cls(**values)
        except TypeError as exc:
            raise LegacyWalletError(f"bad inputs: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LegacyWalletReport:
    """What was created: the txids and addresses the labels could refer to."""

    wallet_dir: Path
    funding: list[str] = field(default_factory=list)
    payment: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    address: list[str] = field(default_factory=list)
    tip_height: int = 0
    balance_sat: int = 0

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["wallet_dir"] = str(self.wallet_dir)
        return document


def legacy_descriptors(phrase: str, network: Network) -> tuple[bdk.Descriptor, bdk.Descriptor]:
    """The BIP84 descriptors as the first release built them (bdkpython's own BIP32)."""
    kind = bdk.NetworkKind.MAIN if network is Network.BITCOIN else bdk.NetworkKind.TEST
    key = bdk.DescriptorSecretKey(kind, bdk.Mnemonic.from_string(phrase), None)
    return (
        bdk.Descriptor.new_bip84(key, bdk.KeychainKind.EXTERNAL, kind),
        bdk.Descriptor.new_bip84(key, bdk.KeychainKind.INTERNAL, kind),
    )


class _Devnet:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=30.0)

    def faucet(self, address: str, sat: int) -> str:
        return str(self._post("/devnet/faucet", {"address": address, "amount_sat": sat})["txid"])

    def mine(self, blocks: int) -> None:
        if blocks > 0:
            self._post("/devnet/mine", {"blocks": blocks})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise LegacyWalletError(f"the devnet at {self.url} cannot be reached ({exc})") from None
        if response.status_code != 200:
            raise LegacyWalletError(f"the devnet refused {path}: {response.text[:200]}")
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self._http.close()


def create_legacy_wallet(
    wallet_dir: Path | str, inputs: LegacyInputs, devnet_url: str
) -> LegacyWalletReport:
    """Write a format-1 wallet directory with the content `inputs` asks for, funded on a devnet."""
    directory = Path(wallet_dir)
    if directory.exists() and any(directory.iterdir()):
        raise LegacyWalletError(f"{directory} is not empty; choose a new directory")
    try:
        network = Network(inputs.network)
        phrase = validate_mnemonic(inputs.mnemonic)
    except ValueError as exc:
        raise LegacyWalletError(f"bad inputs: {exc}") from None
    make_private_dir(directory)
    report = LegacyWalletReport(directory)
    devnet = _Devnet(devnet_url)
    try:
        _run(directory, inputs=inputs, network=network, phrase=phrase, devnet=devnet, report=report)
    finally:
        devnet.close()
    settings = {"network": network.value, "esplora_url": devnet.url, **inputs.settings}
    write_file_atomically(
        directory / LEGACY_SETTINGS, (json.dumps(settings, indent=2) + "\n").encode(), 0o644
    )
    labels = [_resolve_label(label, report) for label in inputs.labels]
    lines = "".join(json.dumps(label, ensure_ascii=False) + "\n" for label in labels)
    write_file_atomically(directory / LEGACY_LABELS, lines.encode(), 0o644)
    write_file_atomically(directory / LEGACY_SEED, (phrase + "\n").encode(), 0o600)
    write_format(directory, LEGACY_FORMAT)
    return report


def _run(
    directory: Path,
    *,
    inputs: LegacyInputs,
    network: Network,
    phrase: str,
    devnet: _Devnet,
    report: LegacyWalletReport,
) -> None:
    external, internal = legacy_descriptors(phrase, network)
    persister = bdk.Persister.new_sqlite(str(directory / LEGACY_WALLET_DB))
    os.chmod(directory / LEGACY_WALLET_DB, 0o600)
    wallet = bdk.Wallet(external, internal, NETWORKS[network.value], persister)
    client = bdk.EsploraClient(devnet.url)

    def hand_out_address() -> str:
        address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
        wallet.persist(persister)
        report.address.append(address)
        return address

    def scan() -> None:
        update = client.full_scan(wallet.start_full_scan().build(), STOP_GAP, 1)
        wallet.apply_update(update)
        wallet.persist(persister)

    for amount in inputs.funding:
        report.funding.append(devnet.faucet(hand_out_address(), amount))
    devnet.mine(inputs.blocks_after_funding)
    scan()
    for payment in inputs.payments:
        report.payment.append(_pay(wallet, persister, client, network, payment))
    if inputs.payments:
        devnet.mine(inputs.blocks_after_payments)
    for _ in range(inputs.unused_addresses):
        hand_out_address()
    for amount in inputs.pending_funding:
        report.pending.append(devnet.faucet(hand_out_address(), amount))
    # Give the devnet's clock a second so first-seen times differ from the blocks' times.
    time.sleep(0.01)
    scan()
    report.tip_height = wallet.latest_checkpoint().height
    report.balance_sat = wallet.balance().total.to_sat()


def _pay(
    wallet: bdk.Wallet,
    persister: bdk.Persister,
    client: bdk.EsploraClient,
    network: Network,
    payment: Payment,
) -> str:
    script = bdk.Address(payment.address, NETWORKS[network.value]).script_pubkey()
    rate = bdk.FeeRate.from_sat_per_kwu(round(payment.fee_rate_sat_vb * 250))
    psbt = (
        bdk.TxBuilder()
        .add_recipient(script, bdk.Amount.from_sat(payment.amount_sat))
        .fee_rate(rate)
        .finish(wallet)
    )
    if not wallet.sign(psbt):
        raise LegacyWalletError("the legacy wallet could not sign its payment")
    tx = psbt.extract_tx()
    client.broadcast(tx)
    wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=tx, last_seen=int(time.time()))])
    wallet.persist(persister)
    return str(tx.compute_txid())


def _resolve_label(label: dict[str, Any], report: LegacyWalletReport) -> dict[str, Any]:
    created: dict[str, list[str]] = {
        "funding": report.funding,
        "payment": report.payment,
        "pending": report.pending,
        "address": report.address,
    }

    def replace(match: re.Match[str]) -> str:
        values = created[match.group(1)]
        index = int(match.group(2))
        if index >= len(values):
            raise LegacyWalletError(f"label reference {match.group(0)} names nothing created")
        return values[index]

    return {k: _PLACEHOLDER.sub(replace, v) if isinstance(v, str) else v for k, v in label.items()}
