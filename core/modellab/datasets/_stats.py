"""Token-length statistics per split.

No tokenizer is downloaded: lengths are an estimate, one token per four characters of the
rendered conversation, and every report labels them ``estimate`` so nobody reads them as
counts from a real tokenizer.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from modellab.datasets._rows import conversation_text
from modellab.datasets._select import Example

__all__ = ["CHARS_PER_TOKEN", "METHOD", "token_stats"]

CHARS_PER_TOKEN = 4
METHOD = "estimate: characters / 4 (no tokenizer)"


def token_stats(examples: Sequence[Example]) -> dict[str, Any]:
    """Total, minimum, mean, median, 95th percentile and maximum estimated tokens per row."""
    lengths = sorted(-(-len(conversation_text(e.row)) // CHARS_PER_TOKEN) for e in examples)
    if not lengths:
        return {"method": METHOD, "rows": 0, "total": 0}
    p95 = lengths[min(len(lengths) - 1, round(0.95 * (len(lengths) - 1)))]
    return {
        "method": METHOD,
        "rows": len(lengths),
        "total": sum(lengths),
        "min": lengths[0],
        "mean": round(statistics.fmean(lengths), 1),
        "median": statistics.median(lengths),
        "p95": p95,
        "max": lengths[-1],
    }
