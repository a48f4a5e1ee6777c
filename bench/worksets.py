"""Workset installs against ``pip install``, and ``--help`` with worksets installed, in one run.

Run it alone or as part of ``bench/run.py`` (``--only worksets``)::

    uv run python bench/worksets.py                # table, exit 1 if a target is missed
    uv run python bench/worksets.py --json out.json
    uv run python bench/run.py --only worksets     # fresh process, table + results JSON

Set-up, once a run and not timed: TUF role keys and a signing key, an empty registry, and
``worksets/observability`` plus ``--tiny`` generated worksets (the folders
``tests/workset_core/builders.py`` writes) built, signed and published with the real CLI
(``modellab registry keys|init|build|sign|add``), as ``python3 dev.py demo`` does.

Targets (the worksets issue):

* install: ``python -m modellab worksets install observability --accept-manifest SHA``
  (TUF index refresh, fetch, signature check, manifest and consent, ``uv pip install`` by
  hash), with a warm uv cache, takes at most a quarter of the time of
  ``python -m pip install --no-index <the same wheel>``. Each side is timed best of
  ``--repeats`` fresh processes, interleaved: ours into a fresh ``MODELLAB_HOME`` that
  trusts the registry (``worksets add-registry``, not timed); pip into a fresh venv whose
  site-packages are layered over the project venv's (a ``.pth`` line
  ``import site; site.addsitedir(...)``), so that pip, like our shared install, finds
  ``modellab`` and ``matplotlib`` already there, checks them and installs the one wheel.
  ``pip install --no-deps`` is timed beside it for information. One install of each
  warms the caches first (uv's cache, bytecode, the page cache); the venvs are made
  before the timed region.
* help: ``python -m modellab --help`` with every workset installed (observability and the
  generated ones) is at most 2.5x ``python -c pass`` (best of ``--help-repeats`` fresh
  processes each, interleaved). ``--help`` with no workset is shown for information.

Where our install's time goes is recorded too: one install under ``-X importtime`` (import
cost by package) and one under cProfile (time per install step, and the top functions).

Every child gets ``HOME`` and ``UV_CACHE_DIR`` inside a new folder under ``bench/.data/``
(never the user's ``~/.modellab``), ``PYTHONPYCACHEPREFIX=bench/.data/pycache`` like
``bench/run.py``, and no ``MODELLAB_*``, ``UV_*``, ``PIP_*``, ``VIRTUAL_ENV`` or
``CONDA_PREFIX`` from the caller (a ``PIP_FIND_LINKS`` there would send pip reading that
folder). The measured commands run in an empty temporary folder outside the repository, as
a user's would: the shared install runs ``uv pip install --target`` without naming a
Python, so uv looks for one, and inside this repository it finds the workspace ``.venv``
at once; elsewhere it takes the first ``python`` on PATH. Our install is also timed from
the repository root, for information.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / ".data"
OBSERVABILITY = ROOT / "worksets" / "observability"

INSTALL_RATIO_MAX = 0.25
#: Issue 13: every workset installed must not make --help slower than 2.5x a bare Python.
HELP_RATIO_MAX = 2.5
#: The manifest hash appears after this in ``worksets install`` output (as dev.py reads it).
_SHA_MARKER = "manifest sha256 "


# --------------------------------------------------------------------------------------
# Processes


@dataclass
class Timed:
    """One finished child process."""

    argv: list[str]
    rc: int
    wall_s: float
    cpu_s: float  # user + sys, children included (uv, for our install)
    peak_rss_mib: float
    stdout: str = ""
    stderr: str = ""

    def brief(self) -> str:
        tail = (self.stderr or self.stdout).strip().splitlines()[-8:]
        return f"exit {self.rc}: {' '.join(self.argv)}\n    " + "\n    ".join(tail)


def timed(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> Timed:
    """Run ``argv`` to completion in ``cwd``: wall and CPU time, peak RSS, output.

    The parent blocks in ``os.wait4`` (no polling), so the wall time is the child's
    lifetime; output goes to temporary files so that a chatty child cannot block.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not reap it again
        out.seek(0)
        err.seek(0)
        return Timed(
            argv=[str(a) for a in argv],
            rc=p.returncode,
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def child_env(home: Path, uv_cache: Path, modellab_home: Path | None = None) -> dict[str, str]:
    """bench/run.py's child environment, isolated: HOME, uv's cache and MODELLAB_HOME here."""
    import run  # bench/run.py (imported here: run.py imports this module)

    env = {
        k: v
        for k, v in run.child_env().items()
        if not k.startswith(("UV_", "PIP_")) and k not in ("VIRTUAL_ENV", "CONDA_PREFIX")
    }
    env["HOME"] = str(home)
    env["UV_CACHE_DIR"] = str(uv_cache)
    if modellab_home is not None:
        env["MODELLAB_HOME"] = str(modellab_home)
    return env


def modellab(env: dict[str, str], *args: str | Path, expect: int = 0) -> Timed:
    """``python -m modellab ARGS`` in a fresh process; raise unless it exits ``expect``."""
    proc = timed([sys.executable, "-m", "modellab", *map(str, args)], env)
    if proc.rc != expect:
        raise RuntimeError(f"expected exit {expect}, got {proc.brief()}")
    return proc


# --------------------------------------------------------------------------------------
# A registry, published to with the real CLI


@dataclass
class Registry:
    """Keys, a registry and built wheels under ``root`` (``tests/workset_core`` does the same)."""

    root: Path
    env: dict[str, str]

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def trusted_root(self) -> Path:
        return self.registry / "metadata" / "1.root.json"

    def create(self) -> None:
        keys, signing = self.root / "keys", self.root / "signing"
        modellab(self.env, "registry", "keys", keys)
        modellab(self.env, "registry", "keys", "--signing", signing)
        modellab(self.env, "registry", "init", self.registry, "--keys", keys)

    def publish(self, source: Path) -> Path:
        """Build, sign and add the workset at ``source``; returns its wheel."""
        dist = self.root / "dist" / source.name
        modellab(self.env, "registry", "build", source, "--out", dist)
        (wheel,) = dist.glob("*.whl")
        modellab(self.env, "registry", "sign", wheel, "--key", self.root / "signing")
        modellab(
            self.env,
            "registry",
            "add",
            self.registry,
            wheel,
            "--keys",
            self.root / "keys",
            "--signing-key",
            self.root / "signing",
        )
        return wheel

    def trust(self, env: dict[str, str]) -> None:
        """``worksets add-registry`` into the ``MODELLAB_HOME`` of ``env`` (a fresh TUF cache)."""
        modellab(
            env, "worksets", "add-registry", "bench", self.registry, "--root", self.trusted_root
        )


def manifest_sha256(env: dict[str, str], name: str) -> str:
    """Run the install without consent, as a user first would: exit 10 and the manifest hash."""
    proc = modellab(env, "worksets", "install", name, expect=10)
    if _SHA_MARKER not in proc.stdout:
        raise RuntimeError(f"no manifest sha256 in the output of {proc.brief()}")
    return proc.stdout.split(_SHA_MARKER, 1)[1].split()[0]


def fresh_home(reg: Registry, work: Path, label: str) -> dict[str, str]:
    """The environment of a new ``MODELLAB_HOME`` that trusts the registry."""
    env = child_env(work / "home", work / "uv-cache", work / "homes" / label)
    reg.trust(env)
    return env


def install_argv(name: str, sha: str, *python_flags: str) -> list[str]:
    return [
        sys.executable,
        *python_flags,
        "-m",
        "modellab",
        "worksets",
        "install",
        name,
        "--accept-manifest",
        sha,
    ]


def tiny_worksets(folder: Path, count: int) -> list[Path]:
    """``count`` small shared worksets (one command each), written by the tests' builder."""
    sys.path.insert(0, str(ROOT / "tests"))
    from workset_core.builders import make_workset

    return [make_workset(folder, f"bench-tiny-{i}") for i in range(1, count + 1)]


# --------------------------------------------------------------------------------------
# pip, in venvs layered over the project's


def project_site_packages() -> Path:
    """The project venv's site-packages (where modellab's editable .pth and matplotlib are)."""
    return Path(sysconfig.get_paths()["purelib"])


def make_pip_venv(path: Path, env: dict[str, str]) -> Path:
    """A new venv with pip (``python -m venv``) that also sees the project's packages.

    Made with the children's environment, so ensurepip compiles pip's bytecode into the
    shared bytecode cache and the timed pip starts warm. Returns its python.
    """
    proc = timed([sys.executable, "-m", "venv", str(path)], env)
    if proc.rc != 0:
        raise RuntimeError(f"venv failed: {proc.brief()}")
    (site,) = path.glob("lib/python*/site-packages")
    line = f"import site; site.addsitedir({str(project_site_packages())!r})\n"
    (site / "_modellab_project.pth").write_text(line)
    return path / "bin" / "python"


def pip_argv(python: Path, wheel: Path, *extra: str) -> list[str]:
    return [
        str(python),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-index",
        *extra,
        str(wheel),
    ]


# --------------------------------------------------------------------------------------
# Measurements


@dataclass
class Series:
    """Repeated fresh processes of one command: the best is the figure."""

    runs_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0

    def add(self, proc: Timed) -> None:
        self.runs_s.append(round(proc.wall_s, 4))
        self.cpu_s.append(round(proc.cpu_s, 4))
        self.peak_rss_mib = max(self.peak_rss_mib, round(proc.peak_rss_mib, 1))

    @property
    def best_s(self) -> float:
        return min(self.runs_s)

    @property
    def best_cpu_s(self) -> float:
        return min(self.cpu_s)

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "best_s": self.best_s, "best_cpu_s": self.best_cpu_s}


