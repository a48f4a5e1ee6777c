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
from modellab.redact._rules import (
    BUILTIN_RULES,
    Rule,
    RulesFile,
    builtin_rules_sha256,
    load_rules,
    read_rules_file,
)
from modellab.settings import Settings
from modellab.store import Catalog, ReviewState

__all__ = ["INSTALLATION_RULES", "RedactionConfig", "local_host_names"]

#: The installation's own rules, in ``$MODELLAB_HOME``: added to every scan and export.
INSTALLATION_RULES = "rules.toml"

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
    #: The user's rules files (the installation's, then ``--rules``), read when loaded.
    #: They only add to the built-in rules, which always apply.
    rules_files: tuple[RulesFile, ...] = ()
    allow_hashes: frozenset[str] = frozenset()
    #: (literal, placeholder kind): custom terms (``TERM``) and machine names (``HOST``).
    terms: tuple[tuple[str, str], ...] = ()

    @classmethod
    def load(
        cls, settings: Settings, catalog: Catalog, *, rules_path: Path | None = None
    ) -> RedactionConfig:
        """The configuration for this installation: its key, rules, allowlist, terms and host.

        The built-in rules always apply; ``$MODELLAB_HOME/rules.toml`` (when it exists) and
        ``rules_path`` add to them.
        """
        files: list[RulesFile] = []
        installation = settings.home / INSTALLATION_RULES
        if installation.exists() or installation.is_symlink():
            files.append(read_rules_file(installation, "installation"))
        if rules_path is not None and not (
            files and _same_file(rules_path, installation)  # already added once
        ):
            files.append(read_rules_file(rules_path, "--rules"))
        review = ReviewState(catalog, who="")
        terms = [(term, "TERM") for term in review.terms()]
        terms += [(host, "HOST") for host in local_host_names()]
        return cls(
            hash_key=load_or_create_key(settings.redaction_key_path),
            rules_files=tuple(files),
            allow_hashes=review.allowlisted(),
            terms=tuple(terms),
        )

    @property
    def rules_path(self) -> Path | None:
        """The ``--rules`` file this configuration was loaded with, if any."""
        named = self.rules_file_path("--rules")
        return Path(named) if named else None

    def rules_file_path(self, origin: str) -> str | None:
        """The path of the rules file of ``origin`` (``"--rules"``, ``"installation"``)."""
        named = [f.path for f in self.rules_files if f.origin == origin]
        return named[0] if named else None

    def rules_sha256(self, origin: str) -> str | None:
        """The sha256 of the rules file of ``origin``, if there is one."""
        named = [f.sha256 for f in self.rules_files if f.origin == origin]
        return named[0] if named else None

    def rules(self) -> tuple[Rule, ...]:
        """The built-in rules, then the user's (raises ``RedactionError`` on bad rules)."""
        if not self.rules_files:
            return load_rules()
        # A user's rule may not take an id a provider rule reports findings under.
        return load_rules(*self.rules_files, taken=provider_detector().rule_ids())

    def scanner(self) -> Scanner:
        """A scanner configured with all of it (raises ``RedactionError`` on bad rules)."""
        return Scanner(
            self.rules(),
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
            # Which rules applied. No path: the catalog keeps the --rules file's path for
            # review to redact again, and the manifest, which travels, names no folder.
            "rules": " + ".join(["built-in", *(f.origin for f in self.rules_files)]),
            "builtin_rules": {"name": BUILTIN_RULES, "sha256": builtin_rules_sha256()},
            # Named without their folder: a manifest travels with the export, and a path
            # under the user's home would name the user.
            "extra_rules": [
                {"file": _shown_name(f), "origin": f.origin, "sha256": f.sha256}
                for f in self.rules_files
            ],
            "allowlisted_values": len(self.allow_hashes),
            "custom_terms": sum(1 for _, kind in self.terms if kind == "TERM"),
            "host_names": sum(1 for _, kind in self.terms if kind == "HOST"),
            "value_hash": "hmac-sha256, keyed per installation",
            "provider_detector": provider_detector().describe(),
        }


def _shown_name(rules_file: RulesFile) -> str:
    if rules_file.origin == "installation":
        return f"$MODELLAB_HOME/{INSTALLATION_RULES}"
    return Path(rules_file.path).name


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.samefile(other)
    except OSError:
        return False
