"""The bundle's certifi stand-in hands httpx the system's CA store."""

import importlib.util
import ssl
from pathlib import Path

import pytest

SHIM = (
    Path(__file__).resolve().parents[2] / "packaging" / "system_certifi" / "certifi" / "__init__.py"
)


def load_shim():
    spec = importlib.util.spec_from_file_location("system_certifi", SHIM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_where_is_the_systems_ca_bundle(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    shim = load_shim()
    path = Path(shim.where())
    assert path.is_file()
    assert "site-packages" not in str(path)  # not a frozen copy shipped with a library
    context = ssl.create_default_context(cafile=str(path))
    assert context.cert_store_stats()["x509_ca"] > 10
    assert shim.contents().startswith("-----BEGIN CERTIFICATE-----")


def test_ssl_cert_file_wins(monkeypatch, tmp_path):
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert load_shim().where() == str(bundle)


def test_no_ca_store_says_what_to_install(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    shim = load_shim()
    monkeypatch.setattr(shim, "SYSTEM_BUNDLES", ())
    monkeypatch.setattr(
        shim.ssl,
        "get_default_verify_paths",
        lambda: ssl.DefaultVerifyPaths(None, None, "", "", "", ""),
    )
    with pytest.raises(FileNotFoundError, match="ca-certificates"):
        shim.where()
