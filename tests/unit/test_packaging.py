"""The desktop entry, the AppStream metainfo and the .deb layout are what desktops expect."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "rwxr-xr-x root/root" in next(
        line for line in contents.splitlines() if line.endswith("./usr/bin/cairn")
    )
    fields = run("dpkg-deb", "--field", str(deb), "Package", "Architecture").stdout
    assert "Package: cairn" in fields


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def test_server_example_configs_are_understood_by_the_server():
    from cairn.server.cli import build_parser, settings_from

    for name, postgres in (("backupd-sqlite.env", False), ("backupd-postgresql.env", True)):
        env = read_env_file(ROOT / "packaging" / "server" / name)
        assert all(key.startswith("CAIRN_BACKUPD_") for key in env)
        settings = settings_from(build_parser().parse_args(["serve"]), env)
        assert settings.is_postgres is postgres
        assert settings.port == 8470
        assert settings.limits.rate_limit == 600


def build_fake_deb(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "cairn").write_text("#!/bin/sh\necho cairn\n")
    (bundle / "cairn").chmod(0o755)
    # A real library from the system, as the bundle carries Qt's: what it links comes from Debian.
    (bundle / "_internal").mkdir()
    shutil.copy(SAMPLE_LIBRARY, bundle / "_internal" / SAMPLE_LIBRARY.name)
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
    return Path(result.stdout.strip().splitlines()[-1])


SAMPLE_LIBRARY = Path("/lib/x86_64-linux-gnu/libxcb-shm.so.0")


@pytest.mark.skipif(not SAMPLE_LIBRARY.exists(), reason="needs libxcb-shm0 (Debian x86-64)")
def test_deb_depends_on_what_the_bundle_links_from_the_system_and_is_xz(tmp_path):
    deb = build_fake_deb(tmp_path)
    fields = run("dpkg-deb", "--field", str(deb), "Depends", "Recommends").stdout
    depends = fields.split("Depends:")[1].split("\n")[0]
    # glibc, GL/EGL (loaded by Qt with dlopen) and what the carried library links (libxcb) come
    # from the system; the build machine's glibc (Debian 12) sets the oldest glibc it runs on.
    for package in ("libc6 (>= 2.36)", "libgl1", "libegl1", "libxcb1", "ca-certificates"):
        assert package in depends, package
    assert "libxcb-shm0" not in depends  # carried, so not depended on
    assert "libwayland-cursor0" in fields.split("Recommends:")[1]
    # xz, not zstd: lintian and older dpkg read it.
    assert ar_members(deb.read_bytes()) == ["debian-binary", "control.tar.xz", "data.tar.xz"]


def ar_members(archive: bytes) -> list[str]:
    """Member names of an ar archive (a .deb is one), without needing binutils."""
    assert archive.startswith(b"!<arch>\n")
    names, offset = [], 8
    while offset < len(archive):
        header = archive[offset : offset + 60]
        names.append(header[:16].decode("ascii").strip().rstrip("/"))
        size = int(header[48:58].decode("ascii"))
        offset += 60 + size + size % 2
    return names


def load_launcher():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cairn_launcher", ROOT / "packaging" / "cairn_launcher.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_launcher_runs_backupd_and_the_cairn_command(capsys):
    launcher = load_launcher()
    with pytest.raises(SystemExit) as exit_backupd:
        launcher.main(["backupd", "--help"])
    assert exit_backupd.value.code == 0
    assert capsys.readouterr().out.startswith("usage: cairn-backupd")
    with pytest.raises(SystemExit) as exit_cairn:
        launcher.main(["--version"])
    assert exit_cairn.value.code == 0
    assert capsys.readouterr().out.startswith("cairn ")


def test_demo_services_run_through_the_bundle_executable_when_frozen(monkeypatch):
    from cairn import demo

    assert demo._service_command("cairn.server", "backupd") == [
        sys.executable,
        "-m",
        "cairn.server",
    ]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert demo._service_command("cairn.server", "backupd") == [sys.executable, "backupd"]
    assert demo._service_command("cairn.devnet", "devnet") == [sys.executable, "devnet"]


def test_bundle_spec_collects_what_analysis_cannot_see():
    spec = (ROOT / "packaging" / "cairn.spec").read_text()
    assert 'collect_dynamic_libs("bdkpython")' in spec  # libbdkffi.so, loaded by ctypes
    assert '"coincurve._cffi_backend"' in spec
    assert 'Path("cairn", "resources"' in spec
    smoke = (ROOT / "packaging" / "smoke_test.sh").read_text()
    assert "bdkpython/libbdkffi.so" in smoke
    assert '"$BIN" demo' in smoke


@pytest.mark.slow
def test_bundle_builds_and_its_smoke_test_passes(tmp_path):
    """The release build's first two steps, so CI notices what a frozen app misses (a module
    imported only at run time, a native library, a `python -m` child process). About 30 s on
    an idle 2-core machine; `./packaging/build_release.sh` adds the .deb and the wheel."""
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    assert pyinstaller.exists(), "PyInstaller is missing: run scripts/bootstrap"
    build = run(
        str(pyinstaller),
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(tmp_path / "dist"),
        "--workpath",
        str(tmp_path / "build"),
        str(ROOT / "packaging" / "cairn.spec"),
    )
    try:
        assert build.returncode == 0, build.stderr[-3000:]
        smoke = run(
            str(ROOT / "packaging" / "smoke_test.sh"), str(tmp_path / "dist" / "cairn" / "cairn")
        )
    finally:
        # 260 MB: not to be left in pytest's kept temporary directories.
        shutil.rmtree(tmp_path / "dist", ignore_errors=True)
        shutil.rmtree(tmp_path / "build", ignore_errors=True)
    assert smoke.returncode == 0, smoke.stdout[-2000:] + smoke.stderr[-3000:]
    assert "main window was ready" in smoke.stderr
    assert "cairn demo started devnet and the backup server" in smoke.stderr


def test_desktop_entry_starts_the_app_with_arguments_it_accepts():
    """The entry is the handler of bitcoin: links (%u): the command line must take a link as the
    app's own (an unknown subcommand would exit 2, unseen behind Terminal=false)."""
    from cairn.cli import build_parser

    entry = (ROOT / "resources" / f"{APP_ID}.desktop").read_text()
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    program, *arguments = exec_line.removeprefix("Exec=").split()
    assert program == "cairn"
    sample = {"%u": "bitcoin:bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "%f": "/tmp/x"}
    args = [sample.get(argument.lower(), argument) for argument in arguments]
    parsed = build_parser().parse_args(args)
    assert parsed.command is None  # the app itself, not a subcommand
    assert "MimeType=x-scheme-handler/bitcoin;" in entry
    if "%u" in arguments:
        assert parsed.payment_link == sample["%u"]


# --- Dependencies: each part declares exactly what it imports -------------------------------

# Declared although no cairn module imports them: libraries pick them at run time on our behalf.
RUNTIME_PICKS = {
    "uvloop": "uvicorn's auto event loop",
    "httptools": "uvicorn's auto HTTP parser",
    "sniffio": "httpcore asks it for the running event loop on every request",
}
PARTS = {
    # part: (modules it consists of, the extras that install it)
    "server": ("cairn.server", ("server",)),
    "devnet": ("cairn.devnet", ("devnet",)),
    "app": ("cairn", ("app",)),
}


def distributions_of(import_names: set[str]) -> set[str]:
    import importlib.metadata

    from tests.support.imports import normalise

    providers = importlib.metadata.packages_distributions()
    missing = sorted(name for name in import_names if name not in providers)
    assert not missing, f"imported but not installed here: {missing}"
    return {normalise(dist) for name in import_names for dist in providers[name]}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_declares_exactly_the_libraries_it_imports(part):
    from tests.support.imports import declared, modules_under, third_party_imports

    package, extras = PARTS[part]
    imported = distributions_of(third_party_imports(modules_under(package)))
    wanted = declared(extras)
    assert imported - wanted == set(), "imported but not declared"
    assert wanted - imported - set(RUNTIME_PICKS) == set(), "declared but never imported"


def test_the_test_extra_brings_everything_the_tests_and_scripts_import():
    from tests.support.imports import declared

    names: set[str] = set()
    for folder in ("tests", "scripts", "packaging"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= imports_of_file(path)
    # The project's own modules, and those scripts import from their own folder.
    local = {
        path.parent.name if path.name == "__init__.py" else path.stem
        for folder in ("scripts", "packaging")
        for path in (ROOT / folder).rglob("*.py")
    }
    names -= {"cairn", "tests"} | local | set(sys.stdlib_module_names)
    assert distributions_of(names) - declared(("test",)) == set()


def imports_of_file(path: Path) -> set[str]:
    import ast

    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.split(".")[0])
    return tops - {"__future__"}


def test_the_server_has_no_qt_bdk_or_app_library_in_its_import_graph():
    from tests.support.imports import modules_under, third_party_imports

    assert (
        third_party_imports(modules_under("cairn.server"))
        & {
            "PySide6",
            "shiboken6",
            "qasync",
            "bdkpython",
            "keyring",
            "qrcode",
            "httpx",
        }
        == set()
    )


BLOCK = "import sys\nfor name in {names!r}: sys.modules[name] = None\n"


def run_blocked(names: list[str], code: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-c", BLOCK.format(names=names) + code)


def test_every_server_module_imports_and_serves_with_qt_and_bdk_absent(tmp_path):
    """Not just the static graph: the modules really import, and the server answers stats."""
    code = f"""
import importlib, json, pkgutil
import cairn.server
for info in pkgutil.walk_packages(cairn.server.__path__, "cairn.server."):
    if not info.name.endswith("__main__"):  # that one runs the program
        importlib.import_module(info.name)
from cairn.server.cli import main
assert main(["migrate", "--db", {str(tmp_path / "db.sqlite")!r}]) == 0
assert main(["stats", "--db", {str(tmp_path / "db.sqlite")!r}]) == 0
assert not any(m.split(".")[0] in ("PySide6", "qasync", "bdkpython") for m in sys.modules if sys.modules[m])
"""
    result = run_blocked(["PySide6", "shiboken6", "qasync", "bdkpython"], code)
    assert result.returncode == 0, result.stderr
    assert '"stores": 0' in result.stdout


@pytest.mark.parametrize(
    ("entry", "blocked", "extra"),
    [
        ("backupd", "fastapi", "server"),
        ("devnet", "bdkpython", "devnet"),
        ("cairn", "PySide6", "app"),
        ("legacy_wallet", "qasync", "app"),
    ],
)
def test_an_entry_point_without_its_extra_names_the_extra_to_install(entry, blocked, extra):
    result = run_blocked(
        [blocked], f"from cairn import entrypoints\nsys.exit(entrypoints.{entry}())"
    )
    assert result.returncode == 1
    assert f"pip install 'cairn[{extra}]'" in result.stderr
    assert blocked in result.stderr
    assert "Traceback" not in result.stderr


def test_entry_points_run_their_program_when_the_extra_is_installed():
    result = run(
        sys.executable,
        "-c",
        "import sys; sys.argv=['cairn-backupd', '--version']\n"
        "from cairn import entrypoints; entrypoints.backupd()",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cairn-backupd 0.1.0"


def test_entry_point_checks_name_modules_of_the_extras_they_name():
    from cairn import entrypoints
    from tests.support.imports import declared

    for extra, modules in entrypoints.EXTRA_MODULES.items():
        assert distributions_of(set(modules)) <= declared((extra,)), extra


def test_console_scripts_go_through_the_extra_check():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"cairn", "cairn-backupd", "cairn-devnet", "cairn-legacy-wallet"}
    assert all(target.startswith("cairn.entrypoints:") for target in scripts.values())