def _check(proc: Timed, what: str, *needles: str) -> None:
    if proc.rc != 0 or not all(n in proc.stdout for n in needles):
        raise RuntimeError(f"{what} did not do its job: {proc.brief()}")


def measure_install(
    reg: Registry, work: Path, outside: Path, wheel: Path, sha: str, repeats: int
) -> dict[str, Any]:
    """Ours, pip and pip --no-deps, interleaved, ``repeats`` fresh processes each.

    All run in ``outside``, a folder outside the repository, as a user's would. Ours is
    also run from the repository root for information: there uv finds the workspace's
    ``.venv`` at once, while elsewhere it looks for a Python on PATH (the install does not
    name one).
    """
    home, cache = work / "home", work / "uv-cache"
    venv_env = child_env(home, cache)
    print(f"[worksets] {2 * repeats + 1} venvs for pip (not timed) ...", file=sys.stderr)
    warm_pip = make_pip_venv(work / "venvs" / "warm-up", venv_env)
    deps = [make_pip_venv(work / "venvs" / f"pip-{i}", venv_env) for i in range(repeats)]
    nodeps = [make_pip_venv(work / "venvs" / f"nodeps-{i}", venv_env) for i in range(repeats)]
    pip_version = timed([str(warm_pip), "-m", "pip", "--version"], venv_env).stdout.split()[1]

    print("[worksets] warm-up: one install of each ...", file=sys.stderr)
    _check(
        timed(install_argv("observability", sha), fresh_home(reg, work, "warm-up"), outside),
        "our warm-up",
        "Installed",
    )
    # pip checks the dependencies against the layered site-packages: prove it did.
    satisfied = (
        "Requirement already satisfied: modellab",
        "Requirement already satisfied: matplotlib",
    )
    _check(timed(pip_argv(warm_pip, wheel), venv_env, outside), "pip warm-up", *satisfied)

    ours, ours_in_repo, pip, pip_nodeps = Series(), Series(), Series(), Series()
    for i in range(repeats):
        print(f"[worksets] install round {i + 1}/{repeats} ...", file=sys.stderr)
        proc = timed(install_argv("observability", sha), fresh_home(reg, work, f"i-{i}"), outside)
        _check(proc, "our install", "Installed and enabled observability")
        ours.add(proc)
        proc = timed(install_argv("observability", sha), fresh_home(reg, work, f"r-{i}"), ROOT)
        _check(proc, "our install (repository root)", "Installed and enabled observability")
        ours_in_repo.add(proc)
        proc = timed(pip_argv(deps[i], wheel), venv_env, outside)
        _check(proc, "pip install", "Successfully installed", *satisfied)
        pip.add(proc)
        proc = timed(pip_argv(nodeps[i], wheel, "--no-deps"), venv_env, outside)
        _check(proc, "pip install --no-deps", "Successfully installed")
        pip_nodeps.add(proc)
    return {
        "wheel": wheel.name,
        "wheel_bytes": wheel.stat().st_size,
        "pip_version": pip_version,
        "ours": ours.summary(),
        "ours_in_repository": ours_in_repo.summary(),
        "pip": pip.summary(),
        "pip_no_deps": pip_nodeps.summary(),
        "ratio": ours.best_s / pip.best_s,
        "ratio_no_deps": ours.best_s / pip_nodeps.best_s,
        "ratio_in_repository": ours_in_repo.best_s / pip.best_s,
        # Each round's two installs ran a second apart, so they shared the machine's mood:
        # the median of the rounds' ratios moves less on a busy machine than best / best.
        "ratio_median_of_rounds": statistics.median(
            o / p for o, p in zip(ours.runs_s, pip.runs_s, strict=True)
        ),
        "ratio_cpu": ours.best_cpu_s / pip.best_cpu_s,
    }


