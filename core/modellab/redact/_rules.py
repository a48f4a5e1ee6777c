"""Load and validate the redaction rules: the built-in ``rules.toml``, then the user's files.

Custom rules only ever add. A user's rules file (the installation's
``$MODELLAB_HOME/rules.toml``, or one named with ``--rules``) is loaded after the built-in
rules, never instead of them; a rule whose id is already taken (by a built-in rule, the
provider detector, the engine, or an earlier file) is refused; and its patterns run on a
linear-time engine (see :mod:`modellab.redact._linear`). The only way to keep a value the
built-in rules find is an allowlist entry for its hash (``redact review --allow-hash``).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from modellab.errors import RedactionError
from modellab.redact._linear import compile_linear

__all__ = [
    "BUILTIN_RULES",
    "ENGINE_RULE_IDS",
    "PLACEHOLDER_KINDS",
    "Category",
    "Rule",
    "RulesFile",
    "builtin_rules_sha256",
    "load_rules",
    "read_rules_file",
]

#: How messages and manifests name the rules that ship with Model Lab.
BUILTIN_RULES = "built-in rules.toml"
#: Rule ids the engine gives findings of its own (custom terms, user and host names).
ENGINE_RULE_IDS = frozenset({"custom-term", "user-name", "host-name"})
#: Findings inside base64 blobs are named ``base64-<rule>``.
_ENCODED_PREFIX = "base64-"
#: The most ``before`` and ``after`` a user's rule may ask for.
_CUSTOM_REACH = 16384

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
    #: Python's ``re`` for built-in rules; for a user's rules, a ``LinearPattern`` (RE2)
    #: offering the same methods (see :mod:`modellab.redact._linear`). So are ``allow`` and
    #: ``anchors``.
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


@dataclass(frozen=True, slots=True)
class RulesFile:
    """A user's rules file, read once: what it is called, where it came from, its text.

    A :class:`~modellab.redact.RedactionConfig` carries the text itself, so worker processes
    compile exactly the rules the manifest's sha256 describes.
    """

    #: The file as the user named it (messages and the manifest show it).
    path: str
    #: ``"installation"`` (``$MODELLAB_HOME/rules.toml``) or ``"--rules"``.
    origin: str
    text: str

    @property
    def sha256(self) -> str:
        """The sha256 of the file's text."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def read_rules_file(path: Path, origin: str) -> RulesFile:
    """Read a user's rules file (``RedactionError`` naming it when it cannot be read)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise RedactionError(f"{path}: cannot read rules ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise RedactionError(f"{path}: rules file is not UTF-8 text ({exc.reason})") from exc
    return RulesFile(str(path), origin, text)


def _builtin_text() -> str:
    return resources.files("modellab.redact").joinpath("rules.toml").read_text("utf-8")


def builtin_rules_sha256() -> str:
    """The sha256 of the built-in ``rules.toml``: which built-in rules made a report."""
    return hashlib.sha256(_builtin_text().encode("utf-8")).hexdigest()


def _compile(source: object, field: str, where: str, custom: bool) -> re.Pattern[str]:
    if not isinstance(source, str):
        raise RedactionError(f"{where}: {field!r} must be a regular expression (a string)")
    if not custom:
        try:
            return re.compile(source, re.ASCII)
        except re.error as exc:
            raise RedactionError(f"{where}: bad regular expression ({exc})") from exc
    shown = source if len(source) <= 60 else source[:59] + "…"
    try:
        pattern = compile_linear(source)
    except ValueError as exc:
        raise RedactionError(
            f"{where}: bad regular expression in {field!r} ({shown!r}): {exc}"
        ) from None
    # LinearPattern offers the part of re.Pattern the scanner uses, with the same meaning
    # (see _linear); the engine is typed against re.Pattern.
    return cast("re.Pattern[str]", pattern)


def _number(
    raw: dict[str, Any], key: str, default: float, where: str, low: float, high: float
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RedactionError(f"{where}: {key!r} must be a number from {low:g} to {high:g}")
    return value


def _rule(raw: dict[str, Any], where: str, *, custom: bool) -> Rule:
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
    if not isinstance(anchors_raw, list):
        raise RedactionError(f"{where}: 'anchors' must be a list of regular expressions")
    pattern = _compile(raw.get("pattern"), "pattern", where, custom)
    allow = _compile(raw["allow"], "allow", where, custom) if "allow" in raw else None
    anchors = tuple(_compile(a, "anchors", where, custom) for a in anchors_raw)
    group = raw.get("group", 0)
    if not isinstance(group, int) or not 0 <= group <= pattern.groups:
        raise RedactionError(f"{where}: 'group' {group!r} is not a group of the pattern")
    # A pattern is tried at every keyword, over up to ``before + after`` characters: a
    # user's rule may not make that unbounded.
    reach = _CUSTOM_REACH if custom else float("inf")
    return Rule(
        id=rule_id,
        category=category,
        placeholder=placeholder,
        keywords=tuple(keywords),
        pattern=pattern,
        group=group,
        min_entropy=float(_number(raw, "min_entropy", 0.0, where, 0, 64)),
        luhn=bool(raw.get("luhn", False)),
        allow=allow,
        before=int(_number(raw, "before", 0, where, 0, reach)),
        after=int(_number(raw, "after", 256, where, 1, reach)),
        anchors=anchors,
    )


def _parse(name: str, text: str, *, custom: bool) -> tuple[Rule, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RedactionError(f"{name}: not valid TOML ({exc})") from exc
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RedactionError(f"{name}: no [[rule]] tables")
    if not all(isinstance(raw, dict) for raw in raw_rules):
        raise RedactionError(f"{name}: 'rule' must be an array of tables ([[rule]])")
    return tuple(
        _rule(raw, f"{name}: rule {n + 1}", custom=custom) for n, raw in enumerate(raw_rules)
    )


def load_rules(*files: Path | RulesFile, taken: Iterable[str] = ()) -> tuple[Rule, ...]:
    """The built-in rules, then the rules of each user file in ``files``, in that order.

    User files only add: a rule whose id is already used (by a built-in rule, the engine,
    one of ``taken`` such as the provider detector's ids, or an earlier file) is refused,
    and their patterns run on RE2. Raises ``RedactionError`` naming the file, the rule and
    the problem.
    """
    rules = list(_parse(BUILTIN_RULES, _builtin_text(), custom=False))
    owners: dict[str, str] = {}
    for rule in rules:
        if rule.id in owners:
            raise RedactionError(f"{BUILTIN_RULES}: rule id {rule.id!r} is used twice")
        owners[rule.id] = "a built-in rule"
    for rule_id in ENGINE_RULE_IDS:
        owners.setdefault(rule_id, "the engine's own findings")
    for rule_id in taken:
        owners.setdefault(rule_id, "a built-in provider rule")
    for item in files:
        user = item if isinstance(item, RulesFile) else read_rules_file(item, "--rules")
        for number, rule in enumerate(_parse(user.path, user.text, custom=True), start=1):
            where = f"{user.path}: rule {number} ({rule.id})"
            owner = owners.get(rule.id)
            if owner == user.path:
                raise RedactionError(f"{user.path}: rule id {rule.id!r} is used twice")
            if owner is not None:
                raise RedactionError(
                    f"{where}: id {rule.id!r} is already used by {owner}; custom rules only "
                    "add to the built-in ones, so give this rule an id of its own"
                )
            if rule.id.startswith(_ENCODED_PREFIX):
                raise RedactionError(
                    f"{where}: ids starting with {_ENCODED_PREFIX!r} are reserved for "
                    "findings inside base64 blobs"
                )
            owners[rule.id] = user.path
            rules.append(rule)
    return tuple(rules)
