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


def uv_environment(wheelhouse: Path, *more: Path) -> dict[str, str]:
    """uv's settings for an install from the wheelhouse(s) only (never an index)."""
    links = [str(wheelhouse), *map(str, more)]
    links += [str(LOCAL_WHEELS)] if LOCAL_WHEELS.is_dir() else []
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


#: What the serving workset needs beyond the unsloth wheelhouse (which holds torch,
#: transformers, safetensors and numpy at the core's versions): llama-cpp-python's server
#: extra and sentencepiece (llama.cpp's converters, for SentencePiece tokenizers). pip
#: resolves their dependencies, held to the core environment's versions.
SERVING_REQUIREMENTS = (
    "uvicorn>=0.22.0",
    "fastapi>=0.100.0",
    "pydantic-settings>=2.0.1",
    "sse-starlette>=1.6.1",
    "starlette-context>=0.3.6,<0.4",
    "PyYAML>=5.1",
    "diskcache>=5.6.1",
    "jinja2>=2.11.3",
    "typing-extensions>=4.5.0",
    "sentencepiece>=0.2",
)


def _core_constraints(uv: str) -> list[str]:
    """``name==version`` of every package of the development environment (not file pins)."""
    frozen = subprocess.run(
        [uv, "pip", "freeze", "--python", str(ROOT / ".venv" / "bin" / "python")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(line for line in frozen.splitlines() if "==" in line and "@" not in line)


def serving_folder(uv: str | None = None) -> Path:
    """The serving workset's extra wheelhouse for the current environment (built or not)."""
    recipe = "\n".join([*SERVING_REQUIREMENTS, *_core_constraints(uv or _uv())])
    return CACHE / f"wheelhouse-serving-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def serving_ready() -> Path | None:
    """The finished serving wheelhouse, or ``None``."""
    try:
        found = serving_folder()
    except (OSError, subprocess.CalledProcessError):
        return None
    return found if (found / "ready").is_file() else None


def ensure_serving() -> Path:
    """Build the serving workset's wheelhouse if needed: pip downloads the server extra's
    wheels, and the portable llama-cpp-python wheel is built once (7 minutes) and copied in."""
    sys.path.insert(0, str(ROOT / "tests"))
    from evals import llama_server

    uv = _uv()
    target = serving_folder(uv)
    if (target / "ready").is_file():
        return target
    built = llama_server.wheel(uv)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    constraints = staging / "constraints.txt"
    constraints.write_text("\n".join(_core_constraints(uv)) + "\n")
    print(f"==> downloading the serving workset's wheels into {target}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-qq",
            "--only-binary=:all:",
            "-c",
            str(constraints),
            "-d",
            str(staging),
            *SERVING_REQUIREMENTS,
        ],
        check=True,
    )
    constraints.unlink()
    shutil.copy2(built, staging / built.name)
    (staging / "ready").write_text("\n".join(SERVING_REQUIREMENTS) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


if __name__ == "__main__":
    print(ensure_serving() if "--serving" in sys.argv[1:] else ensure())
