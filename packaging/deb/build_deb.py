"""Build cairn_<version>_<arch>.deb from a PyInstaller one-folder bundle with dpkg-deb.

The package installs the bundle under /opt/cairn, a `cairn` launcher in /usr/bin, the desktop
entry, the AppStream metainfo and the icons into the places desktops look for them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "resources"
APP_ID = "org.cairnwallet.Cairn"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

LAUNCHER = """#!/bin/sh
exec /opt/cairn/cairn "$@"
"""

# Depends: what the bundle links from the system rather than carrying (checked with ldd over
# every library in it): glibc (2.36 is the newest symbol version the bundle uses, from the Debian
# 12 build machine), GL/EGL and libxcb. The Wayland libraries serve Qt's native Wayland window;
# without them Qt runs through XWayland.
CONTROL = """Package: cairn
Version: {version}
Section: utils
Priority: optional
Architecture: {arch}
Maintainer: The Cairn developers <dev@cairnwallet.org>
Installed-Size: {size_kib}
Depends: libc6 (>= 2.36), libgl1, libegl1, libxcb1, libxkbcommon0, libfontconfig1, libdbus-1-3, libxcb-cursor0
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1
Homepage: https://cairnwallet.org
Description: Bitcoin wallet that backs up every change, encrypted
 Cairn is a desktop Bitcoin wallet. Every change to the wallet is encrypted on
 this machine and backed up to a backup server; on a new machine the twelve seed
 words bring back funds, history, labels and preferences.
"""


def project_version() -> str:
    for line in (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise SystemExit("no version in pyproject.toml")


def debian_arch() -> str:
    out = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def install(src: Path, dest: Path, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    dest.chmod(mode)


def stage(root: Path, bundle: Path) -> None:
    shutil.copytree(bundle, root / "opt" / "cairn", symlinks=True)
    launcher = root / "usr" / "bin" / "cairn"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(LAUNCHER, encoding="utf-8")
    launcher.chmod(0o755)
    share = root / "usr" / "share"
    install(RESOURCES / f"{APP_ID}.desktop", share / "applications" / f"{APP_ID}.desktop")
    install(RESOURCES / f"{APP_ID}.metainfo.xml", share / "metainfo" / f"{APP_ID}.metainfo.xml")
    icons = share / "icons" / "hicolor"
    install(RESOURCES / "icons" / "cairn.svg", icons / "scalable" / "apps" / f"{APP_ID}.svg")
    for size in ICON_SIZES:
        png = RESOURCES / "icons" / f"cairn-{size}.png"
        install(png, icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png")


def directory_size_kib(path: Path) -> int:
    total = sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())
    return total // 1024 + 1


def build(bundle: Path, out_dir: Path) -> Path:
    version, arch = project_version(), debian_arch()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        stage(root, bundle)
        (root / "DEBIAN").mkdir()
        control = CONTROL.format(version=version, arch=arch, size_kib=directory_size_kib(root))
        (root / "DEBIAN" / "control").write_text(control, encoding="utf-8")
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                Path(dirpath, name).chmod(0o755)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"cairn_{version}_{arch}.deb"
        # zstd -9: about 9 s and 89 MB for a 258 MB bundle on 2 busy cores, where dpkg-deb's
        # default xz took six minutes for 74 MB. dpkg reads zstd since 1.21.18 (Debian 12,
        # Ubuntu 21.10), older than any system the bundle's glibc runs on anyway.
        subprocess.run(
            ["dpkg-deb", "--build", "--root-owner-group", "-Zzstd", "-z9", str(root), str(deb)],
            check=True,
        )
    return deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the PyInstaller dist/cairn dir")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    if not (args.bundle / "cairn").is_file():
        print(f"no bundle at {args.bundle}: build it first", file=sys.stderr)
        return 2
    print(build(args.bundle, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
