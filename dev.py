#!/usr/bin/env python3
"""One entry point for people and CI: set everything up, then run the demo, tests or benchmarks.

    python3 dev.py demo     import, export, review and approve the sample sessions; then
                            publish every workset in worksets/, install and run observability
    python3 dev.py test     lint (ruff), type-check (mypy --strict) and run the test suite:
                            tests/ and every worksets/<name>/tests/
    python3 dev.py bench    run the benchmarks in bench/ (takes a few minutes)
    python3 dev.py schema   regenerate schemas/session.schema.json from the models
    python3 dev.py docs     regenerate docs/cli.md from the commands' --help

Needs only Python 3.11+ and pip. If ``uv`` is not on PATH it is installed into ``.tools/``
from PyPI (nothing is installed system-wide), then ``uv sync --locked`` builds ``.venv``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools" / "uv"
UV_REQUIREMENT = "uv>=0.5,<1"
VENV_BIN = ROOT / ".venv" / ("Scripts" if os.name == "nt" else "bin")


def _say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m" if sys.stdout.isatty() else f"==> {message}", flush=True)


def _run(*command: str | Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    completed = subprocess.run([str(c) for c in command], cwd=ROOT, env=env, check=False)
    if check and completed.returncode != 0:
        sys.exit(completed.returncode)
    return completed.returncode


def find_uv() -> Path:
    """uv from PATH, or from .tools/, installing it there with pip if needed."""
    on_path = shutil.which("uv")
    if on_path:
        return Path(on_path)
    local = TOOLS / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    if not local.exists():
        _say(f"uv not found: installing {UV_REQUIREMENT} into {TOOLS.relative_to(ROOT)}/")
        _run(
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            TOOLS,
            UV_REQUIREMENT,
        )
    return local


def sync(uv: Path) -> None:
    """Create .venv from uv.lock with this interpreter (no Python download).

    ``--all-packages`` installs every workspace member's dependencies: the core's, and each
    workset's from its own ``pyproject.toml`` (the worksets themselves are not installed; see
    the root ``pyproject.toml``).
    """
    _say("uv sync (core, every workset's dependencies, dev tools; from uv.lock)")
    # The system trust store, not uv's bundled roots: machines behind a TLS-inspecting
    # proxy (most corporate networks, and CI here) only trust the proxy there.
    env = {_system_certs_variable(uv): "1", **os.environ}
    _run(uv, "sync", "--locked", "--all-packages", "--python", sys.executable, env=env)


def _system_certs_variable(uv: Path) -> str:
    """uv's switch to the system trust store: ``UV_SYSTEM_CERTS`` where uv knows it.

    Newer uv warns on every run that ``UV_NATIVE_TLS`` is deprecated; an older uv (one on
    PATH may be) knows only that name.
    """
    completed = subprocess.run(
        [str(uv), "help", "sync"], capture_output=True, text=True, check=False
    )
    return "UV_SYSTEM_CERTS" if "UV_SYSTEM_CERTS" in completed.stdout else "UV_NATIVE_TLS"


def tool(name: str) -> Path:
    """A console script from the project's virtual environment."""
    return VENV_BIN / name


