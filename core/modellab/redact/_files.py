"""Scan files and folders with the redaction engine (``modellab redact scan``).

It fails closed: whatever it could not scan is listed in the report with the reason, never
passed over in silence, and the CLI turns that into a non-zero exit.

- A path that does not exist, cannot be read, or is not a regular file or folder (a FIFO,
  socket or device) is not scanned. Nothing but a regular file is ever opened, so a FIFO
  cannot make it wait for a writer.
- Text is decoded from UTF-8, or from UTF-16/32 with a byte-order mark (and UTF-16 without
  one when every other byte is NUL). Stray NUL and control bytes stay in the text, so line
  and column numbers are those of the file. A file that is mostly control bytes or not
  valid UTF-8 is binary and is not scanned.
- Folders are walked in name order; version-control, dependency and cache folders are left
  out. Symbolic links are never followed into a folder: a link whose target is inside the
  folder being scanned is passed over (the target is scanned under its own name), a link
  to a file elsewhere is followed, and a link to a folder elsewhere is reported as not
  scanned; a broken link has nothing to scan. A folder is never entered twice, so a
  bind-mount loop ends too.
"""

from __future__ import annotations

import bisect
import codecs
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modellab.redact._engine import Scanner

__all__ = ["FileFinding", "NotScanned", "ScanReport", "decode_text", "scan_paths"]

_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox"})
#: Opened without waiting (a FIFO swapped in after the check still cannot block), never as
#: a controlling terminal, and in binary mode on Windows.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)
#: Byte-order marks, UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: C0 control characters that do not occur in text (tab, line feed, vertical tab, form feed,
#: carriage return and escape, for coloured logs, do).
_CONTROLS = "".join(chr(c) for c in range(32) if c not in (9, 10, 11, 12, 13, 27))
_DELETE_CONTROLS = str.maketrans("", "", _CONTROLS)
#: Text may hold this share of control characters and undecodable bytes; more is binary.
_ODD_SHARE = 10

NotScannedKind = Literal["missing", "unreadable", "special", "binary", "link"]


@dataclass(frozen=True, slots=True)
class FileFinding:
    """A finding in a file: where (line, column), which rule, and the value's hash."""

    path: str
    line: int
    column: int
    rule_id: str
    category: str
    value_sha256: str
    #: The first characters of the value and its length, never the whole value.
    preview: str


@dataclass(frozen=True, slots=True)
class NotScanned:
    """A path that was not scanned, and why."""

    path: str
    reason: str
    #: ``missing``, ``unreadable``, ``special`` (FIFO, socket, device), ``binary`` or
    #: ``link`` (a symbolic link to a folder outside the one scanned).
    kind: NotScannedKind


@dataclass(slots=True)
class ScanReport:
    """Everything ``scan_paths`` found, and everything it could not scan."""

    findings: list[FileFinding] = field(default_factory=list)
    files_scanned: int = 0
    bytes_scanned: int = 0
    not_scanned: list[NotScanned] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per rule."""
        return dict(Counter(f.rule_id for f in self.findings).most_common())

    def missed(self, *, skip_binary: bool = False) -> list[NotScanned]:
        """What makes the scan incomplete: everything not scanned (binary files too, unless
        ``skip_binary``)."""
        return [n for n in self.not_scanned if not (skip_binary and n.kind == "binary")]

    def _skip(self, path: Path | str, reason: str, kind: NotScannedKind) -> None:
        self.not_scanned.append(NotScanned(str(path), reason, kind))


def _odd(text: str, undecodable: int = 0) -> bool:
    """Whether ``text`` has too many control characters (and undecodable bytes) for text."""
    odd = len(text) - len(text.translate(_DELETE_CONTROLS)) + undecodable
    return odd > max(1, len(text) // _ODD_SHARE)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text without a byte-order mark: one byte of (nearly) every pair is NUL."""
    if len(data) < 4 or len(data) % 2:
        return None
    half = len(data) // 2
    for codec, high, low in (
        ("utf-16-le", data[1::2], data[0::2]),
        ("utf-16-be", data[0::2], data[1::2]),
    ):
        if high.count(0) * 4 >= half * 3 and low.count(0) * _ODD_SHARE <= half:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                return None
            return None if _odd(text) else text
    return None


