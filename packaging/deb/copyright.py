"""Write the machine-readable (DEP-5) copyright file of a bundle from what went into it.

Every module and file PyInstaller put in the bundle (its bundle-manifest.json) is traced to the
installed distribution whose RECORD lists it, to the Python interpreter, or to Cairn itself. Each
distribution gets a Files paragraph with its licence and the licence texts it ships; a licence
Debian keeps in /usr/share/common-licenses is referred to there instead, as Debian policy 12.5
asks. Run it with the Python that built the bundle. Anything it cannot trace or whose licence
text is missing stops the build (exit 1), so nothing ships uncovered.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORMAT = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
LICENCE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
COPYRIGHT_LINE = re.compile(r"^\s*(?:Copyright|\(c\)|©)\s*(?:\(c\)|©)?\s*(.*\d{4}.*)$", re.I)
# Full texts Debian ships in /usr/share/common-licenses: (what marks the text, the file there).
COMMON_LICENCES = (
    (("Apache License", "Version 2.0, January 2004"), "Apache-2.0"),
    (("GNU LESSER GENERAL PUBLIC LICENSE", "Version 3, 29 June 2007"), "LGPL-3"),
    (("GNU LESSER GENERAL PUBLIC LICENSE", "Version 2.1, February 1999"), "LGPL-2.1"),
    (("GNU GENERAL PUBLIC LICENSE", "Version 3, 29 June 2007"), "GPL-3"),
    (("GNU GENERAL PUBLIC LICENSE", "Version 2, June 1991"), "GPL-2"),
    (("Mozilla Public License Version 2.0",), "MPL-2.0"),
)
# SPDX identifiers whose text a distribution may leave out: Debian's copy is referred to.
SPDX_COMMON = {
    "Apache-2.0": "Apache-2.0",
    "GPL-2.0-only": "GPL-2",
    "GPL-2.0-or-later": "GPL-2",
    "GPL-3.0-only": "GPL-3",
    "GPL-3.0-or-later": "GPL-3",
    "LGPL-2.1-only": "LGPL-2.1",
    "LGPL-2.1-or-later": "LGPL-2.1",
    "LGPL-3.0-only": "LGPL-3",
    "LGPL-3.0-or-later": "LGPL-3",
    "MPL-2.0": "MPL-2.0",
}
CLASSIFIER_SPDX = {
    "MIT License": "MIT",
    "BSD License": "BSD",
    "Apache Software License": "Apache-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "GNU Library or Lesser General Public License (LGPL)": "LGPL",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
}
# PyInstaller's bootloader and run-time hooks are in every bundle, though no module names them.
ALWAYS = ("pyinstaller",)
PYTHON_FILES = ("libpython3*", "python3*/*", "base_library.zip")


@dataclass
class Owner:
    name: str
    version: str
    licence: str
    copyright: list[str]
    texts: list[tuple[str, str]]  # (file name, text)
    paths: set[str] = field(default_factory=set)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def licence_of(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    short = (meta.get("License") or "").strip()
    if short and "\n" not in short and len(short) < 60 and short.upper() != "UNKNOWN":
        return CLASSIFIER_SPDX.get(short, short)
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License :: OSI Approved :: "):
            name = classifier.removeprefix("License :: OSI Approved :: ")
            return CLASSIFIER_SPDX.get(name, name)
    return "UNKNOWN"


def common_reference(text: str) -> str | None:
    for markers, name in COMMON_LICENCES:
        if all(marker in text for marker in markers):
            return name
    return None


def condensed(text: str) -> str:
    """A licence text with a full text Debian keeps replaced by a pointer to Debian's copy."""
    name = common_reference(text)
    if name is None:
        return text
    first_marker = next(m for ms, n in COMMON_LICENCES if n == name for m in ms[:1])
    before = text[: text.index(first_marker)].rstrip()
    pointer = f"On Debian systems, the complete text is in /usr/share/common-licenses/{name}."
    return f"{before}\n\n{pointer}" if before else pointer


def licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    texts = []
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if parts and parts[0].endswith(".dist-info") and LICENCE_FILE.search(parts[-1]):
            try:
                texts.append((parts[-1], condensed(file.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError):
                continue
    if not texts:
        licence_field = dist.metadata.get("License") or ""
        if "\n" in licence_field.strip():  # the whole text in the metadata
            texts.append(("License", condensed(licence_field)))
    if not texts:
        # No text shipped: Debian's copy of a licence it keeps, for each one of the expression.
        for spdx in re.split(r"\s+(?:OR|AND|WITH)\s+|[()]", licence_of(dist)):
            if spdx.strip() in SPDX_COMMON:
                name = SPDX_COMMON[spdx.strip()]
                pointer = f"/usr/share/common-licenses/{name}"
                texts.append(
                    (spdx.strip(), f"On Debian systems, the complete text is in {pointer}.")
                )
    return texts


def copyright_lines(owner_name: str, texts: list[tuple[str, str]], meta_author: str) -> list[str]:
    lines = []
    for _, text in texts:
        for line in text.splitlines():
            match = COPYRIGHT_LINE.match(line)
            if match and match[1].strip() not in lines:
                lines.append(match[1].strip())
    if not lines:
        lines.append(meta_author or f"the {owner_name} authors")
    return lines[:12]


def owner_of_distribution(dist: metadata.Distribution) -> Owner:
    name = dist.metadata["Name"]
    texts = licence_texts(dist)
    author = dist.metadata.get("Author") or dist.metadata.get("Author-email") or ""
    author = re.sub(r"\s*<[^>]*>", "", author).strip()
    return Owner(name, dist.version, licence_of(dist), copyright_lines(name, texts, author), texts)


def python_owner() -> Owner:
    licence = Path(sys.base_prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}")
    text = (licence / "LICENSE.txt").read_text(encoding="utf-8")
    return Owner(
        "Python",
        sys.version.split()[0],
        "PSF-2.0",
        ["2001-2026 Python Software Foundation"],
        [("LICENSE.txt", text)],
    )


def file_owners() -> dict[str, metadata.Distribution]:
    """Every installed file (resolved path) and the distribution whose RECORD lists it."""
    owners: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        for file in dist.files or []:
            owners[str(Path(dist.locate_file(file)).resolve())] = dist
    return owners


def top_level(dist: metadata.Distribution, real: str) -> str:
    """The first component of a file's path inside site-packages (a package or module name)."""
    base = str(Path(dist.locate_file("")).resolve())
    if not real.startswith(base + "/"):
        return ""
    parts = Path(real).relative_to(base).parts
    return parts[0] + "/*" if len(parts) > 1 else parts[0]


def resolve(source: str) -> str:
    """An absolute path; PyInstaller names libraries found through a RUNPATH relative to the
    site-packages folder they are in."""
    path = Path(source)
    if not path.is_absolute():
        for folder in sys.path:
            if folder and (Path(folder) / path).exists():
                return str((Path(folder) / path).resolve())
    return str(path.resolve())


def trace(manifest: dict[str, object]) -> tuple[dict[str, Owner], list[str]]:
    """(owners by normalised name, sources nobody owns)."""
    owners: dict[str, Owner] = {}
    installed = file_owners()
    python_prefix = str(Path(sys.base_prefix).resolve())
    ours = [str((ROOT / folder).resolve()) for folder in ("app", "resources", "packaging")]
    unowned = []
    workpath = str(Path(manifest.get("workpath", "/nonexistent")).resolve())  # type: ignore[arg-type]
    for source in manifest["sources"]:  # type: ignore[attr-defined]
        real = resolve(source)
        if real.startswith(workpath + "/"):  # base_library.zip: the stdlib, compiled
            owners.setdefault("python", python_owner())
            continue
        dist = installed.get(real)
        if dist is not None:
            key = normalise(dist.metadata["Name"])
            if key == "cairn":
                continue
            if key not in owners:
                owners[key] = owner_of_distribution(dist)
            owners[key].paths.add(top_level(dist, real))
        elif any(real.startswith(folder + "/") for folder in ours):
            continue
        elif real.startswith(python_prefix + "/"):
            owners.setdefault("python", python_owner())
        else:
            unowned.append(source)
    for name in ALWAYS:
        dist = metadata.distribution(name)
        owners.setdefault(normalise(name), owner_of_distribution(dist))

    return owners, unowned


def problems(owners: dict[str, Owner], unowned: list[str]) -> list[str]:
    found = [f"{source}: no installed distribution lists it" for source in unowned]
    for owner in owners.values():
        if owner.licence == "UNKNOWN":
            found.append(f"{owner.name}: no licence in its metadata")
        if not owner.texts:
            found.append(f"{owner.name}: ships no licence text and its licence is not in Debian")
    return found


def dep5_text(text: str) -> str:
    """A multi-line field value: each line indented, empty lines as ' .'."""
    lines = [line.rstrip().replace("\t", "    ") for line in text.strip().splitlines()]
    return "\n".join(f" {line}" if line else " ." for line in lines)


def dep5_licence(licence: str) -> str:
    return re.sub(r"\s+(OR|AND)\s+", lambda m: f" {m[1].lower()} ", licence)


def files_of(key: str, owner: Owner, install_dir: str, executable: str) -> list[str]:
    if key == "pyinstaller":  # its bootloader is the executable; its run-time hooks are inside
        return [f"{install_dir}/{executable}"]
    if key == "python":
        return [f"{install_dir}/_internal/{name}" for name in PYTHON_FILES]
    tops = sorted(p for p in owner.paths if p) or [f"{key}/*"]
    return [f"{install_dir}/_internal/{top}" for top in tops]


def render(owners: dict[str, Owner], install_dir: str, executable: str, cairn_licence: str) -> str:
    paragraphs = [
        f"Format: {FORMAT}\nUpstream-Name: Cairn\n"
        "Upstream-Contact: The Cairn developers <dev@cairnwallet.org>\n"
        "Source: https://cairnwallet.org",
        "Files: *\nCopyright: 2026 The Cairn developers\nLicense: Expat\n"
        + dep5_text(cairn_licence.split("\n", 2)[2]),
    ]
    for key in sorted(owners):
        owner = owners[key]
        texts = "\n\n".join(f"[{name}]\n{text.strip()}" for name, text in owner.texts)
        copyright = "\n".join([owner.copyright[0], *(f" {line}" for line in owner.copyright[1:])])
        files = "\n ".join(files_of(key, owner, install_dir, executable))
        paragraphs.append(
            f"Files: {files}\n"
            f"Copyright: {copyright}\n"
            f"License: {dep5_licence(owner.licence)}\n{dep5_text(texts)}\n"
            f"Comment: {owner.name} {owner.version}, bundled by PyInstaller (its pure-Python"
            " modules inside the executable's archive, its other files in _internal/)."
        )
    return "\n\n".join(paragraphs) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="bundle-manifest.json")
    parser.add_argument("--install-dir", required=True, help="e.g. opt/cairn")
    parser.add_argument("--executable", required=True, help="the bundle's executable, e.g. cairn")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    owners, unowned = trace(manifest)
    found = problems(owners, unowned)
    for line in found:
        print(f"copyright: {line}", file=sys.stderr)
    if found:
        return 1
    cairn_licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    args.out.write_text(
        render(owners, args.install_dir, args.executable, cairn_licence), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
