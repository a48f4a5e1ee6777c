"""Everything that decides how an export is redacted, in one picklable value.

Worker processes rebuild their own :class:`Scanner` from it (a compiled automaton does not
travel between processes), and the export manifest records what it was made with.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modellab.redact._engine import Scanner
from modellab.redact._key import load_or_create_key
from modellab.redact._providers import provider_detector
from modellab.redact._rules import load_rules, rules_sha256
from modellab.settings import Settings
from modellab.store import Catalog, ReviewState

__all__ = ["RedactionConfig", "local_host_names"]

# Host names too generic to redact as words wherever they appear.
_GENERIC_HOSTS = frozenset({"localhost", "host", "server", "laptop", "desktop", "build", "dev"})


def local_host_names() -> list[str]:
    """This machine's name and its short form: sessions recorded here may mention them."""
    full = socket.gethostname().strip()
    names = {full, full.split(".", 1)[0]}
    return sorted(n for n in names if len(n) >= 4 and n.lower() not in _GENERIC_HOSTS)


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """Rules, reviewed false positives, custom terms and the value-hash key."""

    hash_key: bytes = field(repr=False)
    rules_path: Path | None = None
    allow_hashes: frozenset[str] = frozenset()
    #: (literal, placeholder kind): custom terms (``TERM``) and machine names (``HOST``).
    terms: tuple[tuple[str, str], ...] = ()

    @classmethod
    def load(
        cls, settings: Settings, catalog: Catalog, *, rules_path: Path | None = None
    ) -> RedactionConfig:
        """The configuration for this installation: its key, allowlist, terms and host."""
        review = ReviewState(catalog, who="")
        terms = [(term, "TERM") for term in review.terms()]
        terms += [(host, "HOST") for host in local_host_names()]
        return cls(
            hash_key=load_or_create_key(settings.redaction_key_path),
            rules_path=rules_path,
            allow_hashes=review.allowlisted(),
            terms=tuple(terms),
        )

    def scanner(self) -> Scanner:
        """A scanner configured with all of it (raises ``RedactionError`` on bad rules)."""
        return Scanner(
            load_rules(self.rules_path),
            allow_hashes=self.allow_hashes,
            terms=self.terms,
            hash_key=self.hash_key,
            providers=provider_detector(),
        )

    def describe(self) -> dict[str, Any]:
        """What the manifest records: which rules, how many allowlisted values and terms.

        Never the terms themselves: they are what the user asked to hide.
        """
        return {
            "rules": str(self.rules_path) if self.rules_path else "built-in",
            "rules_sha256": rules_sha256(self.rules_path),
            "allowlisted_values": len(self.allow_hashes),
            "custom_terms": sum(1 for _, kind in self.terms if kind == "TERM"),
            "host_names": sum(1 for _, kind in self.terms if kind == "HOST"),
            "value_hash": "hmac-sha256, keyed per installation",
            "provider_detector": provider_detector().describe(),
        }