# --------------------------------------------------------------------------------------
# Where our install's time goes


def importtime_summary(text: str, top: int = 10) -> dict[str, Any]:
    """From ``-X importtime`` output: total, the costliest top-level imports, self time by package.

    Top-level imports are the ones the program itself triggered (depth 0): their
    cumulative times add up to the whole import cost without counting anything twice.
    """
    rows: list[tuple[str, int, int, int]] = []  # name, depth, self_us, cumulative_us
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cum_us, name = line.split(":", 1)[1].split("|")
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            rows.append((name.strip(), depth, int(self_us), int(cum_us)))
        except ValueError:
            continue
    by_package: defaultdict[str, int] = defaultdict(int)
    for name, _, self_us, _ in rows:
        by_package[name.split(".")[0]] += self_us
    top_level = sorted((r for r in rows if r[1] == 0), key=lambda r: -r[3])
    return {
        "modules": len(rows),
        "total_ms": sum(r[3] for r in rows if r[1] == 0) / 1000,
        "top_level_imports": [
            {"module": name, "cumulative_ms": cum / 1000} for name, _, _, cum in top_level[:top]
        ],
        "self_ms_by_package": [
            {"package": pkg, "self_ms": us / 1000}
            for pkg, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
        ],
    }


#: Steps of ``worksets install`` as cProfile sees them: (key, what, file suffix, function).
#: Cumulative times, so a step includes the imports it triggers (most modules are imported
#: lazily, by the step that first needs them).
STEPS = (
    ("command", "the command, in all", "modellab/cli/worksets.py", "cmd_install"),
    ("installer", "import modellab.worksets._install", "modellab/worksets/_install.py", "<module>"),
    ("tuf", "TUF refresh + index (imports tuf)", "modellab/registry/_tuf_client.py", "refresh"),
    ("fetch", "read index, wheel, bundle, manifest", "modellab/registry/_tuf_client.py", "read"),
    ("verify", "verify the signature", "/_install.py", "verify_release"),
    ("manifest", "check manifest + dependencies", "/_install.py", "_checked_manifest"),
    ("consent", "show manifest, take consent", "/_consent.py", "ask_consent"),
    # uv runs in a thread once consent is settled (cProfile sees only the main thread):
    # this is how long the main thread still waited for it after its own checks.
    ("uv", "wait for uv pip install (runs in a thread)", "/_install.py", "wait"),
    ("move", "move into place, record", "/_install.py", "_move_into_place"),
    ("index", "rewrite the --help index", "/_loader.py", "refresh_command_index"),
    ("parser", "build the parser", "modellab/cli/_app.py", "build_parser"),
    (
        "imports",
        "all imports (inside the steps)",
        "<frozen importlib._bootstrap>",
        "_find_and_load",
    ),
)


