"""The app's settings file `<data dir>/config.json` and where the data dir is.

Settings: network, backup server URL, Esplora URL, (devnet/regtest only) the devnet URL for
the faucet, and per network the block explorer a transaction opens in. Written atomically:
temp file, fsync, rename.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from cairn.files import make_private_dir, write_file_atomically
from cairn.invitecode import invite_problem, normalise_invite
from cairn.keys import Network

CONFIG_NAME = "config.json"
DATA_DIR_ENV = "CAIRN_DATA_DIR"

DEFAULT_ESPLORA: dict[Network, str | None] = {
    Network.BITCOIN: "https://blockstream.info/api",
    Network.TESTNET: "https://blockstream.info/testnet/api",
    Network.SIGNET: "https://mempool.space/signet/api",
    Network.REGTEST: None,  # no public regtest: use `cairn demo` or `cairn devnet`
}


class ConfigError(ValueError):
    """config.json cannot be read; the message names the file and what is wrong."""


# Where "Open in block explorer" goes; `{txid}` is replaced. None: no public explorer knows
# the chain (a local regtest), unless config.json's `explorer_urls` names one.
DEFAULT_EXPLORER: dict[Network, str | None] = {
    Network.BITCOIN: "https://mempool.space/tx/{txid}",
    Network.TESTNET: "https://mempool.space/testnet/tx/{txid}",
    Network.SIGNET: "https://mempool.space/signet/tx/{txid}",
    Network.REGTEST: None,
}


def check_explorer_template(template: str) -> str:
    """An explorer URL template as config.json may hold it; ConfigError saying what is wrong."""
    if not template.startswith(("https://", "http://")) or template.count("{txid}") != 1:
        raise ConfigError(
            "an explorer URL must start with https:// (or http://) and contain {txid} once, "
            'e.g. "https://mempool.space/tx/{txid}"'
        )
    rest = template.replace("{txid}", "")
    if "{" in rest or "}" in rest or any(c.isspace() for c in rest):
        raise ConfigError("an explorer URL may contain no spaces and no braces other than {txid}")
    return template


def explorer_link(template: str, txid: str) -> str:
    """The explorer page of ``txid`` (a plain replacement: the template is not a format string)."""
    return template.replace("{txid}", txid)


def resolve_data_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    """--data-dir, else $CAIRN_DATA_DIR, else the platform's user data dir."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("Cairn", appauthor=False))


@dataclass(frozen=True)
class AppConfig:
    network: Network = Network.BITCOIN
    backup_server_url: str | None = None
    # An invite code for a server that admits new wallets by invite only (cairn.invitecode).
    backup_invite: str | None = None
    esplora_url: str | None = None
    devnet_url: str | None = None  # set by `cairn demo`: enables the faucet on regtest
    # network name -> explorer URL template; "" turns the default off for that network
    explorer_urls: dict[str, str] = field(default_factory=dict)

    @property
    def chain_url(self) -> str | None:
        """The Esplora API the wallet syncs from: configured, else the network's default."""
        return self.esplora_url or DEFAULT_ESPLORA[self.network]

    @property
    def explorer_template(self) -> str | None:
        """The block explorer URL template of this network: configured, else the default."""
        configured = self.explorer_urls.get(self.network.value)
        if configured is not None:
            return configured or None
        return DEFAULT_EXPLORER[self.network]

    def with_changes(self, **changes: Any) -> AppConfig:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["network"] = self.network.value
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> AppConfig:
        value = data.get("network", Network.BITCOIN.value)
        known = [n.value for n in Network]
        if not isinstance(value, str) or value not in known:
            raise ConfigError(f"network must be one of {', '.join(known)}, not {value!r:.40}")
        network = Network(value)

        def text(name: str) -> str | None:
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name} must be a string")
            return value or None

        explorers = data.get("explorer_urls", {})
        if not isinstance(explorers, dict) or not all(
            isinstance(k, str) and k in known and isinstance(v, str) for k, v in explorers.items()
        ):
            raise ConfigError(
                "explorer_urls must map network names to URL templates, "
                'e.g. {"regtest": "http://127.0.0.1:5000/tx/{txid}"}'
            )
        for template in explorers.values():
            if template:
                check_explorer_template(template)
        invite = text("backup_invite") or ""
        problem = invite_problem(invite)
        if problem is not None:
            raise ConfigError(f"backup_invite is refused: {problem}")
        return AppConfig(
            network=network,
            backup_server_url=text("backup_server_url"),
            backup_invite=normalise_invite(invite) or None,
            esplora_url=text("esplora_url"),
            devnet_url=text("devnet_url"),
            explorer_urls=dict(explorers),
        )


FIX_CONFIG = "fix it or move it away (Cairn then starts with default settings)"


def load_config(data_dir: Path) -> AppConfig:
    """The settings in `<data dir>/config.json`, defaults when there is none; else ConfigError."""
    path = data_dir / CONFIG_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AppConfig()
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}); {FIX_CONFIG}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (a bad byte at offset {exc.start}); {FIX_CONFIG}"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg}); {FIX_CONFIG}") from exc
    except RecursionError as exc:
        raise ConfigError(
            f"{path} is not a Cairn settings file (nested too deeply); {FIX_CONFIG}"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a JSON object, not {type(data).__name__}; {FIX_CONFIG}"
        )
    try:
        return AppConfig.from_json(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}; {FIX_CONFIG}") from exc


def save_config(data_dir: Path, config: AppConfig) -> None:
    make_private_dir(data_dir)
    path = data_dir / CONFIG_NAME
    text = json.dumps(config.to_json(), indent=2, sort_keys=True) + "\n"
    write_file_atomically(path, text.encode("utf-8"))


def wallet_dir(data_dir: Path, network: Network) -> Path:
    return data_dir / "wallets" / network.value
