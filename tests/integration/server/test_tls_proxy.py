"""nginx from Debian terminating TLS in front of a real cairn-backupd, with the shipped config.

The wallet's own backup client speaks HTTPS to nginx on loopback (trusting a self-signed
certificate made here), backs up and restores; the server counts clients by the address nginx
forwards, and a client cannot choose that address itself.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cairn import httpclient
from cairn.backup.client import BackupUnreachable, RemoteBackupClient
from cairn.backup.restore import RestoreOutcome
from tests.integration.backup.helpers import (
    back_up_records,
    keys_for,
    records_of,
    restore_to,
    sample_records,
)
from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.postgres import free_port
from tests.support.signing import Node

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "packaging" / "server" / "nginx-cairn-backupd.conf"


def nginx_binary() -> str:
    """nginx, installed from Debian if it is missing and this is root (as scripts/test does)."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip(
            "nginx is not installed and installing it needs root (apt-get install nginx-light)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = subprocess.run(
        "apt-get update -qq && apt-get install -y -qq nginx-light",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if install.returncode != 0 or shutil.which("nginx") is None:
        pytest.skip(f"nginx could not be installed from Debian: {install.stderr.strip()[-300:]}")
    return str(shutil.which("nginx"))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for localhost and 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@dataclass
class Proxy:
    url: str
    cert: Path
    process: subprocess.Popen[bytes]
    error_log: Path


def site_for(
    backend: BackupServer, port: int, cert: Path, key: Path, body_limit: str = "24m"
) -> str:
    """The shipped site configuration, pointed at this test's server, port and certificate
    (`body_limit`: another client_max_body_size than the shipped one)."""
    site = SITE.read_text()
    replacements = {
        "client_max_body_size 24m;": f"client_max_body_size {body_limit};",
        "server 127.0.0.1:8470;": f"server 127.0.0.1:{backend.port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "listen [::]:443 ssl;": "",
        "server_name backup.example.org;": "server_name localhost;",
        "/etc/letsencrypt/live/backup.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/backup.example.org/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert old in site, f"the shipped nginx config no longer has {old!r}"
        site = site.replace(old, new)
    return site


def start_nginx(backend: BackupServer, base: Path, body_limit: str = "24m") -> Proxy:
    binary = nginx_binary()
    cert, key = self_signed(base)
    port = free_port()
    (base / "site.conf").write_text(site_for(backend, port, cert, key, body_limit))
    temp = base / "temp"
    temp.mkdir()
    user = "user root root;\n" if os.geteuid() == 0 else ""
    (base / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {base}/nginx.pid;\n"
        f"error_log {base}/error.log info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n  include {base}/site.conf;\n}}\n"
    )
    check = subprocess.run(
        [binary, "-t", "-p", str(base), "-c", str(base / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [binary, "-p", str(base), "-c", str(base / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy = Proxy(f"https://localhost:{port}", cert, process, base / "error.log")
    deadline = time.monotonic() + 30
    while True:
        try:
            if (
                httpx.get(proxy.url + "/healthz", verify=trusting(cert), timeout=2).status_code
                == 200
            ):
                return proxy
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = proxy.error_log.read_text() if proxy.error_log.exists() else ""
            raise RuntimeError(f"nginx did not come up:\n{log}")
        time.sleep(0.1)


NginxFactory = Callable[..., tuple[BackupServer, Proxy]]


@pytest.fixture
def nginx_in_front(backupd_factory: BackupdFactory, tmp_path: Path) -> Iterator[NginxFactory]:
    """start(body_limit="24m", **server_options): a real server that trusts 127.0.0.1, and
    nginx in front."""
    proxies: list[Proxy] = []

    def start(body_limit: str = "24m", **options: int) -> tuple[BackupServer, Proxy]:
        server = backupd_factory(env={"CAIRN_BACKUPD_TRUSTED_PROXIES": "127.0.0.1"}, **options)
        base = tmp_path / f"nginx{len(proxies)}"
        base.mkdir()
        proxies.append(start_nginx(server, base, body_limit))
        return server, proxies[-1]

    yield start
    for proxy in proxies:
        proxy.process.terminate()
        proxy.process.wait(30)


@pytest.fixture
def trusting_the_certificate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """trust(cert): the app's HTTP clients trust `cert`, as SSL_CERT_FILE makes them."""

    def trust(cert: Path) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        httpclient.tls_context.cache_clear()

    yield trust
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    httpclient.tls_context.cache_clear()


@pytest.mark.asyncio
async def test_the_backup_client_backs_up_and_restores_over_https(
    nginx_in_front: NginxFactory,
    trusting_the_certificate: Callable[[Path], None],
    tmp_path: Path,
) -> None:
    server, proxy = nginx_in_front()
    trusting_the_certificate(proxy.cert)
    records = sample_records(40)
    records["wallet/changeset/big"] = os.urandom(300_000)
    await back_up_records(tmp_path / "wallet.sqlite", records, proxy.url)
    target = tmp_path / "restored" / "records.sqlite"
    target.parent.mkdir()
    result = await restore_to(proxy.url, target)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    assert records_of(target) == records_of(tmp_path / "wallet.sqlite")
    # The store is on the server behind the proxy.
    stats = subprocess.run(
        [sys.executable, "-m", "cairn.server", "stats", "--db", server.db],
        capture_output=True,
        text=True,
        check=False,
    )
    assert '"stores": 1' in stats.stdout


@pytest.mark.asyncio
async def test_a_proxy_that_takes_smaller_bodies_gets_smaller_batches(
    nginx_in_front: NginxFactory,
    trusting_the_certificate: Callable[[Path], None],
    tmp_path: Path,
) -> None:
    # An operator kept nginx's own default body limit: Cairn's first batch (999 records of
    # 2 kB, about 2.8 MB) gets nginx's 413 page, which is not JSON.
    _, proxy = nginx_in_front(body_limit="1m")
    trusting_the_certificate(proxy.cert)
    records = sample_records(1500, size=2000)
    await back_up_records(tmp_path / "wallet.sqlite", records, proxy.url)
    target = tmp_path / "restored" / "records.sqlite"
    target.parent.mkdir()
    result = await restore_to(proxy.url, target)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    assert records_of(target) == records
    assert "client intended to send too large body" in proxy.error_log.read_text()


@pytest.mark.asyncio
async def test_a_client_that_does_not_trust_the_certificate_is_refused(
    nginx_in_front: NginxFactory,
    trusting_the_certificate: Callable[[Path], None],
    tmp_path: Path,
) -> None:
    _, proxy = nginx_in_front()
    other, _ = self_signed(tmp_path)  # another certificate than the one nginx presents
    trusting_the_certificate(other)
    async with RemoteBackupClient(proxy.url, keys_for(), "regtest") as client:
        with pytest.raises(BackupUnreachable):
            await client.store_info()


def test_the_server_counts_the_addresses_nginx_forwards(nginx_in_front: NginxFactory) -> None:
    _, proxy = nginx_in_front(ip_rate_limit=3)

    def client(address: str) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=address, verify=trusting(proxy.cert))
        return httpx.Client(transport=transport, timeout=30)

    store = proxy.url + Node().path()
    with client("127.0.0.2") as first, client("127.0.0.3") as second:
        assert [first.get(store).status_code for _ in range(3)] == [401] * 3
        assert first.get(store).status_code == 429
        # What a client writes in its own X-Forwarded-For changes nothing.
        spoofed = first.get(store, headers={"X-Forwarded-For": "198.51.100.7"})
        assert spoofed.status_code == 429
        # Another client behind the same proxy has a bucket of its own.
        assert second.get(store).status_code == 401