def _where(key: tuple[str, int, str]) -> str:
    """``package/module.py:line(function)`` for a pstats key, without the install prefix."""
    path, line, function = key
    if path == "~":  # a built-in
        return function
    path = re.sub(r"^.*/(site-packages|lib/python3\.\d+|core)/", "", path)
    return f"{path}:{line}({function})"


def profile_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """Time per install step, and the functions with the most own time, from a cProfile dump."""
    stats = pstats.Stats(str(path))
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = float(stats.total_tt)  # type: ignore[attr-defined]
    steps = []
    for key, what, suffix, function in STEPS:
        hits = [v[3] for (f, _, fn), v in table.items() if f.endswith(suffix) and fn == function]
        seconds = max(hits) if hits else None
        steps.append(
            {
                "key": key,
                "step": what,
                "ms": None if seconds is None else 1000 * seconds,
                "share": None if seconds is None else seconds / total,
            }
        )
    by_own = sorted(table.items(), key=lambda kv: -kv[1][2])[:top]
    return {
        "total_ms": 1000 * total,
        "steps": steps,
        "top_own_time": [
            {"function": _where(k), "own_ms": 1000 * v[2], "calls": v[1]} for k, v in by_own
        ],
    }


def breakdown(
    reg: Registry, work: Path, outside: Path, sha: str, traces: Path | None
) -> dict[str, Any]:
    """One install under ``-X importtime`` and one under cProfile, each into a fresh home."""
    argv = install_argv("observability", sha, "-X", "importtime")
    proc = timed(argv, fresh_home(reg, work, "importtime"), outside)
    _check(proc, "install under -X importtime", "Installed")
    result: dict[str, Any] = {"importtime": importtime_summary(proc.stderr)}
    if traces is not None:
        traces.mkdir(parents=True, exist_ok=True)
        (traces / "worksets-importtime.txt").write_text(proc.stderr)
        result["importtime_file"] = str(traces / "worksets-importtime.txt")

    dump = work / "install.prof"
    argv = install_argv("observability", sha)
    argv[1:1] = ["-m", "cProfile", "-o", str(dump)]
    proc = timed(argv, fresh_home(reg, work, "profile"), outside)
    _check(proc, "install under cProfile", "Installed")
    result["profile"] = profile_summary(dump)
    return result


