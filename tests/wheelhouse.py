"""A local wheelhouse of the ``unsloth`` workset's dependencies, for installs with no index.

The tests install the workset through the real flow, and a ``venv`` workset's install
runs uv on its dependencies (torch, transformers, peft, trl, ...). Tests never reach the
network, so uv is pointed at this folder (``UV_NO_INDEX=1``, ``UV_FIND_LINKS``) and at the
CPU build of torch that lies on this kind of machine (``/opt/wheels``).

The wheelhouse is built once per machine, with pip, from the versions ``uv.lock`` pins
(``uv export``), under the tests' cache folder (``$MODELLAB_TEST_CACHE``, default
``~/.cache/modellab-tests``); a ``ready`` file written last marks a finished build.
``python3 tests/wheelhouse.py`` builds it (``python3 dev.py test`` does that before pytest);
the tests that need it skip with this hint when it is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MODELLAB_TEST_CACHE") or Path("~/.cache/modellab-tests").expanduser())
PACKAGE = "modellab-unsloth"
#: Where this kind of machine keeps the CPU build of torch (../.library env).
LOCAL_WHEELS = Path("/opt/wheels")
_EXPORT = ("--no-hashes", "--no-emit-workspace", "--no-dev", "--frozen", "--format")
_EXPORT += ("requirements.txt", "--no-header", "--no-annotate")
#: -qq: this kind of machine's pip.conf names local mirrors that may be absent (warnings).
_DOWNLOAD = ("-qq", "--no-deps", "--only-binary=:all:")


def _pins(uv: str) -> list[str]:
    """The lock's pins for the workset, less torch's local file (found in LOCAL_WHEELS)."""
    exported = subprocess.run(
        [uv, "export", "--package", PACKAGE, *_EXPORT],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [
        line.strip()
        for line in exported.splitlines()
        if line.strip() and not line.startswith(("#", " ", "file:", "-e"))
    ]


def folder(uv: str | None = None) -> Path:
    """The wheelhouse for the current lock (built or not)."""
    recipe = "\n".join(_pins(uv or _uv()))
    return CACHE / f"wheelhouse-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ready() -> Path | None:
    """The finished wheelhouse, or ``None``."""
    try:
        found = folder()
    except (OSError, subprocess.CalledProcessError):
        return None
    return found if (found / "ready").is_file() else None


def uv_environment(wheelhouse: Path) -> dict[str, str]:
    """uv's settings for an install from the wheelhouse only (never an index)."""
    links = [str(wheelhouse)] + ([str(LOCAL_WHEELS)] if LOCAL_WHEELS.is_dir() else [])
    return {"UV_NO_INDEX": "1", "UV_FIND_LINKS": ",".join(links)}


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    tools = ROOT / ".tools" / "uv" / "bin" / "uv"
    return found if Path(found).exists() else str(tools)


def ensure() -> Path:
    """Build the wheelhouse if needed (pip downloads the pinned wheels once)."""
    uv = _uv()
    pins = _pins(uv)
    target = folder(uv)
    if (target / "ready").is_file():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    requirements = staging / "requirements.txt"
    requirements.write_text("\n".join(pins) + "\n")
    req = str(requirements)
    print(f"==> downloading the unsloth workset's {len(pins)} pinned wheels into {target}")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", *_DOWNLOAD, "-d", str(staging), "-r", req],
        check=True,
    )
    requirements.unlink()
    (staging / "ready").write_text("\n".join(pins) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


if __name__ == "__main__":
    print(ensure())
