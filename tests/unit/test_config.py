"""config.json: defaults, round trip, atomic write and clear errors."""

from __future__ import annotations

import stat

import pytest

from cairn.config import (
    AppConfig,
    ConfigError,
    load_config,
    resolve_data_dir,
    save_config,
    wallet_dir,
)
from cairn.keys import Network


def test_missing_file_gives_defaults(tmp_path):
    config = load_config(tmp_path)
    assert config.network is Network.BITCOIN
    assert config.backup_server_url is None
    assert config.chain_url == "https://blockstream.info/api"


def test_round_trip_and_private_mode(tmp_path):
    config = AppConfig(
        network=Network.REGTEST,
        backup_server_url="http://127.0.0.1:8470",
        esplora_url="http://127.0.0.1:3002",
        devnet_url="http://127.0.0.1:3002",
    )
    save_config(tmp_path, config)
    assert load_config(tmp_path) == config
    assert stat.S_IMODE((tmp_path / "config.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left


@pytest.mark.parametrize("text", ["{", "[]", '{"network": "dogecoin"}', '{"backup_server_url": 5}'])
def test_bad_files_are_named_in_the_error(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=r"config\.json"):
        load_config(tmp_path)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("CAIRN_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("CAIRN_DATA_DIR")
    assert resolve_data_dir(None).name == "Cairn"


def test_wallet_dir_layout(tmp_path):
    assert wallet_dir(tmp_path, Network.REGTEST) == tmp_path / "wallets" / "regtest"


def test_explorer_templates_default_per_network_and_none_on_regtest(tmp_path):
    assert AppConfig().explorer_template == "https://mempool.space/tx/{txid}"
    assert AppConfig(network=Network.SIGNET).explorer_template == (
        "https://mempool.space/signet/tx/{txid}"
    )
    assert AppConfig(network=Network.REGTEST).explorer_template is None
    (tmp_path / "config.json").write_text(
        '{"network": "regtest", "explorer_urls": '
        '{"regtest": "http://127.0.0.1:5000/tx/{txid}", "bitcoin": ""}}'
    )
    config = load_config(tmp_path)
    assert config.explorer_template == "http://127.0.0.1:5000/tx/{txid}"
    assert config.with_changes(network=Network.BITCOIN).explorer_template is None  # turned off
    save_config(tmp_path, config)
    assert load_config(tmp_path) == config


@pytest.mark.parametrize(
    "urls",
    [
        '{"regtest": "javascript:alert({txid})"}',
        '{"regtest": "https://example.org/tx/"}',
        '{"regtest": "https://example.org/{txid}/{0}"}',
        '{"regtest": "https://example.org/{txid}/{txid.__class__}"}',
        '{"regtest": "https://example.org/tx /{txid}"}',
        '{"dogecoin": "https://example.org/{txid}"}',
        '["https://example.org/{txid}"]',
    ],
)
def test_a_bad_explorer_template_is_refused_with_the_file_named(tmp_path, urls):
    (tmp_path / "config.json").write_text('{"network": "regtest", "explorer_urls": ' + urls + "}")
    with pytest.raises(ConfigError, match=r"config\.json.*explorer"):
        load_config(tmp_path)
