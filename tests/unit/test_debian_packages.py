"""The release's Debian side: both .debs on stand-in bundles, reproducibly; the copyright file
covers every bundled distribution; the man pages render; the service is hardened; the release
checksums are signed and verify."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_DEB = ROOT / "packaging" / "deb" / "build_deb.py"
UNIT = ROOT / "packaging" / "server" / "cairn-backupd.service"
SAMPLE_LIBRARY = Path("/lib/x86_64-linux-gnu/libxcb-shm.so.0")


def run(*cmd: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def stand_in_bundle(path: Path, executable: str) -> Path:
    path.mkdir(parents=True)
    (path / executable).write_text(f"#!/bin/sh\necho {executable}\n")
    (path / executable).chmod(0o755)
    internal = path / "_internal"
    internal.mkdir()
    (internal / "module.py").write_text("x = 1\n")
    (internal / "module.py").chmod(0o755)  # as wheels sometimes ship them: normalised to 0644
    if SAMPLE_LIBRARY.exists():
        shutil.copy(SAMPLE_LIBRARY, internal / SAMPLE_LIBRARY.name)
        (internal / SAMPLE_LIBRARY.name).chmod(0o755)
    return path


def build_deb(tmp_path: Path, package: str, *, epoch: str = "1764590400", out: str = "out") -> Path:
    executable = "cairn" if package == "cairn" else "cairn-backupd"
    bundle = tmp_path / f"bundle-{package}"
    if not bundle.exists():
        stand_in_bundle(bundle, executable)
    env = {**os.environ, "SOURCE_DATE_EPOCH": epoch}
    result = run(
        sys.executable,
        str(BUILD_DEB),
        "--package",
        package,
        "--bundle",
        str(bundle),
        "--out",
        str(tmp_path / out),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def members(deb: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=_data_tar(deb)) as tar:
        return {info.name.removeprefix("./"): info for info in tar.getmembers()}


def _data_tar(deb: Path):
    import io

    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
    return io.BytesIO(out.stdout)


def read_member(deb: Path, name: str) -> bytes:
    with tarfile.open(fileobj=_data_tar(deb)) as tar:
        extracted = tar.extractfile(f"./{name}")
        assert extracted is not None, name
        return extracted.read()


# --- Reproducible builds ---------------------------------------------------------------------


@pytest.mark.parametrize("package", ["cairn", "cairn-backupd"])
def test_two_builds_of_one_tree_give_identical_debs(tmp_path, package):
    first = build_deb(tmp_path, package, out="one")
    # What differs between two checkouts of one commit: file times, and the build's own time.
    for path in (tmp_path / f"bundle-{package}").rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000), follow_symlinks=False)
    second = build_deb(tmp_path, package, out="two")
    assert first.read_bytes() == second.read_bytes()
    for info in members(first).values():
        assert info.mtime == 1764590400, info.name
        assert (info.uname, info.gname) == ("root", "root")


def test_the_source_date_epoch_sets_every_time_in_the_deb(tmp_path):
    early = build_deb(tmp_path, "cairn", epoch="1700000000", out="early")
    assert {info.mtime for info in members(early).values()} == {1700000000}


# --- What each package holds ------------------------------------------------------------------


def test_app_deb_has_copyright_changelog_man_pages_and_overrides(tmp_path):
    deb = build_deb(tmp_path, "cairn")
    files = members(deb)
    for path in (
        "usr/share/doc/cairn/copyright",
        "usr/share/doc/cairn/changelog.gz",
        "usr/share/man/man1/cairn.1.gz",
        "usr/share/man/man1/cairn-devnet.1.gz",
        "usr/share/lintian/overrides/cairn",
        "usr/bin/cairn",
        "usr/bin/cairn-devnet",
    ):
        assert path in files, path
    assert files["opt/cairn/cairn"].mode == 0o755
    assert files["opt/cairn/_internal/module.py"].mode == 0o644
    copyright = read_member(deb, "usr/share/doc/cairn/copyright").decode()
    assert copyright.startswith("Format: https://www.debian.org/doc/packaging-manuals/")
    assert "License: Expat" in copyright
    import gzip

    changelog = gzip.decompress(read_member(deb, "usr/share/doc/cairn/changelog.gz")).decode()
    assert changelog.startswith("cairn (0.1.0) ")


@pytest.mark.skipif(not SAMPLE_LIBRARY.exists(), reason="needs libxcb-shm0 (Debian x86-64)")
def test_carried_libraries_are_stripped_and_not_executable(tmp_path):
    deb = build_deb(tmp_path, "cairn")
    info = members(deb)[f"opt/cairn/_internal/{SAMPLE_LIBRARY.name}"]
    assert info.mode == 0o644
    library = tmp_path / "lib.so"
    library.write_bytes(read_member(deb, f"opt/cairn/_internal/{SAMPLE_LIBRARY.name}"))
    sections = run("readelf", "-S", "-W", str(library)).stdout
    assert ".symtab" not in sections
    assert "RUNPATH" not in run("readelf", "-d", str(library)).stdout


def test_server_deb_has_the_unit_the_env_file_as_conffile_and_no_qt(tmp_path):
    deb = build_deb(tmp_path, "cairn-backupd")
    files = members(deb)
    for path in (
        "opt/cairn-backupd/bin/cairn-backupd",
        "usr/sbin/cairn-backupd",
        "lib/systemd/system/cairn-backupd.service",
        "etc/cairn/backupd.env",
        "usr/share/man/man8/cairn-backupd.8.gz",
        "usr/share/doc/cairn-backupd/copyright",
        "usr/share/doc/cairn-backupd/examples/backupd-postgresql.env",
        "usr/share/doc/cairn-backupd/examples/nginx-cairn-backupd.conf",
        "usr/share/doc/cairn-backupd/examples/litestream.yml",
    ):
        assert path in files, path
    assert files["etc/cairn/backupd.env"].mode == 0o600
    assert read_member(deb, "lib/systemd/system/cairn-backupd.service") == UNIT.read_bytes()
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(deb), str(control)], check=True)
    assert (control / "conffiles").read_text() == "/etc/cairn/backupd.env\n"
    assert (control / "postinst").stat().st_mode & 0o111
    fields = (control / "control").read_text()
    assert "Package: cairn-backupd\n" in fields
    assert "qt" not in fields.lower() and "libgl" not in fields


# --- The service ------------------------------------------------------------------------------

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def test_unit_runs_migrate_then_serve_as_a_dynamic_user_with_a_stop_timeout():
    unit = UNIT.read_text()
    assert "EnvironmentFile=/etc/cairn/backupd.env" in unit
    assert "ExecStartPre=/opt/cairn-backupd/bin/cairn-backupd migrate" in unit
    assert "ExecStart=/opt/cairn-backupd/bin/cairn-backupd serve" in unit
    assert "DynamicUser=yes" in unit and "StateDirectory=cairn-backupd" in unit
    assert "User=" not in unit.replace("DynamicUser=", "")
    assert "TimeoutStopSec=30s" in unit


@pytest.mark.parametrize("env_file", ["backupd-sqlite.env", "backupd-postgresql.env"])
def test_the_stop_timeout_leaves_room_for_the_graceful_shutdown(env_file):
    from cairn.server.config import Settings
    from tests.unit.test_packaging import read_env_file

    stop = next(
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith("TimeoutStopSec=")
    )
    assert stop.endswith("s")
    env = read_env_file(ROOT / "packaging" / "server" / env_file)
    graceful = int(env.get("CAIRN_BACKUPD_SHUTDOWN_TIMEOUT", Settings(db="x").shutdown_timeout))
    # The graceful wait, then closing the database, within the stop timeout with room to spare.
    assert graceful + 10 <= int(stop[:-1])


@needs_systemd_analyze
def test_unit_verifies():
    result = run("systemd-analyze", "verify", "--man=no", str(UNIT))
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # Not installed on the test machine: the package puts it there.
        if "is not executable" not in line and line.strip()
    ]
    assert problems == []


@needs_systemd_analyze
def test_unit_exposure_is_at_most_2_5():
    result = run("systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT))
    line = next(line for line in result.stdout.splitlines() if "Overall exposure level" in line)
    score = float(line.split(":")[1].split()[0])
    assert score <= 2.5, line


def test_server_env_files_name_the_state_directory_database():
    from tests.unit.test_packaging import read_env_file

    env = read_env_file(ROOT / "packaging" / "server" / "backupd-sqlite.env")
    assert env["CAIRN_BACKUPD_DB"] == "/var/lib/cairn-backupd/backupd.sqlite"


# --- Man pages --------------------------------------------------------------------------------

MAN_PAGES = {
    "cairn.1": ["cairn"],
    "cairn-devnet.1": ["cairn", "devnet"],
    "cairn-backupd.8": ["backupd"],
}


@pytest.mark.parametrize("page", sorted(MAN_PAGES))
def test_man_page_renders_without_warnings(page):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    result = run("groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "packaging" / "man" / page))
    assert result.returncode == 0
    assert result.stderr == ""


def every_option(parser) -> set[str]:
    import argparse

    options = set()
    for action in parser._actions:
        options.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= every_option(sub)
    return options


def test_man_pages_document_every_option():
    from cairn.cli import build_parser as cairn_parser
    from cairn.commands import backup as commands
    from cairn.devnet.cli import build_parser as devnet_parser
    from cairn.server.cli import build_parser as backupd_parser

    pages = {
        "cairn.1": every_option(cairn_parser()) | restore_and_backup_options(commands),
        "cairn-devnet.1": every_option(devnet_parser()),
        "cairn-backupd.8": every_option(backupd_parser()),
    }
    for page, options in pages.items():
        text = (ROOT / "packaging" / "man" / page).read_text().replace("\\-", "-")
        missing = sorted(option for option in options if option not in text)
        assert missing == [], page


def restore_and_backup_options(commands) -> set[str]:
    builders = [getattr(commands, name) for name in dir(commands) if name.endswith("parser")]
    options: set[str] = set()
    for build in builders:
        try:
            options |= every_option(build())
        except TypeError:
            continue
    return options


# --- Copyright coverage -----------------------------------------------------------------------


def server_manifest(tmp_path: Path) -> Path:
    """What a bundle of the server would hold: every module the server really loads."""
    code = (
        "import json, sys, asyncpg, uvicorn, cairn.server.app, cairn.server.cli\n"
        "sources = sorted({m.__file__ for m in list(sys.modules.values())"
        " if getattr(m, '__file__', None)})\n"
        "print(json.dumps(sources))"
    )
    sources = json.loads(run(sys.executable, "-c", code).stdout)
    manifest = tmp_path / "bundle-manifest.json"
    manifest.write_text(json.dumps({"sources": sources, "workpath": str(tmp_path)}))
    return manifest


def test_copyright_covers_every_distribution_the_server_loads(tmp_path):
    import importlib.metadata

    manifest = server_manifest(tmp_path)
    out = tmp_path / "copyright"
    result = run(
        sys.executable,
        str(ROOT / "packaging" / "deb" / "copyright.py"),
        "--manifest",
        str(manifest),
        "--install-dir",
        "opt/cairn-backupd/bin",
        "--executable",
        "cairn-backupd",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    paragraphs = text.split("\n\n")
    comments = [line for line in text.splitlines() if line.startswith("Comment: ")]
    for name in ("fastapi", "starlette", "pydantic", "uvicorn", "asyncpg", "coincurve"):
        version = importlib.metadata.version(name)
        assert any(f" {version}, bundled" in c and name in c.lower() for c in comments), name
    assert any(c.startswith("Comment: Python 3.") for c in comments)
    assert any(c.startswith("Comment: pyinstaller ") for c in comments)  # its bootloader
    for paragraph in paragraphs[1:]:
        fields = [line.split(":")[0] for line in paragraph.splitlines() if not line[0].isspace()]
        assert fields[:3] == ["Files", "Copyright", "License"], paragraph[:200]
        licence_lines = paragraph.split("\nLicense: ")[1].splitlines()
        assert len(licence_lines) > 1, paragraph[:200]  # a text, not just a name
    # Debian keeps the Apache and GPL texts: referred to, not repeated (policy 12.5).
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION" not in text
    assert "/usr/share/common-licenses/Apache-2.0" in text


def test_copyright_refuses_a_file_no_distribution_owns(tmp_path):
    stray = tmp_path / "stray" / "libmystery.so"
    stray.parent.mkdir()
    stray.write_bytes(b"\0")
    manifest = tmp_path / "bundle-manifest.json"
    manifest.write_text(json.dumps({"sources": [str(stray)], "workpath": str(tmp_path / "w")}))
    result = run(
        sys.executable,
        str(ROOT / "packaging" / "deb" / "copyright.py"),
        "--manifest",
        str(manifest),
        "--install-dir",
        "opt/x",
        "--executable",
        "x",
        "--out",
        str(tmp_path / "copyright"),
    )
    assert result.returncode == 1
    assert "libmystery.so: no installed distribution lists it" in result.stderr
    assert not (tmp_path / "copyright").exists()


# --- Checksums and signature ------------------------------------------------------------------

needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


def throwaway_key(home: Path) -> tuple[str, str]:
    """(armoured secret key, armoured public key) of a new passphrase-less signing key."""
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--quiet",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Cairn test release key <test@cairnwallet.org>",
            "ed25519",
            "sign",
            "1d",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    secret = run("gpg", "--batch", "--armor", "--export-secret-keys", env=env).stdout
    public = run("gpg", "--batch", "--armor", "--export", env=env).stdout
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False)
    return secret, public


@needs_gpg
def test_release_checksums_are_signed_with_the_key_from_the_environment(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "cairn_0.1.0_amd64.deb").write_bytes(b"app")
    (release / "cairn-backupd_0.1.0_amd64.deb").write_bytes(b"server")
    (release / "cairn-0.1.0-py3-none-any.whl").write_bytes(b"wheel")
    secret, public = throwaway_key(tmp_path / "signer")
    env = {**os.environ, "CAIRN_SIGNING_KEY": secret}
    result = run(str(ROOT / "packaging" / "sign_release.sh"), str(release), env=env)
    assert result.returncode == 0, result.stderr
    sums = (release / "SHA256SUMS").read_text().splitlines()
    assert [line.split()[1] for line in sums] == [
        "cairn-0.1.0-py3-none-any.whl",
        "cairn-backupd_0.1.0_amd64.deb",
        "cairn_0.1.0_amd64.deb",
    ]
    # A user's check, as docs/INSTALL.md describes it: import the public key, verify, compare.
    verifier = tmp_path / "user"
    verifier.mkdir(mode=0o700)
    user = {**os.environ, "GNUPGHOME": str(verifier)}
    subprocess.run(["gpg", "--batch", "--import"], input=public, text=True, env=user, check=True)
    verify = run(
        "gpg", "--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS", env=user, cwd=release
    )
    assert verify.returncode == 0, verify.stderr
    assert run("sha256sum", "--check", "SHA256SUMS", cwd=release).returncode == 0
    # A changed artifact or a changed checksum list is caught.
    (release / "cairn_0.1.0_amd64.deb").write_bytes(b"tampered")
    assert run("sha256sum", "--check", "--quiet", "SHA256SUMS", cwd=release).returncode != 0
    (release / "SHA256SUMS").write_text("\n".join(sums[:2]) + "\n")
    verify = run(
        "gpg", "--batch", "--verify", "SHA256SUMS.asc", "SHA256SUMS", env=user, cwd=release
    )
    assert verify.returncode != 0
    subprocess.run(["gpgconf", "--kill", "all"], env=user, check=False)


def test_release_without_a_key_is_refused_when_a_signature_is_required(tmp_path):
    (tmp_path / "cairn_0.1.0_amd64.deb").write_bytes(b"app")
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_SIGNING_KEY"}
    unsigned = run(str(ROOT / "packaging" / "sign_release.sh"), str(tmp_path), env=env)
    assert unsigned.returncode == 0
    assert "NOT signed" in unsigned.stderr
    assert not (tmp_path / "SHA256SUMS.asc").exists()
    required = run(
        str(ROOT / "packaging" / "sign_release.sh"),
        str(tmp_path),
        env={**env, "CAIRN_REQUIRE_SIGNATURE": "1"},
    )
    assert required.returncode == 1
