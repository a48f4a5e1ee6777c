"""Set-up the benchmarks share, never timed: the real CLI in a child process, and the
bundled sample sessions imported, exported, reviewed and approved in a private home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "examples" / "codewhale-sessions"


def modellab(env: dict[str, str], *args: str) -> str:
    """``python -m modellab ARGS`` with ``env``; its stdout, or exit naming what failed."""
    done = subprocess.run(
        [sys.executable, "-m", "modellab", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"modellab {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def approved_sample_export(env: dict[str, str], export: Path) -> Path:
    """The sample sessions through import, export, review (every redaction kept) and
    approval, into ``export``; returns it."""
    modellab(env, "sessions", "import", str(SAMPLES))
    modellab(env, "export", "--all", "--out", str(export))
    modellab(env, "redact", "review", str(export), "--accept-all")
    modellab(env, "redact", "approve", str(export))
    return export