# --------------------------------------------------------------------------------------
# --help with every workset installed


def measure_help(
    reg: Registry, work: Path, outside: Path, names: list[str], repeats: int
) -> dict[str, Any]:
    """Install ``names`` into one home, then time ``--help`` there against ``python -c pass``."""
    env = fresh_home(reg, work, "help")
    for name in names:
        sha = manifest_sha256(env, name)
        _check(timed(install_argv(name, sha), env), f"install of {name}", "Installed")
    listed = json.loads(modellab(env, "worksets", "list", "--json").stdout)["worksets"]
    enabled = sorted(w["name"] for w in listed if w["status"] == "enabled")
    if enabled != sorted(names):
        raise RuntimeError(f"expected {sorted(names)} enabled, `worksets list` says {listed}")
    shown = modellab(env, "--help").stdout
    missing = [n for n in names if n not in shown]
    if missing:
        raise RuntimeError(f"--help does not list the commands of {missing}")
    empty = child_env(work / "home", work / "uv-cache", work / "homes" / "empty")

    base = [sys.executable, "-c", "pass"]
    help_argv = [sys.executable, "-m", "modellab", "--help"]
    commands = {"pass": (base, env), "help": (help_argv, env), "help_empty": (help_argv, empty)}
    for _ in range(2):  # warm bytecode and the page cache
        for argv, e in commands.values():
            timed(argv, e, outside)
    series = {key: Series() for key in commands}
    for _ in range(repeats):  # interleaved, so machine noise hits all three alike
        for key, (argv, e) in commands.items():
            proc = timed(argv, e, outside)
            if proc.rc != 0:
                raise RuntimeError(f"{key}: {proc.brief()}")
            series[key].add(proc)
    ms = {key: 1000 * s.best_s for key, s in series.items()}
    return {
        "worksets": names,
        "repeats": repeats,
        "pass_best_ms": ms["pass"],
        "help_best_ms": ms["help"],
        "help_no_worksets_best_ms": ms["help_empty"],
        "ratio": ms["help"] / ms["pass"],
        "ratio_no_worksets": ms["help_empty"] / ms["pass"],
        "cpu_best_ms": {key: 1000 * s.best_cpu_s for key, s in series.items()},
        "runs_s": {key: s.runs_s for key, s in series.items()},
    }


