"""Load and validate the redaction rules (``rules.toml``, or a file the user names)."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from modellab.errors import RedactionError

__all__ = ["PLACEHOLDER_KINDS", "Category", "Rule", "load_rules", "rules_sha256"]

Category = Literal["secret", "pii", "identity"]
PLACEHOLDER_KINDS = frozenset(
    {"SECRET", "EMAIL", "PHONE", "IP", "CARD", "HOME", "USER", "HOST", "WORKSPACE", "TERM"}
)
_FIELDS = {
    "id",
    "category",
    "placeholder",
    "keywords",
    "pattern",
    "group",
    "min_entropy",
    "luhn",
    "allow",
    "description",
    "before",
    "after",
    "anchors",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One detection rule, compiled."""

    id: str
    category: Category
    placeholder: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    group: int = 0
    min_entropy: float = 0.0
    luhn: bool = False
    allow: re.Pattern[str] | None = None
    #: How far before a keyword (or anchor) a match may start, and how far after it may end.
    before: int = 0
    after: int = 256
    #: For rules without keywords: fast patterns whose matches mark where to look. They
    #: should start with a literal character, which Python's regex engine skips to quickly.
    anchors: tuple[re.Pattern[str], ...] = ()


def _rule(raw: dict[str, Any], where: str) -> Rule:
    unknown = set(raw) - _FIELDS
    if unknown:
        raise RedactionError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", rule_id):
        raise RedactionError(f"{where}: 'id' must be lower-case letters, digits and dashes")
    where = f"{where} ({rule_id})"
    category = raw.get("category")
    if category not in {"secret", "pii", "identity"}:
        raise RedactionError(f"{where}: 'category' must be secret, pii or identity")
    placeholder = raw.get("placeholder")
    if placeholder not in PLACEHOLDER_KINDS:
        raise RedactionError(f"{where}: 'placeholder' must be one of {sorted(PLACEHOLDER_KINDS)}")
    keywords = raw.get("keywords")
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        raise RedactionError(f"{where}: 'keywords' must be a list of non-empty strings")
    if any(k != k.lower() or not k.isascii() for k in keywords):
        raise RedactionError(
            f"{where}: keywords must be lower-case ASCII (they match ASCII-folded text)"
        )
    anchors_raw = raw.get("anchors", [])
    if not isinstance(anchors_raw, list) or not all(isinstance(a, str) for a in anchors_raw):
        raise RedactionError(f"{where}: 'anchors' must be a list of regular expressions")
    try:
        pattern = re.compile(str(raw.get("pattern")), re.ASCII)
        allow = re.compile(raw["allow"], re.ASCII) if "allow" in raw else None
        anchors = tuple(re.compile(a, re.ASCII) for a in anchors_raw)
    except re.error as exc:
        raise RedactionError(f"{where}: bad regular expression ({exc})") from exc
    group = raw.get("group", 0)
    if not isinstance(group, int) or not 0 <= group <= pattern.groups:
        raise RedactionError(f"{where}: 'group' {group!r} is not a group of the pattern")
    return Rule(
        id=rule_id,
        category=category,
        placeholder=placeholder,
        keywords=tuple(keywords),
        pattern=pattern,
        group=group,
        min_entropy=float(raw.get("min_entropy", 0.0)),
        luhn=bool(raw.get("luhn", False)),
        allow=allow,
        before=int(raw.get("before", 0)),
        after=int(raw.get("after", 256)),
        anchors=anchors,
    )


def _rules_text(path: Path | None) -> tuple[str, str]:
    """(name for messages, text) of the rules file, or of the built-in one."""
    if path is None:
        text = resources.files("modellab.redact").joinpath("rules.toml").read_text("utf-8")
        return "built-in rules.toml", text
    try:
        return str(path), path.read_text("utf-8")
    except OSError as exc:
        raise RedactionError(f"{path}: cannot read rules ({exc.strerror})") from exc


def rules_sha256(path: Path | None = None) -> str:
    """The sha256 of the rules file (or the built-in one): which rules made a report."""
    return hashlib.sha256(_rules_text(path)[1].encode("utf-8")).hexdigest()


def load_rules(path: Path | None = None) -> tuple[Rule, ...]:
    """The rules in ``path``, or the built-in ``rules.toml``. Raises ``RedactionError``."""
    name, text = _rules_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RedactionError(f"{name}: not valid TOML ({exc})") from exc
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RedactionError(f"{name}: no [[rule]] tables")
    rules = tuple(_rule(raw, f"{name}: rule {n + 1}") for n, raw in enumerate(raw_rules))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RedactionError(f"{name}: rule id {rule.id!r} is used twice")
        seen.add(rule.id)
    return rules
