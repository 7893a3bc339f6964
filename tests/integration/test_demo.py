"""`cairn demo`'s services: a devnet and a backup server on loopback, stopped on exit."""

from __future__ import annotations

import httpx

from cairn.config import load_config
from cairn.demo import DemoServices, demo_config
from cairn.keys import Network


def test_demo_services_start_answer_and_stop(tmp_path):
    with DemoServices(tmp_path / "demo") as services:
        assert httpx.get(services.backupd_url + "/healthz").json() == {"status": "ok"}
        assert int(httpx.get(services.devnet_url + "/blocks/tip/height").text) >= 0
        config = demo_config(tmp_path / "demo", services)
        children = [child for _name, child in services._children]
    assert all(child.poll() is not None for child in children)
    assert config == load_config(tmp_path / "demo")
    assert config.network is Network.REGTEST
    assert config.devnet_url == services.devnet_url
    # Next time the same ports are tried first, so the wallet keeps its backup server URL.
    with DemoServices(tmp_path / "demo") as again:
        assert again.backupd_url == services.backupd_url
