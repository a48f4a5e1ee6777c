"""The front matter of a model card (``README.md``): ``license`` and ``base_model``.

Hub model cards start with YAML between ``---`` lines. Only two keys matter to a passport,
and both are scalars or lists of scalars, so a small reader does (the core has no YAML
library, and a card is data from outside: nothing in it is evaluated).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CardFacts", "read_card"]

#: Cards can be long; the front matter is at the top.
_MAX_READ = 256 * 1024


class CardFacts:
    """What a card's front matter says: ``license`` and ``base_model`` (first one)."""

    def __init__(self, license_id: str | None = None, base_model: str | None = None) -> None:
        self.license = license_id
        self.base_model = base_model


def _scalar(text: str) -> str | None:
    value = text.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value or None


def _front_matter(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    values: dict[str, list[str]] = {}
    key: str | None = None
    for line in lines[1:]:
        if line.strip() in {"---", "..."}:
            break
        if line[:1] not in {" ", "\t", "-"} and ":" in line:
            key, _, rest = line.partition(":")
            key = key.strip()
            rest = rest.strip()
            if rest.startswith("[") and rest.endswith("]"):
                items = [_scalar(item) for item in rest[1:-1].split(",")]
                values[key] = [item for item in items if item]
            else:
                scalar = _scalar(rest)
                values[key] = [scalar] if scalar else []
        elif key is not None and line.lstrip().startswith("- "):
            item = _scalar(line.lstrip()[2:])
            if item:
                values.setdefault(key, []).append(item)
    return values


def read_card(folder: Path) -> CardFacts:
    """The licence and base model a folder's ``README.md`` front matter names, if any."""
    card = folder / "README.md"
    if not card.is_file():
        return CardFacts()
    with card.open("rb") as stream:
        text = stream.read(_MAX_READ).decode("utf-8", errors="replace")
    values = _front_matter(text)
    licences = values.get("license") or []
    bases = values.get("base_model") or []
    return CardFacts(licences[0] if licences else None, bases[0] if bases else None)
