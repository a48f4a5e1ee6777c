"""The official registry's index, rebuilt from the sources under ``worksets/``.

Every folder under ``worksets/`` with a ``pyproject.toml`` is built into its reproducible wheel
(``modellab.worksets._build``, offline), and listed with the wheel's sha256 and size, its
manifest and the manifest's sha256, its isolation and the signer an official release must
carry (the release workflow's Sigstore keyless identity). The same files go to two places::

    registry/index.toml, registry/<name>-<version>.workset.toml            (the repository's)
    core/modellab/registry/official/...                                     (shipped in the core)

Usage::

    .venv/bin/python tools/official_index.py --write   # regenerate both copies
    .venv/bin/python tools/official_index.py --check   # exit 1, a line per file, if stale

``--root DIR`` points at another checkout (the tests use a changed copy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import tomli_w

from modellab.registry._official import OFFICIAL_SIGNER, OfficialIndex
from modellab.worksets._build import build_wheel
from modellab.worksets._discovery import MANIFEST_NAME
from modellab.worksets._manifest import load_manifest

#: Where the two copies live, relative to the repository root.
TARGETS = (Path("registry"), Path("core/modellab/registry/official"))
_HEADER = (
    b"# The official registry's index: written by tools/official_index.py from worksets/.\n"
    b"# Do not edit; run `.venv/bin/python tools/official_index.py --write`. No signature\n"
    b"# bundles yet: they come with the first signed release (see docs/worksets.md).\n"
)


def expected_files(root: Path) -> dict[str, bytes]:
    """File name -> bytes of every file one copy of the official index must hold."""
    releases: list[dict[str, object]] = []
    files: dict[str, bytes] = {}
    sources = sorted(p.parent for p in (root / "worksets").glob("*/pyproject.toml"))
    with tempfile.TemporaryDirectory() as scratch:
        for source in sources:
            built = build_wheel(source, Path(scratch) / source.name)
            # The manifest shipped is the one inside the wheel: the one consent shows.
            packages = source / "src" if (source / "src").is_dir() else source
            manifest_path = next(p for p in packages.glob(f"*/{MANIFEST_NAME}") if p.is_file())
            data = manifest_path.read_bytes()
            manifest, digest = load_manifest(data, str(manifest_path))
            manifest_name = f"{built.workset}-{built.version}.workset.toml"
            files[manifest_name] = data
            releases.append(
                {
                    "name": built.workset,
                    "version": built.version,
                    "artifact": built.path.name,
                    "sha256": built.sha256,
                    "size": built.path.stat().st_size,
                    "manifest": manifest_name,
                    "manifest_sha256": digest,
                    "isolation": manifest.requirements.isolation,
                    "signer": OFFICIAL_SIGNER.model_dump(mode="json", exclude_none=True),
                }
            )
    document = {"format_version": 1, "release": releases}
    index = _HEADER + tomli_w.dumps(document).encode("utf-8")
    OfficialIndex.from_toml(index, "index.toml")  # what the core will read must parse
    files["index.toml"] = index
    return files


def differences(root: Path, files: dict[str, bytes]) -> list[str]:
    """One line per copy's file that is missing, stale or not expected."""
    problems: list[str] = []
    for target in TARGETS:
        folder = root / target
        present = {p.name for p in folder.glob("*.toml")} if folder.is_dir() else set()
        for name, data in sorted(files.items()):
            path = folder / name
            if name not in present:
                problems.append(f"{target / name}: missing")
            elif path.read_bytes() != data:
                problems.append(f"{target / name}: differs from what worksets/ builds")
        for name in sorted(present - files.keys()):
            problems.append(f"{target / name}: not in the official index any more")
    return problems


def write(root: Path, files: dict[str, bytes]) -> None:
    """Make both copies hold exactly ``files``."""
    for target in TARGETS:
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.toml"):
            if stale.name not in files:
                stale.unlink()
        for name, data in files.items():
            (folder / name).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    """Run the tool; returns the exit code (1: --check found differences)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate both copies")
    mode.add_argument("--check", action="store_true", help="exit 1 when a copy is stale")
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent.parent, help="checkout"
    )
    args = parser.parse_args(argv)
    files = expected_files(args.root)
    if args.write:
        write(args.root, files)
        print(f"wrote {len(files)} files to each of: {', '.join(map(str, TARGETS))}")
        return 0
    problems = differences(args.root, files)
    for line in problems:
        print(line)
    if problems:
        print("run: .venv/bin/python tools/official_index.py --write", file=sys.stderr)
        return 1
    print("the official index matches worksets/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