def demo() -> int:
    """Run the main job end to end on the bundled sample sessions, then the first workset."""
    home = ROOT / ".demo" / "home"
    out = ROOT / ".demo" / "export"
    shutil.rmtree(ROOT / ".demo", ignore_errors=True)
    env = {**os.environ, "MODELLAB_HOME": str(home)}
    modellab = tool("modellab")
    samples = ROOT / "examples" / "codewhale-sessions"
    steps: list[tuple[str, list[str | Path]]] = [
        ("import the sample sessions", ["sessions", "import", samples]),
        ("list them", ["sessions", "list"]),
        ("capture the three most recent", ["capture", "--last", "3"]),
        ("export them, redacted", ["export", "--out", out]),
        (
            "what was redacted (hashes and places, never values)",
            ["redact", "review", out, "--list"],
        ),
        # A person steps through the findings interactively ('modellab redact review EXPORT');
        # the demo keeps every redaction, as a script would.
        ("keep every redaction", ["redact", "review", out, "--accept-all"]),
        ("approve the reviewed export for sending", ["redact", "approve", out]),
        (
            "turn every agent decision point into a replay eval case",
            ["eval", "build", out, "--out", ROOT / ".demo" / "suite"],
        ),
        (
            "sanity check: the recorded actions must score 100% against themselves",
            [
                "eval",
                "run",
                ROOT / ".demo" / "suite",
                "--model",
                "recorded",
                "--against",
                "recorded",
            ],
        ),
    ]
    for title, args in steps:
        _say(f"modellab {' '.join(str(a) for a in args)}   # {title}")
        _run(modellab, *args, env=env)
    _say(
        f"done: see {out.relative_to(ROOT)}/trajectories.jsonl, redaction-findings.jsonl "
        "and manifest.json"
    )
    code = _demo_workset(modellab, env)
    return code if code != 0 else _demo_loop(modellab, env)


def _demo_workset(modellab: Path, env: dict[str, str]) -> int:
    """Publish every workset in worksets/ to a local registry; install observability, run it."""
    demo = ROOT / ".demo"
    registry, keys, signing, dist = (demo / n for n in ("registry", "keys", "signing", "dist"))
    root = registry / "metadata" / "1.root.json"
    sources = sorted(p.parent for p in (ROOT / "worksets").glob("*/pyproject.toml"))
    _say(
        "A local workset registry, signed with keys made just now. This demo trusts them "
        "explicitly: real registries are trusted only with a root you obtained out of band."
    )
    steps: list[tuple[str, list[str | Path]]] = [
        ("TUF role keys for the registry", ["registry", "keys", keys]),
        ("a key to sign worksets with", ["registry", "keys", "--signing", signing]),
        ("an empty registry", ["registry", "init", registry, "--keys", keys]),
    ]
    for source in sources:
        out = dist / source.name
        wheel = (
            out / f"modellab_{source.name.replace('-', '_')}-{_version(source)}-py3-none-any.whl"
        )
        steps += [
            (f"build the {source.name} workset", ["registry", "build", source, "--out", out]),
            ("sign its wheel", ["registry", "sign", wheel, "--key", signing]),
            (
                "publish it",
                ["registry", "add", registry, wheel, "--keys", keys, "--signing-key", signing],
            ),
        ]
    steps += [
        ("check the whole registry", ["registry", "verify", registry]),
        (
            "trust it, pinning its TUF root",
            ["worksets", "add-registry", "demo", registry, "--root", root],
        ),
    ]
    for title, args in steps:
        _say(f"modellab {' '.join(str(a) for a in args)}   # {title}")
        _run(modellab, *args, env=env)
    code = _install_workset(modellab, env, "observability")
    if code != 0:
        return code
    chart = demo / "observability.png"
    for title, args in [
        ("installed worksets", ["worksets", "list"]),
        (
            "the workset's command, on the sample sessions",
            ["observability", "stats", "--chart", chart],
        ),
    ]:
        _say(f"modellab {' '.join(str(a) for a in args)}   # {title}")
        _run(modellab, *args, env=env)
    _say(f"done: chart in {chart.relative_to(ROOT)}")
    return 0


