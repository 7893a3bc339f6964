"""Build a .deb from a PyInstaller one-folder bundle with dpkg-deb, byte for byte reproducibly.

Two packages come out of the two bundles:
- `cairn` (the desktop app): the bundle under /opt/cairn, launchers in /usr/bin, the desktop
  entry, the AppStream metainfo, the icons and the man pages;
- `cairn-backupd` (the backup server alone): the bundle under /opt/cairn-backupd/bin, the
  systemd unit, /etc/cairn/backupd.env and its man page.

Both get a DEP-5 copyright file made from the bundle's manifest (packaging/deb/copyright.py),
the Debian changelog, lintian overrides with a reason each, stripped libraries without
build-machine RUNPATHs, and Depends on the Debian packages of every system library the bundle
links. Every file's time is SOURCE_DATE_EPOCH (else the last commit's time), so two builds of
one commit give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESOURCES = ROOT / "resources"
APP_ID = "org.cairnwallet.Cairn"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ELF_MAGIC = b"\x7fELF"

# Libraries Qt loads with dlopen (no DT_NEEDED names them), and what the app's HTTPS needs.
APP_DEPENDS = ("libgl1", "libegl1", "libxcb-cursor0", "ca-certificates")
# Linked only by Qt's Wayland plugins, which are optional (without them Qt uses XWayland): they
# are recommended, and need not be installed on the build machine.
OPTIONAL_LIBRARIES = {
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
# Linked by Qt's X11 platform plugin, not installed on a build machine without X: required.
UNINSTALLED_LIBRARIES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
}
# glibc 2.36 is the newest symbol version the bundle uses (the Debian 12 build machine's).
LIBC = "libc6 (>= 2.36)"


@dataclass(frozen=True)
class Package:
    name: str
    install_dir: str  # where the bundle goes, relative to /
    executable: str  # the bundle's executable, inside install_dir
    section: str
    summary: str
    description: str


APP = Package(
    "cairn",
    "opt/cairn",
    "cairn",
    "utils",
    "Bitcoin wallet that backs up every change, encrypted",
    " Cairn is a desktop Bitcoin wallet. Every change to the wallet is encrypted on\n"
    " this machine and backed up to a backup server; on a new machine the twelve seed\n"
    " words bring back funds, history, labels and preferences.",
)
SERVER = Package(
    "cairn-backupd",
    "opt/cairn-backupd/bin",
    "cairn-backupd",
    "net",
    "backup server for the Cairn Bitcoin wallet",
    " cairn-backupd stores the encrypted backups of Cairn wallets. It never sees a\n"
    " seed, a record name or a plaintext value, only sealed blobs under keyed names.\n"
    " It keeps its data in SQLite, or in PostgreSQL for several instances. This\n"
    " package runs it as a hardened systemd service on 127.0.0.1:8470.",
)
PACKAGES = {p.name: p for p in (APP, SERVER)}

CONTROL = """Package: {name}
Source: cairn
Version: {version}
Section: {section}
Priority: optional
Architecture: {arch}
Maintainer: The Cairn developers <dev@cairnwallet.org>
Installed-Size: {size_kib}
Depends: {depends}
{recommends}Homepage: https://cairnwallet.org
Description: {summary}
{description}
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


def source_date_epoch() -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    out = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise SystemExit("set SOURCE_DATE_EPOCH (no git history to take it from)")
    return int(out.stdout.strip())


def install(src: Path, dest: Path, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    dest.chmod(mode)


def write(dest: Path, data: bytes | str, mode: int = 0o644) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    dest.chmod(mode)


def gzipped(data: bytes) -> bytes:
    # No name and time 0 in the header (as gzip -9n does): the same input, the same bytes.
    return gzip.compress(data, compresslevel=9, mtime=0)


def launcher(target: str) -> str:
    return f'#!/bin/sh\nexec {target} "$@"\n'


# --- ELF files: strip, RUNPATH, dependencies -----------------------------------------------


def is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == ELF_MAGIC


def elf_dynamic(path: Path) -> tuple[list[str], list[str]]:
    """(DT_NEEDED names, RPATH/RUNPATH entries) from readelf."""
    out = subprocess.run(
        ["readelf", "-d", "-W", str(path)], capture_output=True, text=True, check=False
    ).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    paths = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library (?:rpath|runpath): \[([^\]]*)\]", out)
    return needed, [entry for value in paths for entry in value.split(":") if entry]


