"""The pure pieces of the abuse controls: token buckets, forwarded addresses, settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.server.cli import build_parser, settings_from
from cairn.server.config import from_env
from cairn.server.limits import address_key
from cairn.server.proxies import TrustedProxies
from cairn.server.ratelimit import TokenBuckets
from cairn.server.registration import read_allowlist


def test_a_bucket_grants_its_capacity_then_refills_at_its_rate() -> None:
    buckets = TokenBuckets(3, 60)  # one token every 20 s
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(20.0)
    assert buckets.take("b", 0.0) == 0.0  # keys are independent
    assert buckets.take("a", 10.0) == pytest.approx(10.0)
    assert buckets.take("a", 20.0) == 0.0
    assert buckets.take("a", 20.0) > 0


def test_buckets_of_idle_keys_are_forgotten() -> None:
    buckets = TokenBuckets(2, 10)
    for i in range(100):
        buckets.take(f"k{i}", 0.0)
    assert len(buckets) == 100
    buckets.take("late", 11.0)  # everyone else is full again by now
    assert len(buckets) == 1


def test_forwarded_addresses_are_read_from_the_right() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1/32"])
    assert proxies.client_of("127.0.0.1", "198.51.100.1") == "198.51.100.1"
    # What the client wrote itself (left of the first untrusted hop) is not believed.
    assert proxies.client_of("127.0.0.1", "1.2.3.4, 198.51.100.1") == "198.51.100.1"
    assert proxies.client_of("127.0.0.1", "198.51.100.1, 10.1.2.3") == "198.51.100.1"
    # Only proxies all the way: the leftmost is the best there is.
    assert proxies.client_of("127.0.0.1", "10.0.0.5, 10.0.0.6") == "10.0.0.5"
    # Garbage stops the walk at the last hop that could be read.
    assert proxies.client_of("127.0.0.1", "198.51.100.1, junk, 10.0.0.7") == "10.0.0.7"
    assert proxies.client_of("127.0.0.1", "") == "127.0.0.1"
    assert proxies.client_of("127.0.0.1", " 2001:db8::1 ") == "2001:db8::1"
    assert proxies.is_trusted("10.9.9.9") and not proxies.is_trusted("11.0.0.1")
    assert not proxies.is_trusted("not an address")


def test_addresses_count_per_ipv4_address_and_ipv6_slash_64() -> None:
    assert address_key("198.51.100.1") == "198.51.100.1"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:198.51.100.1") == "198.51.100.1"
    assert address_key("::ffff:198.51.100.2") == "198.51.100.2"
    assert address_key("unknown") == "unknown"


def test_new_settings_come_from_flags_and_the_environment(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--trusted-proxy",
            "127.0.0.1",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--shutdown-timeout",
            "3",
            "--ip-rate-limit",
            "50",
        ]
    )
    settings = settings_from(args, {"CAIRN_BACKUPD_NEW_STORES_PER_IP": "4"})
    assert settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8")
    assert settings.shutdown_timeout == 3
    assert settings.limits.ip_rate_limit == 50 and settings.limits.new_stores_per_ip == 4
    assert settings.registration == "open"
    env = from_env(
        {
            "CAIRN_BACKUPD_TRUSTED_PROXIES": "::1, 192.0.2.0/24",
            "CAIRN_BACKUPD_REGISTRATION": "allowlist",
            "CAIRN_BACKUPD_ALLOWLIST": str(tmp_path / "ids"),
        }
    )
    assert env.trusted_proxies == ("::1/128", "192.0.2.0/24")
    assert env.registration == "allowlist" and env.allowlist == str(tmp_path / "ids")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CAIRN_BACKUPD_TRUSTED_PROXIES": "localhost"}, "is not an IP address or network"),
        ({"CAIRN_BACKUPD_REGISTRATION": "closed"}, "must be one of open, invite, allowlist"),
        ({"CAIRN_BACKUPD_REGISTRATION": "allowlist"}, "needs a file of node ids"),
        ({"CAIRN_BACKUPD_SHUTDOWN_TIMEOUT": "-1"}, "must not be negative"),
        ({"CAIRN_BACKUPD_IP_RATE_LIMIT": "lots"}, "must be a whole number"),
    ],
)
def test_bad_new_settings_are_refused_with_a_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_env(env)


def test_the_allowlist_file_takes_node_ids_and_comments_only(tmp_path: Path) -> None:
    node = "02" + "ab" * 32
    path = tmp_path / "allowlist"
    path.write_text(f"# ops team\n\n{node.upper()}   # laptop\n")
    assert read_allowlist(path) == frozenset({node})
    path.write_text(f"{node}\nsomeone@example.org\n")
    with pytest.raises(ValueError, match="allowlist:2: not a node id"):
        read_allowlist(path)