# --------------------------------------------------------------------------------------
# The run


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="worksets-", dir=DATA))
    # Measured commands run here: outside the repository, whose .venv uv would find.
    outside = Path(tempfile.mkdtemp(prefix="modellab-worksets-bench-"))
    (work / "home").mkdir()
    t0 = time.perf_counter()
    try:
        publish_env = child_env(work / "home", work / "uv-cache", work / "homes" / "publisher")
        reg = Registry(work / "publishing", publish_env)
        print("[worksets] keys, registry, build, sign, publish (not timed) ...", file=sys.stderr)
        reg.create()
        wheel = reg.publish(OBSERVABILITY)
        tiny = tiny_worksets(work / "sources", args.tiny)
        for source in tiny:
            reg.publish(source)
        sha = manifest_sha256(fresh_home(reg, work, "first-look"), "observability")
        setup_s = time.perf_counter() - t0

        install = measure_install(reg, work, outside, wheel, sha, args.repeats)
        print("[worksets] breakdown: -X importtime, cProfile ...", file=sys.stderr)
        where = breakdown(reg, work, outside, sha, args.traces)
        print(f"[worksets] --help with {1 + len(tiny)} worksets ...", file=sys.stderr)
        names = ["observability", *(s.name for s in tiny)]
        helped = measure_help(reg, work, outside, names, args.help_repeats)
    finally:
        shutil.rmtree(outside, ignore_errors=True)
        if args.keep:
            print(f"[worksets] kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    from uv import find_uv_bin

    uv = subprocess.run([find_uv_bin(), "--version"], capture_output=True, text=True).stdout
    return {
        "targets": {"install_ratio_max": INSTALL_RATIO_MAX, "help_ratio_max": HELP_RATIO_MAX},
        "settings": {
            "repeats": args.repeats,
            "help_repeats": args.help_repeats,
            "tiny_worksets": args.tiny,
            "uv": uv.strip(),
            "setup_s": round(setup_s, 1),
        },
        "install": install,
        "install_breakdown": where,
        "help": helped,
        "verdicts": {
            "workset_install": _verdict(install["ratio"] <= INSTALL_RATIO_MAX),
            "worksets_help": _verdict(helped["ratio"] <= HELP_RATIO_MAX),
        },
    }


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows for bench/run.py's table: (measure, value, detail, verdict)."""
    ins, hlp = report["install"], report["help"]
    ours, pip, nodeps = ins["ours"], ins["pip"], ins["pip_no_deps"]
    n = len(ours["runs_s"])
    rows = [
        (
            f"pip install --no-index {ins['wheel']}",
            f"{1000 * pip['best_s']:.0f} ms",
            f"best of {n}; pip {ins['pip_version']}, deps checked in the layered venv",
            "",
        ),
        (
            "  same, --no-deps (info)",
            f"{1000 * nodeps['best_s']:.0f} ms",
            f"ours / this: {ins['ratio_no_deps']:.2f}x",
            "",
        ),
        (
            "modellab worksets install observability",
            f"{1000 * ours['best_s']:.0f} ms",
            f"{ins['ratio']:.2f}x pip (<= {INSTALL_RATIO_MAX}x); CPU {ins['ratio_cpu']:.2f}x; "
            f"median of rounds {ins['ratio_median_of_rounds']:.2f}x",
            report["verdicts"]["workset_install"],
        ),
    ]
    in_repo = ins["ours_in_repository"]
    rows.append(
        (
            "  same, run in the repository (info)",
            f"{1000 * in_repo['best_s']:.0f} ms",
            f"{ins['ratio_in_repository']:.2f}x pip; uv finds the workspace .venv there",
            "",
        )
    )
    profile = report["install_breakdown"]["profile"]
    ms = {step["key"]: step["ms"] or 0.0 for step in profile["steps"]}
    rows.append(
        (
            "  under cProfile",
            f"{profile['total_ms']:.0f} ms",
            f"imports {ms['imports']:.0f} ms in all; verify {ms['verify']:.0f}, import installer "
            f"{ms['installer']:.0f}, TUF {ms['tuf']:.0f}, manifest+deps {ms['manifest']:.0f}, "
            f"waiting for uv {ms['uv']:.0f}, fetch {ms['fetch']:.0f}",
            "",
        )
    )
    imports = report["install_breakdown"]["importtime"]
    top = ", ".join(f"{p['package']} {p['self_ms']:.0f}" for p in imports["self_ms_by_package"][:5])
    rows.append(
        (
            "  imports (-X importtime), ms",
            f"{imports['total_ms']:.0f} ms",
            f"{imports['modules']} modules; by package: {top}",
            "",
        )
    )
    rows.append(("python -c pass", f"{hlp['pass_best_ms']:.1f} ms", "", ""))
    rows.append(
        (
            f"python -m modellab --help, {len(hlp['worksets'])} worksets",
            f"{hlp['help_best_ms']:.1f} ms",
            f"{hlp['ratio']:.2f}x (<= {HELP_RATIO_MAX}x); no worksets: "
            f"{hlp['help_no_worksets_best_ms']:.1f} ms ({hlp['ratio_no_worksets']:.2f}x)",
            report["verdicts"]["worksets_help"],
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="fresh installs per side (>= 5)")
    ap.add_argument("--help-repeats", type=int, default=15, help="fresh --help / pass runs")
    ap.add_argument("--tiny", type=int, default=5, help="generated worksets besides observability")
    ap.add_argument("--keep", action="store_true", help="keep the work folder in bench/.data")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--traces", type=Path, help="write worksets-importtime.txt in this folder")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error("--repeats must be at least 5")
    report = run_bench(args)
    from _finish import finish  # bench/ is not a package; it is on sys.path when run

    return finish(report, table_rows(report), args.json)


if __name__ == "__main__":
    sys.exit(main())
