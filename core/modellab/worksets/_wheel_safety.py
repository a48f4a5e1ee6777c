"""Refuse unsafe wheels before they are published or installed: one check, three callers.

``registry build`` checks its own output, ``registry add`` checks what it would publish,
and ``worksets install`` checks the verified wheel before uv sees it. A wheel is refused,
naming the wheel and the entry, when:

- an entry's name is not a plain relative path: absolute, a drive letter, a ``..`` or
  ``.`` or empty component, a backslash, NUL or any other control character;
- two entries have the same name (or names that differ only in case: one would overwrite
  the other on macOS and Windows);
- an entry is a symbolic link, or any other non-regular file, by its external attributes;
- an entry is a ``.pth`` file (anywhere): Python runs those at interpreter start-up;
- an entry is inside a top-level ``*.data/`` folder (any case): the wheel format installs
  ``NAME.data/scripts`` into the environment's ``bin/`` (where a script can shadow
  ``modellab``, ``python`` or another workset's), ``NAME.data/data`` and ``/headers`` into
  the environment's prefix, and ``/purelib``/``/platlib`` beside everything else: all of
  them outside the workset's own folder, where the RECORD check at load does not look.
  A workset needs none of them (``registry build`` never makes one; commands come from
  the manifest), so all of ``.data/`` is refused rather than some sub-folders, which
  leaves no scheme or script name to get wrong;
- there are more than :data:`MAX_ENTRIES` entries, the unpacked size is more than
  :data:`MAX_UNPACKED_BYTES`, or an entry larger than :data:`RATIO_FLOOR_BYTES` unpacks to
  more than :data:`MAX_RATIO` times its compressed size (a zip bomb);
- an entry does not read back as its header says (local header name, size and CRC): what
  uv unpacks is then what was checked here.

Every entry is read once, in blocks, and never more than the declared size in all.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path
from typing import IO

from modellab.errors import TrustError

__all__ = [
    "MAX_ENTRIES",
    "MAX_RATIO",
    "MAX_UNPACKED_BYTES",
    "RATIO_FLOOR_BYTES",
    "UnsafeWheelError",
    "check_wheel",
    "check_wheel_bytes",
]

#: At most this many entries in one wheel.
MAX_ENTRIES = 20_000
#: At most this many bytes unpacked, all entries together (512 MiB).
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
#: An entry that unpacks to more than this many bytes ...
RATIO_FLOOR_BYTES = 1024 * 1024
#: ... may unpack to at most this many times its compressed size.
MAX_RATIO = 100

_BLOCK = 1 << 20


class UnsafeWheelError(TrustError):
    """A wheel has an unsafe entry or is too big unpacked; nothing was published or installed."""


def _shown(name: str) -> str:
    """An entry name for a one-line message: control characters escaped."""
    return ascii(name) if not name.isprintable() else repr(name)


def _name_problem(raw: str) -> str | None:
    """Why ``raw`` (the name as stored, before zipfile cuts it at a NUL) is unsafe, or None."""
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in raw):
        return "has a control character in its name"
    if "\\" in raw:
        return "has a backslash in its name"
    if raw.startswith("/"):
        return "is an absolute path"
    if len(raw) >= 2 and raw[1] == ":" and raw[0].isascii() and raw[0].isalpha():
        return "starts with a drive letter"
    parts = raw[:-1].split("/") if raw.endswith("/") else raw.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' path component"
    if raw.lower().endswith(".pth"):
        return "is a .pth file (Python runs those at start-up; worksets may not ship one)"
    in_folder = len(parts) > 1 or raw.endswith("/")
    if in_folder and parts[0].lower().endswith(".data"):
        return (
            "is in a wheel .data folder (installed outside the workset's folder: "
            "scripts into bin, data and headers into the prefix; worksets may not ship one)"
        )
    return None


def _refuse(label: str, name: str, why: str) -> UnsafeWheelError:
    return UnsafeWheelError(
        f"{label}: entry {_shown(name)} {why}; refused",
        hint="nothing was published or installed",
    )


def check_wheel(wheel: Path | IO[bytes], label: str | None = None) -> None:
    """Refuse ``wheel`` (a path, or a seekable binary file) unless it is safe to unpack.

    :param label: how messages name the wheel (default: the file's name).
    :raises UnsafeWheelError: naming the wheel and the first unsafe entry.
    """
    if label is None:
        label = wheel.name if isinstance(wheel, Path) else "wheel"
    try:
        with zipfile.ZipFile(wheel) as archive:
            infos = archive.infolist()
            _check_directory(label, infos)
            for info in infos:
                _read_back(label, archive, info)
    except zipfile.BadZipFile as exc:
        raise UnsafeWheelError(f"{label}: not a readable wheel ({exc}); refused") from None
    except (OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UnsafeWheelError(f"{label}: cannot be read as a wheel ({exc}); refused") from None


def check_wheel_bytes(data: bytes, label: str) -> None:
    """:func:`check_wheel` on a wheel held in memory."""
    check_wheel(io.BytesIO(data), label)


def _check_directory(label: str, infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ENTRIES:
        raise UnsafeWheelError(
            f"{label}: {len(infos)} entries, more than the {MAX_ENTRIES} a wheel may have; refused",
            hint="nothing was published or installed",
        )
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        raw = info.orig_filename
        why = _name_problem(raw)
        if why is not None:
            raise _refuse(label, raw, why)
        folded = raw.casefold()
        if folded in seen:
            twin = seen[folded]
            why = "appears twice" if twin == raw else f"differs from {_shown(twin)} only in case"
            raise _refuse(label, raw, why)
        seen[folded] = raw
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise _refuse(label, raw, "is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(label, raw, "is not a regular file")
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise _refuse(
                label,
                raw,
                f"unpacks to {info.file_size} bytes from {info.compress_size} "
                f"(more than {MAX_RATIO} times: a zip bomb)",
            )
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise _refuse(
                label,
                raw,
                f"takes the unpacked size past the {MAX_UNPACKED_BYTES} bytes a wheel may have",
            )


def _read_back(label: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Read ``info`` through: zipfile checks the local header's name, stops at the declared
    size and checks the CRC, so an entry that lies about itself is refused here."""
    size = 0
    try:
        with archive.open(info) as handle:
            while block := handle.read(_BLOCK):
                size += len(block)
    except zipfile.BadZipFile as exc:
        raise _refuse(label, info.orig_filename, f"does not read back as stored ({exc})") from None
    if size != info.file_size:
        raise _refuse(
            label,
            info.orig_filename,
            f"reads back as {size} bytes, its header says {info.file_size}",
        )
