"""Token lengths per row and their statistics per split.

With ``--tokenizer PATH`` lengths are counts from that ``tokenizer.json`` (the
``tokenizers`` library, imported only then), taken over each row's rendered text: roles,
contents and calls, the text near-duplicates are judged on. No chat template is applied, so
a template's own tokens are not in the count. Without a tokenizer, lengths are an estimate,
one token per four characters, and every report says which it is.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modellab.errors import UsageError

__all__ = ["CHARS_PER_TOKEN", "ESTIMATE", "TokenCounter", "token_stats"]

CHARS_PER_TOKEN = 4
ESTIMATE = "estimate: characters / 4 (no tokenizer)"


class TokenCounter:
    """Counts tokens with a ``tokenizer.json``, or estimates them without one."""

    def __init__(self, tokenizer_file: Path | None = None) -> None:
        self._tokenizer: Any = None
        self.method = ESTIMATE
        #: sha256 of the tokenizer file, so a manifest says exactly which one counted.
        self.tokenizer_sha256: str | None = None
        if tokenizer_file is None:
            return
        from modellab._internal.files import sha256_file

        try:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
            self.tokenizer_sha256 = sha256_file(tokenizer_file)
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise UsageError(
                f"--tokenizer {tokenizer_file}: not a readable tokenizer.json ({exc})",
                hint="give the tokenizer.json of the model you will train",
            ) from None
        self.method = f"tokenizer: {tokenizer_file.name} (sha256 {self.tokenizer_sha256})"

    @property
    def is_estimate(self) -> bool:
        """No tokenizer was given."""
        return self._tokenizer is None

    def count(self, text: str) -> int:
        """Tokens in ``text`` (special tokens such as BOS are not added)."""
        if self._tokenizer is None:
            return -(-len(text) // CHARS_PER_TOKEN)
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


def token_stats(lengths: Sequence[int], method: str) -> dict[str, Any]:
    """Total, minimum, mean, median, 95th percentile and maximum tokens per row."""
    ordered = sorted(lengths)
    if not ordered:
        return {"method": method, "rows": 0, "total": 0}
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "method": method,
        "rows": len(ordered),
        "total": sum(ordered),
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 1),
        "median": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
    }
