"""The labelled recall set (``tests/data/secrets-recall/``), for tests and benchmarks.

``tests/redact/test_recall_providers.py`` and ``bench/detectors.py`` read it the same way:
values and carriers are stored XORed with :data:`KEY` and base64-encoded, so that secret
scanners (and push protection) find nothing in the repository (see the data README).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DATA", "KEY", "Labelled", "gitleaks_values", "kingfisher_values", "sha1_span"]

DATA = Path(__file__).resolve().parents[1] / "data" / "secrets-recall"
#: The key the values and carriers are XORed with before base64 (see the data README).
KEY = b"modellab-recall"


@dataclass(frozen=True)
class Labelled:
    source: str  # gitleaks | detect-secrets | kingfisher
    provider: str
    rule: str
    name: str  # where it came from, for messages: rule, ordinal, template
    value: str = field(repr=False)  # never shown, not even by pytest's introspection
    carrier: str = field(repr=False)
    start: int  # the value's span in the carrier
    end: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()[:12]


def _decode(x: str) -> str:
    raw = base64.b64decode(x)
    return bytes(b ^ KEY[i % len(KEY)] for i, b in enumerate(raw)).decode("utf-8")


def gitleaks_values() -> list[Labelled]:
    out = []
    for line in (DATA / "gitleaks.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append(
            Labelled(
                "gitleaks",
                r["provider"],
                r["rule"],
                f"{r['rule']}#{r['ordinal']} {r['origin']} {r['template'] or ''}".strip(),
                _decode(r["value_x"]),
                _decode(r["carrier_x"]),
                r["start"],
                r["end"],
            )
        )
    return out


def kingfisher_values() -> list[Labelled]:
    """The examples kingfisher publishes with its rules, each as its own carrier."""
    import kingfisher_sdk

    rules = kingfisher_sdk.Rules()
    out = []
    for meta in rules.metadata():
        for n, example in enumerate(rules.detail(meta["id"]).get("examples") or []):
            out.append(
                Labelled(
                    "kingfisher",
                    meta["id"].split(".", 1)[-1].split("/", 1)[-1],
                    meta["id"],
                    f"{meta['id']}#{n}",
                    example,
                    example,
                    0,
                    len(example),
                )
            )
    return out


# ---- planting and checking --------------------------------------------------------------


def sha1_span(line: str, sha1: str) -> tuple[int, int] | None:
    """Where in ``line`` the value lies whose sha1 a detect-secrets label records."""
    for i in range(len(line)):
        for j in range(i + 1, len(line) + 1):
            if hashlib.sha1(line[i:j].encode()).hexdigest() == sha1:
                if line[i:j].startswith("!!"):  # "key: !!binary VALUE": the value
                    rest = line[j:].strip()
                    i = line.index(rest, j)
                    j = i + len(rest)
                return i, j
    return None
