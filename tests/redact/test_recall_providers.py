"""Recall by provider: every labelled secret of ``tests/data/secrets-recall`` through an export.

The labelled values come from public sources (``tests/data/secrets-recall/README.md``):

1. gitleaks' own true positives, 511 values of 219 rules across 129 providers (one provider
   is one rule file of ``cmd/generate/config/rules``), each in its carrier line;
2. detect-secrets' labelled fixtures in ``../shared/corpus`` (skipped when it is absent);
3. the examples that kingfisher-secret-scanner publishes with its rules (read from the
   installed package; 1.5.0 publishes none, and that test says so).

Each value is planted, in its carrier, into the prompts and tool results of trajectories,
which are redacted the way an export redacts them (``RedactionConfig(...).scanner()`` and
``redact_trajectory``), and once more through the real CodeWhale import and export. Then:

* at least 99% of the values are redacted in full;
* no value leaks in part: no 8 characters of a value (its first 8, its last 8, or any 8 in
  between) that do not also occur in the text around the planted values survive anywhere;
* every gitleaks provider has at least one value redacted.

A value is never printed, not even in an assertion message: the tests print counts, and a
value's sha256 prefix where one has to be named. Run with ``-s`` for the per-provider table.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redact.recall_set import DATA, Labelled, gitleaks_values, kingfisher_values, sha1_span

from factories import assistant, result, saved_session, user, write_session
from modellab.export import write_export
from modellab.importing import run_import
from modellab.redact import Placeholders, RedactionConfig, redact_trajectory
from modellab.settings import Settings
from modellab.store import Catalog, Selection

GRAM = 8
RECALL_MIN = 0.99
HASH_KEY = b"recall-providers-test-key-000001"


#: detect-secrets types whose labels are keyword-less entropy strings: the labels include
#: ``thequickbrownfoxjumpsoverthelazydog`` and ``1234567890a``; no detector should redact
#: every random-looking string of a session (see tests/redact/test_recall.py). Reported, not
#: asserted.
KEYWORDLESS = {"Base64 High Entropy String", "Hex High Entropy String"}


def _locate(text: str, sha1: str, line_number: int) -> tuple[int, int] | None:
    """The span of the value whose sha1 a detect-secrets label records, on its line first."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for index in [line_number - 1, *range(len(lines))]:
        span = sha1_span(lines[index], sha1)
        if span is not None:
            return starts[index] + span[0], starts[index] + span[1]
    return None


def detect_secrets_values(corpus: Path) -> tuple[list[Labelled], list[Labelled]]:
    """(labels of secret types, keyword-less entropy labels), each in its whole fixture file."""
    folder = corpus / "secrets-detect-secrets-testdata"
    baseline = json.loads((folder / "baseline.file").read_text())
    secrets: list[Labelled] = []
    entropy: list[Labelled] = []
    for name, labels in sorted(baseline["results"].items()):
        path = folder / name
        if not path.is_file():
            continue  # the baseline also lists upstream .py fixtures that were not copied
        text = path.read_text()
        for label in labels:
            kind, line = label["type"], label["line_number"]
            if kind == "Private Key":  # the hash is of the header line; the key is the block
                start = sum(len(x) + 1 for x in text.split("\n")[: line - 1])
                end = text.index("-----END", start)
                end = text.index("-----", end + 8) + 5
                span: tuple[int, int] | None = (start, end)
            else:
                span = _locate(text, label["hashed_secret"], line)
            if span is None:
                continue  # the value is no longer in the upstream file (see test_recall.py)
            entry = Labelled(
                "detect-secrets",
                f"detect-secrets: {kind}",
                kind,
                f"{name}:{line}",
                text[span[0] : span[1]],
                text,
                *span,
            )
            (entropy if kind in KEYWORDLESS else secrets).append(entry)
    return secrets, entropy


