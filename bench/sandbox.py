"""What confinement adds to the start of a workset's child (issue 12, item 3).

Run it alone (it is not part of ``bench/run.py``)::

    uv run python bench/sandbox.py              # table
    uv run python bench/sandbox.py --json out.json

Each measurement starts ``python -m modellab.worksets._host`` with no arguments (it imports
what every child imports, pluggy, pydantic and the hook specs, then prints its usage and
exits 2), best and median of ``--repeats`` fresh processes, interleaved:

* ``plain``: started as is;
* ``confined``: through :func:`modellab.worksets._sandbox.confined` with a no-network
  policy, as every workset call is: the policy and private folder written, one
  ``workset-confined`` audit entry, ``unshare`` (network and user namespaces), the
  bootstrap (Landlock, audit hook, ``site``), then the same module; the whole ``with``
  block is timed, audit writes included;
* ``landlock only``: the same without the namespaces (as where they cannot be made).

Everything runs under a fresh ``MODELLAB_HOME`` in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _once(kind: str, home: Path) -> float:
    from modellab.settings import Settings
    from modellab.worksets import _sandbox

    settings = Settings.from_env(home=home)
    argv = [sys.executable, "-m", "modellab.worksets._host"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    started = time.perf_counter()
    if kind == "plain":
        subprocess.run(argv, env=env, stderr=subprocess.DEVNULL, check=False)
    else:
        policy = _sandbox.Policy(workset="bench", read_only=(home / "worksets" / "bench",))
        with _sandbox.confined(argv, env, policy, settings, "bench") as (command, child_env):
            subprocess.run(command, env=child_env, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - started) * 1000


def run(repeats: int) -> dict[str, dict[str, float]]:
    """Best and median milliseconds per kind."""
    from modellab.worksets import _sandbox

    times: dict[str, list[float]] = {"plain": [], "confined": [], "landlock only": []}
    with tempfile.TemporaryDirectory(prefix="modellab-bench-sandbox-") as folder:
        home = Path(folder) / "home"
        home.mkdir()
        real_probe = _sandbox._probe
        for _ in range(repeats + 1):  # the first round warms caches and is dropped
            for kind in times:
                _sandbox.reset_probe()
                if kind == "landlock only":
                    _sandbox._probe = lambda: _sandbox.NoNetwork((), "bench")
                times[kind].append(_once(kind, home))
                _sandbox._probe = real_probe
    return {
        kind: {"best_ms": min(values[1:]), "median_ms": statistics.median(values[1:])}
        for kind, values in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.repeats)
    plain = result["plain"]["median_ms"]
    print(f"{'child start':<16}{'best ms':>10}{'median ms':>12}{'added':>10}")
    for kind, figures in result.items():
        added = figures["median_ms"] - plain
        print(f"{kind:<16}{figures['best_ms']:>10.1f}{figures['median_ms']:>12.1f}{added:>+10.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