def _install_workset(modellab: Path, env: dict[str, str], name: str) -> int:
    """``worksets install NAME``: show the manifest, then consent to exactly that one."""
    _say(f"modellab worksets install {name}   # shows the manifest; no consent yet")
    first = subprocess.run(
        [str(modellab), "worksets", "install", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(first.stdout, end="")
    marker = "manifest sha256 "
    if first.returncode != 10 or marker not in first.stdout:
        print(first.stderr, end="", file=sys.stderr)
        return first.returncode or 1
    digest = first.stdout.split(marker, 1)[1].split()[0]
    args = ["worksets", "install", name, "--accept-manifest", digest]
    _say(f"modellab {' '.join(args)}   # consent to exactly the manifest shown above")
    return _run(modellab, *args, env=env, check=False)


def _loop_setup() -> dict[str, str]:
    """What the loop needs on this machine, built once and cached (the tests use the same):
    SmolLM2's GGUF and llama-cpp-python (a 7-minute build), SmolLM2 cut to 2 layers, the
    pinned llama-cpp-python sdist (llama.cpp's converters), and the wheelhouses the
    unsloth and serving worksets install their stacks from, with no index."""
    _say("set-up for the loop: SmolLM2, llama-cpp-python, the worksets' wheels (cached)")
    if _run(tool("python"), ROOT / "tests" / "evals" / "llama_server.py", check=False):
        sys.exit("building llama-cpp-python failed (see above)")
    for flag in ([], ["--serving"]):
        if _run(sys.executable, ROOT / "tests" / "wheelhouse.py", *flag, check=False):
            sys.exit("downloading the worksets' wheels failed (see above)")
    found = subprocess.run(
        [
            str(tool("python")),
            "-c",
            "import json, sys; sys.path.insert(0, 'tests'); import tiny_models, wheelhouse; "
            "from evals import llama_server as s; print(json.dumps({'gguf': str(s.gguf_path()), "
            "'base': str(tiny_models.smollm2_folder(layers=2)), 'sdist': str(s.sdist()), "
            "'uv': wheelhouse.uv_environment(wheelhouse.ready(), wheelhouse.serving_ready())}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    paths: dict[str, Any] = json.loads(found.stdout)
    return {"gguf": paths["gguf"], "base": paths["base"], "sdist": paths["sdist"], **paths["uv"]}


def _demo_loop(modellab: Path, env: dict[str, str]) -> int:
    """The loop (examples/loop.py): dataset, train, serve, eval, promote, roll back."""
    import time

    setup = _loop_setup()
    demo = ROOT / ".demo"
    config = demo / "codewhale" / "config.toml"
    env = {
        **env,
        "CODEWHALE_CONFIG_PATH": str(config),
        "MODELLAB_CONVERTERS": setup["sdist"],
        **{k: v for k, v in setup.items() if k.startswith("UV_")},
    }
    for name in ("unsloth", "serving"):
        code = _install_workset(modellab, env, name)
        if code != 0:
            return code
    sys.path.insert(0, str(ROOT / "examples"))
    import loop

    started = time.monotonic()
    steps = loop.steps(
        export=demo / "export",
        suite=demo / "suite",
        dataset=demo / "dataset",
        gguf=Path(setup["gguf"]),
        base=Path(setup["base"]),
    )
    try:
        for step in steps:
            _say(f"modellab {' '.join(step.argv)}   # {step.title}")
            code = _run(modellab, *step.argv, env=env, check=False)
            if code not in step.expected:
                _say(f"that step exited {code}; the loop stops here")
                return code
            if code != 0:
                _say(f"exit {code} is the expected outcome here")
            if step.argv[:2] == ["serve", loop.CURRENT]:
                _codewhale_today(modellab, env, config, loop)
            if step.then:
                print(f"    next: {step.then}", flush=True)
    finally:
        subprocess.run(
            [str(modellab), "serve", "stop", "--all"], env=env, check=False, capture_output=True
        )
    _say(f"done: the loop took {time.monotonic() - started:.0f} s after set-up")
    return 0


def _codewhale_today(modellab: Path, env: dict[str, str], config: Path, loop: Any) -> None:
    """Write the config of a CodeWhale user whose model today is the server just started."""
    import json

    listed = subprocess.run(
        [str(modellab), "serve", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    (server,) = json.loads(listed.stdout)
    loop.codewhale_config(
        config, server["base_url"], server["served_model"], server["context_window"]
    )
    print(
        f"    wrote {config.relative_to(ROOT)}: CodeWhale uses {server['model']} today", flush=True
    )


def _version(source: Path) -> str:
    """A workset's version: its ``pyproject.toml`` is the one place it lives."""
    import tomllib

    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def _start_model_server_build() -> subprocess.Popen[bytes] | None:
    """Build the real model server the eval tests use, in the background, once per machine.

    llama-cpp-python compiles from source (about 7 minutes on 2 CPUs); the result is cached
    under ~/.cache/modellab-tests (tests/evals/llama_server.py). MODELLAB_SKIP_MODEL_SERVER=1
    skips it, and the tests that need it then skip and say why.
    """
    if os.environ.get("MODELLAB_SKIP_MODEL_SERVER") == "1":
        return None
    script = ROOT / "tests" / "evals" / "llama_server.py"
    _say(
        "model server for the eval tests (llama-cpp-python + SmolLM2; cached after the first build)"
    )
    return subprocess.Popen([str(tool("python")), str(script)], cwd=ROOT)


def _start_wheelhouse_build() -> subprocess.Popen[bytes]:
    """Download the unsloth workset's pinned wheels once per machine (tests/wheelhouse.py):
    the training tests install that workset, dependencies and all, with no index."""
    _say("wheelhouse for the training tests (torch, transformers, peft, trl; cached)")
    script = ROOT / "tests" / "wheelhouse.py"
    # This interpreter, not the venv's: uv's venvs have no pip.
    return subprocess.Popen([sys.executable, str(script)], cwd=ROOT)


def test() -> int:
    """Lint, type-check and run the whole test suite (pytest's ``testpaths``: ``tests/`` and
    every ``worksets/*/tests/``)."""
    server_build = _start_model_server_build()
    wheelhouse_build = _start_wheelhouse_build()
    _say("ruff check")
    _run(tool("ruff"), "check", "core", "worksets", "tests", "bench", "tools", "examples", "dev.py")
    _say("ruff format --check")
    _run(
        tool("ruff"),
        "format",
        "--check",
        "core",
        "worksets",
        "tests",
        "bench",
        "tools",
        "examples",
        "dev.py",
    )
    _say("mypy --strict core/modellab")
    _run(tool("mypy"))
    if server_build is not None and server_build.wait() != 0:
        _say(
            "building the model server failed (see above); set MODELLAB_SKIP_MODEL_SERVER=1 to skip"
        )
        return 1
    if wheelhouse_build.wait() != 0:
        _say("downloading the training tests' wheelhouse failed (see above)")
        return 1
    if server_build is not None:
        # After the server build: the serving workset's wheelhouse holds the wheel it built.
        _say("wheelhouse for the serving tests (llama-cpp-python's server; cached)")
        script = ROOT / "tests" / "wheelhouse.py"
        if _run(sys.executable, script, "--serving", check=False) != 0:
            _say("building the serving tests' wheelhouse failed (see above)")
            return 1
    _say("pytest")
    return _run(tool("pytest"), *sys.argv[2:], check=False)


def bench() -> int:
    """Run the benchmarks (see bench/README.md)."""
    return _run(tool("python"), ROOT / "bench" / "run.py", *sys.argv[2:], check=False)


def schema() -> int:
    """Regenerate the published JSON Schema of the trace model."""
    return _run(tool("python"), "-m", "modellab.traces.schema_file", "--write", check=False)


def docs() -> int:
    """Regenerate the CLI reference from --help."""
    return _run(tool("python"), "-m", "modellab.cli._reference", "--write", check=False)


COMMANDS = {"demo": demo, "test": test, "bench": bench, "schema": schema, "docs": docs}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036  # dev.py must run on old Pythons to say this
        print("Model Lab needs Python 3.11 or newer.", file=sys.stderr)
        return 2
    sync(find_uv())
    return COMMANDS[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