def _trajectories(
    values: list[Labelled], per: int = 12
) -> Iterator[tuple[dict[str, Any], list[tuple[dict[str, Any], str]]]]:
    """ATIF trajectories, each value in its own prompt or tool result (a third are prompts).

    With each, where each of its values went: (container, key).
    """
    for first in range(0, len(values), per):
        steps: list[dict[str, Any]] = []
        where: list[tuple[dict[str, Any], str]] = []
        for k, v in enumerate(values[first : first + per]):
            number = len(steps) + 1
            if (first + k) % 3 == 0:
                step = {"step_id": number, "source": "user", "message": v.carrier}
                steps.append(step)
                where.append((step, "message"))
                continue
            call = f"call_{first + k:04d}"
            content = {"source_call_id": call, "content": v.carrier}
            steps.append(
                {
                    "step_id": number,
                    "source": "agent",
                    "message": "Reading the configuration.",
                    "tool_calls": [
                        {
                            "tool_call_id": call,
                            "function_name": "bash",
                            "arguments": {"command": "cat config.txt"},
                        }
                    ],
                    "observation": {"results": [content]},
                }
            )
            where.append((content, "content"))
        trajectory = {
            "schema_version": "ATIF-v1.4",
            "session_id": f"recall-{first:04d}",
            "steps": steps,
        }
        yield trajectory, where


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, item in node.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _grams(texts: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for text in texts:
        out.update(text[i : i + GRAM] for i in range(len(text) - GRAM + 1))
    return out


def _background(values: list[Labelled]) -> set[str]:
    """8-grams of the planted text outside every labelled value: a copy there is no leak."""
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for v in values:
        spans[v.carrier].append((v.start, v.end))
    cut = []
    for carrier, where in spans.items():
        chars = list(carrier)
        for start, end in where:
            chars[start:end] = ["\0"] * (end - start)
        cut.append("".join(chars))
    return _grams(cut)


@dataclass
class Outcome:
    redacted: list[Labelled]
    partial: list[Labelled]  # the whole value is gone, but 8 or more of its characters remain
    whole: list[Labelled]  # the value itself survives

    @property
    def recall(self) -> float:
        total = len(self.redacted) + len(self.partial) + len(self.whole)
        return len(self.redacted) / total if total else 1.0


@dataclass
class Redacted:
    """What a redaction wrote: every string of it, and for each value what holds its place."""

    everything: list[str]
    local: list[list[str]]  # aligned with the values: the field (or record) it was planted in


#: A placeholder written in a value's place: ``<SECRET:github-token:1>``. Its rule id may share
#: 8 characters with the value it replaced (``...-bedrock-api-key-...``); that is no leak.
PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*:[^<>\s]*>")
RULE_ID = re.compile(r"[a-z][a-z0-9]*(?:[-_./][a-z0-9]+)+")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def judge(values: list[Labelled], redacted: Redacted, background: set[str]) -> Outcome:
    """Sort ``values`` by what survives of them.

    A value survives whole if it occurs anywhere in the output. A piece of it (8 characters)
    is looked for where it was planted: its field, or for an export its session's record and
    the export's other files; not in placeholders, nor in another planted value that survived
    whole (the same test token recurs across rules: that is the other value's leak).
    """
    haystack = "\0".join(redacted.everything)
    whole = {v.value for v in values if v.value in haystack}
    outcome = Outcome([], [], [])
    for v, local in zip(values, redacted.local, strict=True):
        if v.value in whole:
            outcome.whole.append(v)
            continue
        scrubbed = []
        for text in local:
            text = PLACEHOLDER.sub("\0", text)
            for other in whole:
                if other in text:
                    text = text.replace(other, "\0")
            scrubbed.append(text)
        present = _grams(scrubbed)
        if any(
            g in present and g not in background
            for g in (v.value[i : i + GRAM] for i in range(len(v.value) - GRAM + 1))
        ):
            outcome.partial.append(v)
        else:
            outcome.redacted.append(v)
    return outcome


def table(outcome: Outcome, title: str) -> str:
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, items in (
        ("redacted", outcome.redacted),
        ("partial", outcome.partial),
        ("whole", outcome.whole),
    ):
        for v in items:
            rows[v.provider][kind] += 1
    lines = [f"{title}: recall by provider (values; never a value)"]
    lines.append(f"  {'provider':40} {'values':>6} {'redacted':>8} {'partial':>7} {'leaked':>6}")
    for provider in sorted(rows):
        c = rows[provider]
        total = c["redacted"] + c["partial"] + c["whole"]
        mark = "" if c["redacted"] == total else "  <"
        lines.append(
            f"  {provider:40} {total:6} {c['redacted']:8} {c['partial']:7} {c['whole']:6}{mark}"
        )
    total = len(outcome.redacted) + len(outcome.partial) + len(outcome.whole)
    lines.append(
        f"  {'all':40} {total:6} {len(outcome.redacted):8} {len(outcome.partial):7} "
        f"{len(outcome.whole):6}  recall {outcome.recall:.1%}"
    )
    return "\n".join(lines)


def named(items: list[Labelled]) -> str:
    """Which values, without showing one: provider, rule, origin and a hash prefix."""
    return "\n".join(f"  {v.provider}: {v.name} sha256:{v.digest}" for v in items)


def redact_all(values: list[Labelled]) -> Redacted:
    scanner = RedactionConfig(hash_key=HASH_KEY).scanner()
    placeholders = Placeholders()
    everything: list[str] = []
    local: list[list[str]] = []
    for trajectory, where in _trajectories(values):
        redact_trajectory(trajectory, scanner, placeholders)
        everything.extend(_strings(trajectory))
        everything.append(json.dumps(trajectory))
        local.extend([container[key]] for container, key in where)
    return Redacted(everything, local)


def fail(message: str) -> None:
    """Fail with ``message`` only: no traceback, whose frames would show planted values."""
    pytest.fail(message, pytrace=False)


def assert_recall(outcome: Outcome, providers: set[str]) -> None:
    problems = []
    if outcome.partial:
        problems.append(
            f"{len(outcome.partial)} values leaked in part (8+ characters survive):\n"
            + named(outcome.partial)
        )
    if outcome.recall < RECALL_MIN:
        problems.append(
            f"recall {outcome.recall:.1%} < {RECALL_MIN:.0%}: {len(outcome.whole)} values "
            "leaked whole:\n" + named(outcome.whole)
        )
    missing = providers - {v.provider for v in outcome.redacted}
    if missing:
        problems.append(f"providers with nothing redacted: {sorted(missing)}")
    if problems:
        fail("\n".join(problems))


def guarded(what: str, run: Any, *args: Any) -> Any:
    """``run(*args)``; an exception fails the test by its type alone (its frames hold values)."""
    failure = None
    try:
        return run(*args)
    except Exception as exc:
        failure = type(exc).__name__
    # Outside the handler, so that no chained exception or message is shown either.
    fail(f"{failure} while {what} (traceback withheld: it would show values)")


# ---- tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    return gitleaks_values()


def test_recall_set_is_well_formed(labelled: list[Labelled]) -> None:
    assert len(labelled) >= 500
    assert len({v.provider for v in labelled}) >= 129
    assert len({v.rule for v in labelled}) >= 219
    for v in labelled:
        if v.carrier[v.start : v.end] != v.value or len(v.value) < 5:
            fail(f"{v.name}: the recorded span is not the value")
    # Within a rule a value appears once; the carriers differ.
    assert len({(v.rule, v.value) for v in labelled}) == len(labelled)
    # Every skipped true positive says why, and names no value.
    skipped = json.loads((DATA / "skipped.json").read_text())
    assert all(
        s["reason"] and set(s) <= {"provider", "rule", "ordinal", "function", "reason"}
        for s in skipped
    )


def test_recall_set_covers_every_gitleaks_rule(labelled: list[Labelled], corpus: Path) -> None:
    import tomllib

    config = tomllib.loads((corpus / "secrets-gitleaks" / "gitleaks.toml").read_text())
    rules = {r["id"] for r in config["rules"]}
    skipped = {s["rule"] for s in json.loads((DATA / "skipped.json").read_text())}
    labelled_rules = {v.rule for v in labelled}
    assert labelled_rules <= rules
    # Each rule has labelled values, or upstream gives it none (documented in skipped.json).
    assert rules - labelled_rules <= skipped, sorted(rules - labelled_rules - skipped)
    assert len(rules - labelled_rules) <= 3


def test_gitleaks_values_are_redacted_by_provider(labelled: list[Labelled]) -> None:
    redacted = guarded("redacting", redact_all, labelled)
    outcome = judge(labelled, redacted, _background(labelled))
    print()
    print(table(outcome, "gitleaks true positives in ATIF trajectories"))
    assert_recall(outcome, {v.provider for v in labelled})


def _metadata(text: str) -> bool:
    """An identifier the export writes, not content: a rule id, a source format, a digest.

    Such names may share 8 characters with a value (``aws-amazon-bedrock-api-key-...``,
    ``codewhale.saved_session``) without being a piece of it. A sha256 the export writes
    (of a record, a file, keyed) is random per run: the values hold about 3,400 distinct
    hex 8-grams, and one of them turns up in one of the export's ~1,200 digests in about
    one run in twenty (a CI run failed on gitleaks' all-digit ``discord-client-secret``).
    """
    if len(text) == 64 and SHA256_HEX.fullmatch(text) is not None:
        return True
    return len(text) <= 64 and RULE_ID.fullmatch(text) is not None


def export_planted(labelled: list[Labelled], tmp_path: Path) -> Redacted:
    """Plant the values in CodeWhale sessions, import and export them; what was written."""
    rng = random.Random(4411)
    folder = tmp_path / "sessions"
    order = list(range(len(labelled)))
    rng.shuffle(order)
    session_of: dict[int, str] = {}
    for index in range(0, len(order), 16):
        session_id = f"recall-{index:04d}"
        messages: list[dict[str, Any]] = []
        for k, n in enumerate(order[index : index + 16]):
            v = labelled[n]
            session_of[n] = session_id
            if k % 4 == 0:
                messages.append(user("Please check this:\n" + v.carrier))
                messages.append(assistant("Looking."))
            else:
                call = f"call_{index + k:04d}"
                messages.append(assistant("", (call, "bash", {"command": "cat settings"})))
                messages.append(result(call, v.carrier))
        messages.append(assistant("Done."))
        day = index // 16 % 28 + 1
        write_session(
            folder,
            saved_session(
                messages,
                session_id=session_id,
                created_at=f"2026-10-{day:02d}T00:00:00Z",
                updated_at=f"2026-10-{day:02d}T00:00:00Z",
            ),
        )
    settings = Settings.from_env()
    summary = run_import(settings, [folder])
    if summary.failed:
        raise RuntimeError("import failed")
    out = tmp_path / "export"
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(settings, catalog)
        write_export(catalog, Selection(), out, redaction=config, jobs=1)
    everything: list[str] = []
    others: list[str] = []
    records: dict[str, list[str]] = {}
    for path in sorted(out.iterdir()):
        text = path.read_text()
        everything.append(text)  # the files as written: whole values are looked for here
        if path.name == "trajectories.jsonl":
            for line in text.splitlines():
                strings = list(_strings(json.loads(line)))
                ids = [sid for sid in set(session_of.values()) if sid in strings]
                if len(ids) != 1:
                    raise RuntimeError("an exported record without its session id")
                records[ids[0]] = [x for x in strings if not _metadata(x)]
                everything.extend(strings)
        else:
            docs = [json.loads(text)] if path.suffix == ".json" else None
            if docs is None:
                docs = [json.loads(x) for x in text.splitlines() if x.strip()]
            strings = list(_strings(docs))
            others.extend(x for x in strings if not _metadata(x))
            everything.extend(strings)
    local = [records[session_of[n]] + others for n in range(len(labelled))]
    return Redacted(everything, local)


def test_gitleaks_values_never_reach_an_export(labelled: list[Labelled], tmp_path: Path) -> None:
    """The same values through the real path: CodeWhale sessions, import, export, files."""
    redacted = guarded("importing and exporting", export_planted, labelled, tmp_path)
    outcome = judge(labelled, redacted, _background(labelled))
    print()
    print(table(outcome, "gitleaks true positives through import and export"))
    assert_recall(outcome, {v.provider for v in labelled})


def test_detect_secrets_labels_are_redacted(corpus: Path) -> None:
    secrets, entropy = detect_secrets_values(corpus)
    assert len(secrets) >= 5  # a private key and keyword assignments
    everything = secrets + entropy
    outcome = judge(
        everything, guarded("redacting", redact_all, everything), _background(everything)
    )
    print()
    print(table(outcome, "detect-secrets labelled fixtures"))
    in_scope = Outcome(
        [v for v in outcome.redacted if v.rule not in KEYWORDLESS],
        [v for v in outcome.partial if v.rule not in KEYWORDLESS],
        [v for v in outcome.whole if v.rule not in KEYWORDLESS],
    )
    if in_scope.partial or in_scope.whole:
        fail("detect-secrets labels not redacted:\n" + named(in_scope.partial + in_scope.whole))


def test_kingfisher_examples_are_redacted() -> None:
    values = kingfisher_values()
    if not values:
        pytest.skip("kingfisher-secret-scanner publishes no rule examples in this version")
    outcome = judge(values, guarded("redacting", redact_all, values), _background(values))
    print()
    print(table(outcome, "kingfisher rule examples"))
    assert_recall(outcome, set())


def test_judge_tells_whole_partial_and_redacted_apart() -> None:
    """The checker itself, on made-up values: a leak of 8 characters is a partial leak."""
    carrier = 'demo_token = "Qz7Lk2Wp9Rt4Vx8Nc3Bm"'
    values = [
        Labelled("demo", "demo", "demo", f"demo#{n}", "Qz7Lk2Wp9Rt4Vx8Nc3Bm", carrier, 14, 34)
        for n in range(3)
    ]
    background = _background(values)
    outputs = [
        ['demo_token = "<SECRET:demo:1>"'],  # redacted
        ['demo_token = "<SECRET:demo:1>Nc3Bm"'],  # the last 5 characters: too short to count
        ['demo_token = "Qz7Lk2Wp<SECRET:demo:1>"'],  # the first 8: a partial leak
    ]
    kinds = []
    for value, output in zip(values, outputs, strict=True):
        outcome = judge([value], Redacted(output, [output]), background)
        kinds.append("redacted" if outcome.redacted else "partial" if outcome.partial else "whole")
    assert kinds == ["redacted", "redacted", "partial"]
    leaked = judge(values[:1], Redacted([carrier], [[carrier]]), background)
    assert leaked.whole == values[:1]