def decode_text(data: bytes) -> str | None:
    """``data`` as text, or None when it is binary (see the module docstring)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue  # UTF-16 text can begin with U+0000 after its mark; try the next
            if not _odd(text):
                return text
    try:
        text = data.decode("utf-8")
        undecodable = 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        undecodable = text.count("\ufffd")
    if not _odd(text, undecodable):
        return text
    return _utf16_without_bom(data) if b"\x00" in data else None


def _described(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _inside(target: str, root: str) -> bool:
    try:
        relative = os.path.relpath(target, root)
    except ValueError:  # another drive
        return False
    if relative == os.curdir:
        return True
    parts = Path(relative).parts
    return parts[0] != os.pardir and not _SKIP_DIRS.intersection(parts)


def _walk(root: Path, report: ScanReport) -> Iterator[Path]:
    """The files under ``root`` to scan (see the module docstring for links and loops)."""
    real_root = os.path.realpath(root)
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            report._skip(folder, f"cannot read folder ({exc.strerror or exc})", "unreadable")
            continue
        folders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    target = os.path.realpath(path)
                    if _inside(target, real_root) or not os.path.lexists(target):
                        continue  # scanned under its own name, or nothing there to scan
                    if entry.is_dir():
                        report._skip(
                            path,
                            "symbolic link to a folder outside the one scanned; not followed, "
                            "name its target to scan it",
                            "link",
                        )
                        continue
                    yield path  # a file elsewhere (or a broken link, reported as missing)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in _SKIP_DIRS:
                        folders.append(path)
                else:
                    yield path
            except OSError as exc:
                report._skip(path, f"cannot read ({exc.strerror or exc})", "unreadable")
        stack.extend(reversed(folders))  # depth first, in name order


def _paths(paths: Iterable[Path], report: ScanReport) -> Iterator[Path]:
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            broken = os.path.islink(path)
            reason = "broken symbolic link" if broken else "no such file or folder"
            report._skip(path, reason, "missing")
            continue
        except OSError as exc:
            report._skip(path, f"cannot read ({exc.strerror or exc})", "unreadable")
            continue
        if stat.S_ISDIR(mode):
            yield from _walk(path, report)
        else:
            yield path


def _read(path: Path, report: ScanReport) -> bytes | None:
    """The bytes of ``path`` if it is a regular file that can be read; else None, reported."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        broken = os.path.islink(path)
        report._skip(path, "broken symbolic link" if broken else "no such file", "missing")
        return None
    except OSError as exc:
        report._skip(path, f"cannot read ({exc.strerror or exc})", "unreadable")
        return None
    if not stat.S_ISREG(mode):
        # Never opened: a FIFO would wait for a writer, a device may never end.
        report._skip(path, f"{_described(mode)}, not a regular file", "special")
        return None
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        report._skip(path, f"cannot read ({exc.strerror or exc})", "unreadable")
        return None
    with open(descriptor, "rb", closefd=True) as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):  # replaced since the check above
            report._skip(path, f"{_described(mode)}, not a regular file", "special")
            return None
        try:
            return handle.read()
        except OSError as exc:
            report._skip(path, f"cannot read ({exc.strerror or exc})", "unreadable")
            return None


def _preview(value: str) -> str:
    # Enough to recognise the kind of value, never enough to use it.
    return f"{value[:4]}… ({len(value)} chars)" if len(value) > 6 else f"… ({len(value)} chars)"


def scan_paths(
    scanner: Scanner,
    paths: Iterable[Path],
    *,
    on_file: Callable[[Path, int], None] | None = None,
) -> ScanReport:
    """Scan every file under ``paths``; what cannot be scanned is listed in the report."""
    report = ScanReport()
    for path in _paths(paths, report):
        data = _read(path, report)
        if data is None:
            continue
        text = decode_text(data)
        if text is None:
            report._skip(path, "binary file", "binary")
            continue
        report.files_scanned += 1
        report.bytes_scanned += len(data)
        line_starts = [0]
        position = text.find("\n")
        while position != -1:
            line_starts.append(position + 1)
            position = text.find("\n", position + 1)
        for finding in scanner.scan(text):
            line = bisect.bisect_right(line_starts, finding.start)
            report.findings.append(
                FileFinding(
                    str(path),
                    line,
                    finding.start - line_starts[line - 1] + 1,
                    finding.rule_id,
                    finding.category,
                    finding.value_sha256,
                    _preview(text[finding.start : finding.end]),
                )
            )
        if on_file is not None:
            on_file(path, len(data))
    return report
