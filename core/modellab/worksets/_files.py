"""What a workset installed, file by file, and whether it is still exactly that.

At install, once uv has written the workset into its staging folder, every file under the
folder a load reads from (``site`` for a ``shared`` workset, the whole ``venv`` for a
``venv`` one) is recorded with its sha256, size and mtime (in nanoseconds); symbolic links
with their target. Each file the signed wheel's ``RECORD`` lists with a hash must have been
installed with exactly that hash, or the install fails. The ``.py`` files under
site-packages are compiled first, so that loading never has to write bytecode (which would
be a new file).

Loading checks the folder against the record (:func:`differences`): a file added, missing,
of another kind, or changed makes the workset *tampered*. The load's check takes a fast
path: a file whose size and mtime are the recorded ones is taken as unchanged, and only a
file whose size or mtime differs is hashed again. mtime can be set back by anyone who can
write the file (``touch -d``, ``os.utime``), so the fast path trusts it;
``modellab worksets verify`` hashes every file (``full=True``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = ["FileRecord", "differences", "install_root", "record_files", "summary"]

#: {path relative to the install root, '/'-separated: [sha256 or 'link:TARGET', size, mtime_ns]}
FileRecord = dict[str, list[Any]]

#: How many differences a report names before it counts the rest.
_SHOWN = 5


def install_root(location: Path, isolation: str) -> Path:
    """The folder under an install's location that is recorded and checked."""
    return location / ("venv" if isolation == "venv" else "site")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _walk(root: str) -> list[tuple[str, str, os.stat_result]]:
    """(relative path, full path, lstat) of everything under ``root`` but folders."""
    found: list[tuple[str, str, os.stat_result]] = []
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                relative = f"{prefix}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{relative}/", entry.path))
                else:
                    found.append((relative, entry.path, entry.stat(follow_symlinks=False)))
    return found


def _entry(path: str, stat: os.stat_result) -> list[Any]:
    import stat as kinds

    if kinds.S_ISLNK(stat.st_mode):
        return [f"link:{os.readlink(path)}", -1, 0]
    if not kinds.S_ISREG(stat.st_mode):
        return [f"special:{kinds.S_IFMT(stat.st_mode)}", -1, 0]
    return [_sha256(path), stat.st_size, stat.st_mtime_ns]


def _wheel_hashes(wheel: Path) -> dict[str, tuple[str, str]]:
    """{installed path relative to site-packages: (algorithm, hex digest)} from the wheel's
    ``RECORD``, for the files uv copies as they are (``.data/purelib`` and ``platlib``
    included; scripts, whose first line uv rewrites, and RECORD itself excluded)."""
    import base64
    import csv
    import io
    import zipfile

    from modellab.errors import InstallError

    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        if len(names) != 1:
            raise InstallError(f"{wheel.name}: expected one .dist-info/RECORD, found {len(names)}")
        text = archive.read(names[0]).decode("utf-8")
    hashes: dict[str, tuple[str, str]] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[1] or "=" not in row[1]:
            continue
        path, (algorithm, _, encoded) = row[0], row[1].partition("=")
        parts = path.split("/")
        if parts[0].endswith(".data"):
            if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                continue
            path = "/".join(parts[2:])
        padded = encoded + "=" * (-len(encoded) % 4)
        try:
            digest = base64.urlsafe_b64decode(padded).hex()
        except ValueError:
            raise InstallError(f"{wheel.name}: RECORD has an unreadable hash for {path}") from None
        hashes[path] = (algorithm, digest)
    return hashes


def _compile(site: Path, sources: list[str], own: set[str]) -> None:
    """Write the bytecode a load would, beside the sources (never under a cache prefix).

    The wheel's ``own`` sources are always compiled here (bytecode the wheel shipped is
    replaced: what runs is what its source says); a dependency's bytecode that uv already
    compiled is kept.
    """
    import importlib.util
    import py_compile
    import sys

    prefix, sys.pycache_prefix = sys.pycache_prefix, None
    try:
        for source in sources:
            path = str(site / source)
            cfile = importlib.util.cache_from_source(path)
            if source not in own and os.path.exists(cfile):
                continue  # compiled by uv (a venv workset's dependencies: thousands of files)
            # One that does not compile fails to load too; the workset reports it then.
            with contextlib.suppress(py_compile.PyCompileError):
                py_compile.compile(path, cfile=cfile, doraise=True)
    finally:
        sys.pycache_prefix = prefix


def record_files(root: Path, site: Path, wheel: Path) -> FileRecord:
    """Compile, then record every file under ``root`` (``site`` holds the workset's
    packages); check each hash the signed ``wheel``'s RECORD lists against what was
    installed.

    :raises InstallError: when an installed file is not the one the wheel lists.
    """
    from modellab.errors import InstallError

    expected = _wheel_hashes(wheel)
    # Every source under site-packages, not only the wheel's: a venv's own (uv's
    # ``_virtualenv.py``, imported by its ``.pth`` at every start) would be compiled at
    # its first run otherwise, and its bytecode would be a new file.
    sources = [path for path, _full, _stat in _walk(str(site)) if path.endswith(".py")]
    _compile(site, sources, {path for path in expected if path.endswith(".py")})
    prefix = site.relative_to(root).as_posix()
    prefix = "" if prefix == "." else f"{prefix}/"
    record: FileRecord = {}
    for relative, path, stat in _walk(str(root)):
        record[relative] = _entry(path, stat)
    for path, (algorithm, digest) in expected.items():
        if path.endswith(".dist-info/RECORD"):
            continue
        installed = record.get(f"{prefix}{path}")
        if installed is None or installed[0].startswith(("link:", "special:")):
            raise InstallError(
                f"{wheel.name}: {path} is listed in its RECORD but was not installed",
                hint="nothing was installed",
            )
        actual = installed[0]
        if algorithm != "sha256":
            try:
                actual = hashlib.new(algorithm, (site / path).read_bytes()).hexdigest()
            except ValueError:
                raise InstallError(f"{wheel.name}: RECORD hash {algorithm!r} unknown") from None
        if actual != digest:
            raise InstallError(
                f"{wheel.name}: installed {path} differs from the hash its RECORD lists",
                hint="nothing was installed; uv's cache may hold a changed copy: "
                f"run 'uv cache clean {wheel.name.split('-', 1)[0]}' and try again",
            )
    return record


def differences(root: Path, record: FileRecord, *, full: bool = False) -> list[str]:
    """What differs between ``root`` and ``record``: 'changed P', 'added P', 'missing P'.

    :param full: hash every file; otherwise a file with the recorded size and mtime is
        taken as unchanged (see the module docstring).
    """
    try:
        found = _walk(str(root))
    except OSError:
        return [f"missing {root.name}/"]
    problems: list[str] = []
    seen: set[str] = set()
    for relative, path, stat in found:
        seen.add(relative)
        wanted = record.get(relative)
        if wanted is None:
            problems.append(f"added {relative}")
            continue
        digest, size, mtime_ns = wanted
        if not full and stat.st_size == size and stat.st_mtime_ns == mtime_ns:
            continue
        try:
            actual = _entry(path, stat)[0]
        except OSError:
            actual = None
        if actual != digest:
            problems.append(f"changed {relative}")
    problems.extend(f"missing {relative}" for relative in sorted(record.keys() - seen))
    return sorted(problems)


def summary(problems: list[str]) -> str:
    """A one-line account of ``problems`` (the first few, then a count)."""
    shown = ", ".join(problems[:_SHOWN])
    more = len(problems) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
