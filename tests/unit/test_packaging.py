"""The desktop entry, the AppStream metainfo and the .deb layout are what desktops expect."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "org.cairnwallet.Cairn"


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_desktop_entry_validates():
    result = run("desktop-file-validate", str(ROOT / "resources" / f"{APP_ID}.desktop"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_metainfo_validates_offline():
    result = run(
        "appstreamcli", "validate", "--no-net", str(ROOT / "resources" / f"{APP_ID}.metainfo.xml")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_icons_exist_in_every_size():
    icons = ROOT / "resources" / "icons"
    assert (icons / "cairn.svg").read_text().lstrip().startswith("<?xml")
    for size in (16, 32, 48, 64, 128, 256, 512):
        png = (icons / f"cairn-{size}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(png[16:20], "big")
        assert width == size


def test_deb_installs_bundle_under_opt_with_launcher_and_desktop_files(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "cairn").write_text("#!/bin/sh\necho cairn\n")
    (bundle / "cairn").chmod(0o755)
    (bundle / "_internal").mkdir()
    (bundle / "_internal" / "lib.so").write_bytes(b"\0" * 10)
    out = tmp_path / "out"
    result = run(
        sys.executable,
        str(ROOT / "packaging" / "deb" / "build_deb.py"),
        "--bundle",
        str(bundle),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    deb = Path(result.stdout.strip().splitlines()[-1])
    contents = run("dpkg-deb", "--contents", str(deb)).stdout
    for path in (
        "./opt/cairn/cairn",
        "./opt/cairn/_internal/lib.so",
        "./usr/bin/cairn",
        f"./usr/share/applications/{APP_ID}.desktop",
        f"./usr/share/metainfo/{APP_ID}.metainfo.xml",
        f"./usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
        f"./usr/share/icons/hicolor/256x256/apps/{APP_ID}.png",
    ):
        assert path in contents, path
    assert (
        "rwxr-xr-x root/root"
        in [line for line in contents.splitlines() if line.endswith("./usr/bin/cairn")][0]
    )
    fields = run("dpkg-deb", "--field", str(deb), "Package", "Architecture").stdout
    assert "Package: cairn" in fields