def fix_elf(path: Path, executable: Path) -> None:
    """Strip symbols (not from the executable: its archive is appended to it) and drop any
    RUNPATH into the build machine, keeping $ORIGIN-relative ones the wheels rely on."""
    if path != executable:
        subprocess.run(
            [
                "strip",
                "--remove-section=.comment",
                "--remove-section=.note",
                "--strip-unneeded",
                str(path),
            ],
            check=True,
        )
    _, runpath = elf_dynamic(path)
    if runpath and not all(entry.startswith("$ORIGIN") for entry in runpath):
        kept = [entry for entry in runpath if entry.startswith("$ORIGIN")]
        if kept:
            subprocess.run(["patchelf", "--set-rpath", ":".join(kept), str(path)], check=True)
        else:
            subprocess.run(["patchelf", "--remove-rpath", str(path)], check=True)


def system_library_paths() -> dict[str, str]:
    """SONAME -> path of the libraries this system's dynamic linker knows."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for match in re.finditer(r"^\s*(\S+) \(libc6,x86-64[^)]*\) => (\S+)$", out, re.M):
        found.setdefault(match[1], match[2])
    return found


def owning_package(path: str) -> str | None:
    for candidate in dict.fromkeys((path, os.path.realpath(path))):
        variants = [candidate]
        if candidate.startswith("/usr/lib/"):
            variants.append(candidate.removeprefix("/usr"))
        elif candidate.startswith("/lib/"):
            variants.append("/usr" + candidate)
        for variant in variants:
            out = subprocess.run(
                ["dpkg", "-S", variant], capture_output=True, text=True, check=False
            )
            if out.returncode == 0:
                return out.stdout.split(":")[0].strip()
    return None


def system_depends(elf_files: list[Path]) -> tuple[list[str], list[str]]:
    """(Depends, Recommends): the Debian packages of the libraries the bundle links but does not
    carry."""
    carried = {path.name for path in elf_files}
    needed: set[str] = set()
    for path in elf_files:
        needed.update(elf_dynamic(path)[0])
    known = system_library_paths()
    packages: set[str] = set()
    optional: set[str] = set()
    for soname in sorted(needed - carried):
        if soname in OPTIONAL_LIBRARIES:
            optional.add(OPTIONAL_LIBRARIES[soname])
            continue
        path = known.get(soname)
        package = owning_package(path) if path else UNINSTALLED_LIBRARIES.get(soname)
        if package is None:
            raise SystemExit(f"the bundle links {soname}, which no Debian package here provides")
        packages.add(package)
    packages.discard("libc6")
    return sorted(packages), sorted(optional)


def normalise_tree(root: Path, install_dir: Path, executable: Path) -> list[Path]:
    """Modes as Debian expects them; ELF files fixed. Returns the ELF files of the bundle."""
    elf_files = []
    for dirpath, dirnames, filenames in os.walk(install_dir):
        for name in dirnames:
            Path(dirpath, name).chmod(0o755)
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            if is_elf(path):
                elf_files.append(path)
                fix_elf(path, executable)
            # Only the executable runs; shared libraries are mapped, not executed.
            path.chmod(0o755 if path == executable else 0o644)
    install_dir.chmod(0o755)
    return sorted(elf_files)


def set_times(root: Path, epoch: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.utime(Path(dirpath, name), (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


# --- What each package adds around its bundle ------------------------------------------------


def stage_app(root: Path) -> None:
    write(root / "usr" / "bin" / "cairn", launcher("/opt/cairn/cairn"), 0o755)
    write(root / "usr" / "bin" / "cairn-devnet", launcher("/opt/cairn/cairn devnet"), 0o755)
    share = root / "usr" / "share"
    install(RESOURCES / f"{APP_ID}.desktop", share / "applications" / f"{APP_ID}.desktop")
    install(RESOURCES / f"{APP_ID}.metainfo.xml", share / "metainfo" / f"{APP_ID}.metainfo.xml")
    icons = share / "icons" / "hicolor"
    install(RESOURCES / "icons" / "cairn.svg", icons / "scalable" / "apps" / f"{APP_ID}.svg")
    for size in ICON_SIZES:
        png = RESOURCES / "icons" / f"cairn-{size}.png"
        install(png, icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png")
    for page in ("cairn.1", "cairn-devnet.1"):
        man = ROOT / "packaging" / "man" / page
        write(share / "man" / "man1" / f"{page}.gz", gzipped(man.read_bytes()))


def stage_server(root: Path) -> None:
    server = ROOT / "packaging" / "server"
    write(
        root / "usr" / "sbin" / "cairn-backupd",
        launcher("/opt/cairn-backupd/bin/cairn-backupd"),
        0o755,
    )
    install(server / "cairn-backupd.service", root / "lib/systemd/system/cairn-backupd.service")
    # Read by systemd (as root) before the service starts; may hold a database password.
    install(server / "backupd-sqlite.env", root / "etc" / "cairn" / "backupd.env", 0o600)
    examples = root / "usr" / "share" / "doc" / "cairn-backupd" / "examples"
    for example in ("backupd-postgresql.env", "nginx-cairn-backupd.conf", "litestream.yml"):
        install(server / example, examples / example)
    man = ROOT / "packaging" / "man" / "cairn-backupd.8"
    write(root / "usr/share/man/man8/cairn-backupd.8.gz", gzipped(man.read_bytes()))
    for script in ("postinst", "prerm", "postrm"):
        install(HERE / "server" / script, root / "DEBIAN" / script, 0o755)
    write(root / "DEBIAN" / "conffiles", "/etc/cairn/backupd.env\n")


def stage_docs(root: Path, package: Package, copyright_text: str) -> None:
    doc = root / "usr" / "share" / "doc" / package.name
    write(doc / "copyright", copyright_text)
    # A native package (no Debian revision): its changelog is changelog.gz (policy 12.7).
    write(doc / "changelog.gz", gzipped((HERE / "changelog").read_bytes()))
    overrides = (HERE / "lintian" / package.name).read_text(encoding="utf-8")
    write(root / "usr" / "share" / "lintian" / "overrides" / package.name, overrides)


def cairn_only_copyright(package: Package) -> str:
    sys.path.insert(0, str(HERE))
    from copyright import render

    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    return render({}, package.install_dir, package.executable, licence)


def directory_size_kib(path: Path) -> int:
    total = sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())
    return total // 1024 + 1


def build(package: Package, bundle: Path, copyright_file: Path | None, out_dir: Path) -> Path:
    version, arch, epoch = project_version(), debian_arch(), source_date_epoch()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        install_dir = root / package.install_dir
        shutil.copytree(bundle, install_dir, symlinks=True)
        elf_files = normalise_tree(root, install_dir, install_dir / package.executable)
        (root / "DEBIAN").mkdir()
        (stage_app if package is APP else stage_server)(root)
        copyright_text = (
            copyright_file.read_text(encoding="utf-8")
            if copyright_file
            else cairn_only_copyright(package)
        )
        stage_docs(root, package, copyright_text)
        linked, optional = system_depends(elf_files)
        depends = [LIBC, *linked]
        if package is APP:
            depends += [name for name in APP_DEPENDS if name not in depends]
            optional = sorted({*optional, *OPTIONAL_LIBRARIES.values()})
        recommends = f"Recommends: {', '.join(optional)}\n" if optional else ""
        control = CONTROL.format(
            name=package.name,
            version=version,
            section=package.section,
            arch=arch,
            size_kib=directory_size_kib(root),
            depends=", ".join(depends),
            recommends=recommends,
            summary=package.summary,
            description=package.description,
        )
        write(root / "DEBIAN" / "control", control)
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                Path(dirpath, name).chmod(0o755)
        root.chmod(0o755)
        set_times(root, epoch)
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"{package.name}_{version}_{arch}.deb"
        # xz, as lintian asks (not zstd); -6 multi-threaded takes about a minute for the app.
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}
        subprocess.run(
            [
                "dpkg-deb",
                "--build",
                "--root-owner-group",
                "-Zxz",
                "-z6",
                "--threads-max=2",
                str(root),
                str(deb),
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    return deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", choices=sorted(PACKAGES), default=APP.name)
    parser.add_argument("--bundle", type=Path, required=True, help="the PyInstaller dist dir")
    parser.add_argument(
        "--copyright",
        type=Path,
        help="the DEP-5 copyright file made by copyright.py (default: Cairn's paragraph only,"
        " for test builds of a stand-in bundle)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    package = PACKAGES[args.package]
    if not (args.bundle / package.executable).is_file():
        print(f"no bundle at {args.bundle}: build it first", file=sys.stderr)
        return 2
    print(build(package, args.bundle, args.copyright, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
