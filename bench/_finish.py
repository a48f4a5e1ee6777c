"""The shared ending of a standalone benchmark: save the JSON, print the table, exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def finish(report: dict[str, Any], rows: list[tuple[str, str, str, str]], out: Path | None) -> int:
    """Write ``report`` to ``out`` (if given), print ``rows`` aligned; 1 if a verdict failed."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0 if all(v == "PASS" for v in report["verdicts"].values()) else 1
