"""The card's own YAML emitter: what it writes reads back the same, whatever the strings."""

from __future__ import annotations

import random

import pytest

from modellab.datasets._yaml import dump_block, scalar

yaml = pytest.importorskip("yaml")  # PyYAML: a dev dependency, never the core's

HOSTILE = [
    "",
    " ",
    " leading",
    "trailing ",
    "key: value",
    "a:b",
    "# not a comment",
    "task #12",
    "- item",
    "? key",
    "[1, 2]",
    "{a: 1}",
    "&anchor",
    "*alias",
    "!tag",
    "!!python/object:os.system",
    "|",
    ">",
    "%YAML 1.2",
    "@at",
    "`tick`",
    "'single'",
    '"double"',
    "back\\slash",
    "line\nbreak",
    "\n---\nfake: front matter\n---\n",
    "crlf\r\nend",
    "tab\there",
    "nul\0byte",
    "bell\a esc\x1b del\x7f",
    "nel\x85 nbsp\xa0 ls\u2028 ps\u2029 bom\ufeff zwj\u200d",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "<<",
    "=",
    "0",
    "007",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "1e5",
    "-1",
    "+1",
    "1.5",
    ".5",
    ".inf",
    "-.inf",
    ".NaN",
    "2024-01-01",
    "2024-01-01T12:00:00Z",
    "12:30:00",
    "1:30",
    "日本語のタスク",
    "émoji 🙂 and \U0001d518nicode",
    "\ud800 lone surrogate",
    "n<1K",
    "10K<n<100K",
]


def test_every_hostile_string_reads_back_unchanged_as_value_and_key():
    for text in HOSTILE:
        document = dump_block({"value": text, "list": [text, text], text or "empty": 1})
        if text == "":
            assert yaml.safe_load(document) == {"value": "", "list": ["", ""], "empty": 1}
            continue
        assert yaml.safe_load(document) == {"value": text, "list": [text, text], text: 1}, text


def test_each_scalar_stays_on_its_own_line():
    for text in HOSTILE:
        assert "\n" not in scalar(text)
        assert "\r" not in scalar(text)
        assert "\u2028" not in scalar(text) and "\x85" not in scalar(text)


def test_random_strings_from_a_hostile_alphabet_round_trip():
    alphabet = ":#-?[]{},&*!|>'\"%@` \t\n\r\\~=<+.0123456789eExXabcyYnNoO\x00\x85\u2028é🙂"
    rng = random.Random(13)
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert yaml.safe_load(dump_block({"k": [text]})) == {"k": [text]}, repr(text)


def test_safe_strings_stay_plain_and_unsafe_ones_are_quoted():
    for plain in ("modellab", "trl-sft", "n<1K", "10K<n<100K", "trl-sft/train.jsonl", "a b"):
        assert scalar(plain) == plain
    for quoted in ("yes", "1.5", "2024-01-01", "a: b", "a #b", "x ", "日本"):
        assert scalar(quoted).startswith('"')


def test_the_layout_is_pyyaml_block_style():
    data = {
        "tags": ["a", "b"],
        "configs": [{"config_name": "x", "data_files": [{"split": "train", "path": "p"}]}],
        "nested": {"inner": [[1, 2], []], "flag": False},
        "empty": {},
    }
    assert dump_block(data) == yaml.safe_dump(data, sort_keys=False, allow_unicode=True).strip()
    assert yaml.safe_load(dump_block(data)) == data


def test_values_it_cannot_spell_safely_are_refused():
    with pytest.raises(TypeError, match="float"):
        dump_block({"x": 1.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="NoneType"):
        dump_block({"x": [None]})  # type: ignore[list-item]
    with pytest.raises(TypeError, match="keys must be strings"):
        dump_block({"x": {1: "a"}})  # type: ignore[dict-item]
