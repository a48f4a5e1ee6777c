"""Provider token formats from a maintained detector: kingfisher-secret-scanner.

Hundreds of vendors publish token formats, and they change. Rather than keep our own copy
of every format, the provider part of detection comes from kingfisher-secret-scanner
(MongoDB's Kingfisher: Rust and vectorscan, in-process, its rules derived from gitleaks and
Google's veles), and our ``rules.toml`` keeps what it lacks: personal data, machine paths,
user, host and workspace names, and generic secrets recognised by the name they are
assigned to. ``bench/README.md`` ("Detector comparison") records why this detector.

Kingfisher scans bytes and reports byte offsets; :class:`ProviderDetector` turns them into
character spans of the text it was given. It never validates or revokes anything (those
parts of kingfisher reach the network; scanning does not).
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import kingfisher_sdk

__all__ = ["ProviderDetector", "provider_detector"]

#: Kingfisher rules left to our own rules: the generic credential-in-URL rule fires on
#: documentation examples (``postgres://user:pass@localhost``) all over real code, and our
#: ``url-credentials`` rule covers the same syntax with a placeholder allow-list.
_EXCLUDED = frozenset({"betterleaks.generic-credential-uri"})
#: Kingfisher marks helper rules (a client id that makes a client secret checkable) as not
#: visible. Those whose name says secret are still redacted; ids, names, hosts and URLs are
#: not secrets on their own.
_SECRET_HELPER = re.compile(r"secret|token|passphrase|password|private|consumer-key|app.*key")
_NOT_SECRET = re.compile(r"(?:^|[-_/.])(?:id|ids|name|url|host|domain|address)(?:[-_/.]|$)")
_ID_PREFIXES = ("betterleaks.", "veles.secrets/", "kingfisher.", "custom.")
_ID_SAFE = re.compile(r"[^a-z0-9-]+")


def rule_id_for(kingfisher_id: str) -> str:
    """Our rule id for a kingfisher rule: ``betterleaks.github-pat`` gives ``github-pat``."""
    name = kingfisher_id.lower()
    for prefix in _ID_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return _ID_SAFE.sub("-", name).strip("-") or "provider-token"


def _wanted(meta: dict[str, Any]) -> bool:
    rule_id = str(meta["id"])
    if rule_id in _EXCLUDED:
        return False
    if meta.get("visible", True):
        return True
    short = rule_id_for(rule_id)
    return bool(_SECRET_HELPER.search(short)) and not _NOT_SECRET.search(short)


@dataclass(frozen=True, slots=True)
class ProviderSpan:
    """A provider token in a text: character span and our rule id."""

    start: int
    end: int
    rule_id: str


class ProviderDetector:
    """Finds provider tokens with kingfisher's built-in rules (loaded once per process).

    The compiled rule database is cached on disk by kingfisher (``KF_RULE_CACHE_DIR`` or the
    user's cache folder): the first load compiles for several seconds, later ones take
    under a second.
    """

    def __init__(self, rules: kingfisher_sdk.Rules, scanner: kingfisher_sdk.Scanner) -> None:
        self._scanner = scanner
        metadata = rules.metadata()
        self._names = {str(m["id"]): rule_id_for(str(m["id"])) for m in metadata if _wanted(m)}
        #: Rules whose first group is a repeated piece of the token, not the token: kingfisher
        #: reports that piece, so the whole match is found again here.
        self._whole: dict[str, re.Pattern[bytes]] = {}
        for rule_id in self._names:
            pattern = str(rules.detail(rule_id).get("pattern") or "")
            if _first_group_repeats(pattern):
                # A pattern Python cannot compile keeps the reported piece, widened to the
                # whole token by the scanner as every secret is.
                with contextlib.suppress(re.error):
                    self._whole[rule_id] = re.compile(pattern.encode())
        self.rule_count = len(self._names)
        self.version = _version()

    def describe(self) -> dict[str, Any]:
        """What an export manifest records about this detector."""
        return {
            "name": "kingfisher-secret-scanner",
            "version": self.version,
            "rules": self.rule_count,
        }

    def rule_ids(self) -> list[str]:
        """Our ids of the provider rules in use, sorted."""
        return sorted(set(self._names.values()))

    def find(self, text: str) -> list[ProviderSpan]:
        """Every provider token in ``text``, as character spans (unordered, may overlap)."""
        data = text.encode("utf-8", "surrogatepass")
        names = self._names
        hits: list[tuple[int, int, str]] = []
        for finding in self._scanner.scan(data):
            name = names.get(finding.rule_id)
            if name is None:
                continue
            where = finding.location
            start, end = where["start_offset"], where["end_offset"]
            whole = self._whole.get(finding.rule_id)
            if whole is not None:
                start, end = _whole_match(whole, data, start, end)
            if end > start:
                hits.append((start, end, name))
        if not hits:
            return []
        if len(data) == len(text):  # ASCII: bytes are characters
            return [ProviderSpan(s, e, n) for s, e, n in hits]
        return _to_characters(data, hits)


def _first_group_repeats(pattern: str) -> bool:
    """Whether the first capturing group of ``pattern`` is quantified: ``([a-z]{4}-){3}``."""
    depth, opened, index, size = 0, -1, 0, len(pattern)
    in_class = False
    while index < size:
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            if opened < 0 and not pattern.startswith("(?", index):
                opened = depth
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == opened:
                return index + 1 < size and pattern[index + 1] in "{*+?"
        index += 1
    return False


#: How far around a reported piece the whole match is looked for.
_WHOLE_REACH = 2048


def _whole_match(pattern: re.Pattern[bytes], data: bytes, start: int, end: int) -> tuple[int, int]:
    """The span of the match of ``pattern`` around the piece ``start:end`` of ``data``."""
    low = max(0, start - _WHOLE_REACH)
    for match in pattern.finditer(data, low, min(len(data), end + _WHOLE_REACH)):
        if match.start() <= start and end <= match.end():
            return match.span()
        if match.start() > start:
            break
    return start, end


def _to_characters(data: bytes, hits: list[tuple[int, int, str]]) -> list[ProviderSpan]:
    """Byte spans of UTF-8 ``data`` as character spans, widened to whole characters."""
    size = len(data)

    def lead(position: int) -> int:
        while 0 < position < size and 0x80 <= data[position] < 0xC0:
            position -= 1
        return position

    def trail(position: int) -> int:
        while position < size and 0x80 <= data[position] < 0xC0:
            position += 1
        return position

    points = sorted({lead(s) for s, _, _ in hits} | {trail(e) for _, e, _ in hits})
    characters: dict[int, int] = {}
    previous, count = 0, 0
    for point in points:
        count += len(data[previous:point].decode("utf-8", "surrogatepass"))
        characters[point] = count
        previous = point
    return [ProviderSpan(characters[lead(s)], characters[trail(e)], n) for s, e, n in hits]


def _version() -> str:
    from importlib.metadata import version

    return version("kingfisher-secret-scanner")


@functools.cache
def provider_detector() -> ProviderDetector:
    """The process's provider detector (kingfisher's built-in rules, base64 decoding on)."""
    import kingfisher_sdk

    rules = kingfisher_sdk.Rules(confidence="low")
    return ProviderDetector(rules, kingfisher_sdk.Scanner(rules, base64=True))
