"""Run a Model Lab command on a real full disk: a small tmpfs, filled but for a few pages.

The tmpfs is mounted in a private mount namespace made by ``unshare --map-root-user
--mount``, so no root privileges are needed where user namespaces exist (and nothing is
mounted on the host). It lives only as long as the command: the script copies a seed onto
it first, fills it, runs the command, then copies what is left on it (without the filler)
to ``snapshot`` so the test can look at what the command kept.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

__all__ = ["PAGE", "full_disk_skip_reason", "modellab", "run_on_full_disk"]

#: tmpfs hands out whole pages; free space is given in pages.
PAGE = 4096

# Fill the disk: write until ENOSPC, in smaller and smaller pieces, then give back exactly
# the free space asked for.
_FILL = r"""
import os, sys
disk, free = sys.argv[1], int(sys.argv[2])
fd = os.open(os.path.join(disk, ".filler"), os.O_WRONLY | os.O_CREAT, 0o600)
size = 0
for chunk in (1 << 20, 1 << 16, 4096, 1):
    block = b"\0" * chunk
    while True:
        try:
            size += os.write(fd, block)
        except OSError:
            break
os.ftruncate(fd, max(size - free, 0))
os.close(fd)
"""

_SCRIPT = r"""
set -e
disk=$1; size=$2; seed=$3; snapshot=$4; free=$5; shift 5
mount -t tmpfs -o "size=$size,mode=0755" tmpfs "$disk"
if [ -n "$seed" ]; then cp -a "$seed/." "$disk/"; fi
"$FULLDISK_PYTHON" -c "$FULLDISK_FILL" "$disk" "$free"
set +e
"$@"
rc=$?
rm -f "$disk/.filler"
if [ -n "$snapshot" ]; then cp -a "$disk/." "$snapshot/"; fi
exit $rc
"""


def _unshare_command(disk: Path, size: str, seed: str, snapshot: str, free: int) -> list[str]:
    return [
        "unshare",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        _SCRIPT,
        "sh",
        str(disk),
        size,
        seed,
        snapshot,
        str(free),
    ]


@functools.cache
def full_disk_skip_reason() -> str | None:
    """Why a tmpfs cannot be mounted here (``None`` when it can)."""
    if sys.platform != "linux":
        return "a small tmpfs in a user namespace needs Linux"
    if shutil.which("unshare") is None:
        return "util-linux 'unshare' is not installed"
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            [*_unshare_command(Path(folder), "16k", "", "", 0), "true"],
            capture_output=True,
            text=True,
            env={**os.environ, "FULLDISK_PYTHON": sys.executable, "FULLDISK_FILL": _FILL},
            check=False,
            timeout=60,
        )
    if probe.returncode != 0:
        return (
            "cannot mount a tmpfs in a user namespace here "
            f"(unshare --map-root-user --mount: {probe.stderr.strip()[:200]})"
        )
    return None


def modellab(*argv: str) -> list[str]:
    """The command line that runs Model Lab's CLI in a fresh interpreter."""
    return [sys.executable, "-m", "modellab", *argv]


def run_on_full_disk(
    command: Sequence[str],
    *,
    disk: Path,
    free: int = 0,
    size: str = "4m",
    seed: Path | None = None,
    snapshot: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with a tmpfs of ``size`` mounted on ``disk``, filled to ``free`` bytes.

    ``seed``'s content is copied onto the tmpfs before it is filled (a lab home, say);
    ``snapshot`` (an empty folder) receives what is on the tmpfs after the command. Skips
    the test when no tmpfs can be mounted here.
    """
    reason = full_disk_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    disk.mkdir(parents=True, exist_ok=True)
    if snapshot is not None:
        snapshot.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    full_env.update(FULLDISK_PYTHON=sys.executable, FULLDISK_FILL=_FILL, COLUMNS="200")
    return subprocess.run(
        [*_unshare_command(disk, size, str(seed or ""), str(snapshot or ""), free), *command],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
        timeout=300,
    )
