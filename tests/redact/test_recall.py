"""Recall: labelled secrets in ../shared/corpus, and planted fakes in random sessions.

1. The labelled fixtures of detect-secrets and gitleaks: every labelled secret of a type our
   rules claim to cover must lie inside one of our findings. The types we do not cover are
   listed below, each with the reason.
2. A seeded property test: fake credentials of every rule (``fakes.py``) are planted at random
   places of random ATIF trajectories, inside prompts, tool arguments, tool outputs, diffs,
   JSON strings, JSON-in-JSON strings and base64 command lines. After ``redact_trajectory``
   none of them may survive anywhere in the serialised result, and each must be reported
   with its own rule.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from redact.fakes import CARRIERS, FAKES, GENERIC, SECRET_RULES, filler, plant, survivors

from modellab.redact import Finding, Placeholders, Scanner, load_rules, redact_trajectory


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_rules())


def test_every_rule_has_a_fake_generator() -> None:
    rule_ids = {rule.id for rule in load_rules()}
    assert set(FAKES) == rule_ids


# ---- 1. labelled corpus ------------------------------------------------------------------

#: detect-secrets finding types -> our rule that covers them.
COVERED_TYPES = {
    "Private Key": "private-key",
    "Secret Keyword": "secret-assignment",
    "Basic Auth Credentials": "url-credentials",
    "AWS Access Key": "aws-access-key-id",
    "JSON Web Token": "jwt",
    "Slack Token": "slack-token",
    "Stripe Access Key": "stripe-key",
}
#: Labelled types we do not claim, and why.
UNCOVERED_TYPES = {
    "Base64 High Entropy String": (
        "keyword-less entropy: we flag random strings only beside a secret-like name; on its "
        "own this fires on hashes, ids and base64 payloads all over agent logs (the labels "
        "include 'thequickbrownfoxjumpsoverthelazydog' and a markdown 'key=' example)"
    ),
    "Hex High Entropy String": (
        "keyword-less entropy: bare hex is git SHAs, digests and ids in agent logs (the labels "
        "include '012345678a' and '1234567890a'); hex beside a secret keyword is covered by "
        "secret-assignment"
    ),
}
#: Labels whose value no longer occurs in the upstream file (it changed after the baseline
#: was generated in 2020): there is nothing left to find.
STALE_LABELS = {
    ("config.yaml", "9080e79e67d92bd09c8a498a380190cdb4595072"): "value no longer in the file",
    ("short_files/first_line.php", "27537b9a43d6490772281a06c014ec283325f2f3"): (
        "value no longer in the file"
    ),
}


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _locate(text: str, sha1: str, preferred_line: int) -> tuple[int, int] | None:
    """The span of the value whose sha1 a detect-secrets label records (its line first)."""
    lines = text.split("\n")
    starts = _line_starts(text)
    order = [preferred_line - 1, *range(len(lines))]
    for index in order:
        line = lines[index]
        for i in range(len(line)):
            for j in range(i + 1, len(line) + 1):
                if hashlib.sha1(line[i:j].encode()).hexdigest() == sha1:
                    start, end = starts[index] + i, starts[index] + j
                    if line[i:j].startswith("!!"):
                        # detect-secrets reports the YAML tag of "key: !!binary VALUE" as
                        # the secret; the secret is the value after it.
                        rest = line[j:].strip()
                        start = starts[index] + line.index(rest, j)
                        end = start + len(rest)
                    return start, end
    return None


def _covered(findings: list[Finding], start: int, end: int) -> list[str]:
    return [f.rule_id for f in findings if f.start <= start and end <= f.end]


def test_detect_secrets_labelled_fixtures_are_found(corpus: Path, scanner: Scanner) -> None:
    folder = corpus / "secrets-detect-secrets-testdata"
    baseline = json.loads((folder / "baseline.file").read_text())
    checked = 0
    missed: list[str] = []
    for name, labels in baseline["results"].items():
        path = folder / name
        if not path.is_file():
            continue  # the baseline also lists upstream .py fixtures that were not copied
        text = path.read_text()
        findings = scanner.scan(text)
        for label in labels:
            kind, sha1, line = label["type"], label["hashed_secret"], label["line_number"]
            if kind in UNCOVERED_TYPES or (name, sha1) in STALE_LABELS:
                continue
            assert kind in COVERED_TYPES, f"unclassified detect-secrets type {kind!r}"
            if kind == "Private Key":
                # The hash is of the key's header line; the finding must cover the block.
                position = _line_starts(text)[line - 1]
                span: tuple[int, int] | None = (position, text.index("-----END", position))
            else:
                span = _locate(text, sha1, line)
            assert span is not None, f"{name}:{line}: label not located; add to STALE_LABELS"
            checked += 1
            rules = _covered(findings, *span)
            if not rules:
                missed.append(f"{name}:{line} {kind} {text[span[0] : span[1]][:12]!r}…")
    assert not missed, "labelled secrets not found:\n" + "\n".join(missed)
    assert checked == 5  # config.ini:2, config.yaml:13, config2.yaml:2, private_key, sample.diff:72


def test_gitleaks_labelled_fixtures_are_found(corpus: Path, scanner: Scanner) -> None:
    folder = corpus / "secrets-gitleaks"
    # gitleaks' own detect_test.go expects exactly this finding in testdata/repos/nogit/.env.prod
    # (rule generic-api-key, line 4, secret "8ae31cacf141669ddfb5da"). Our generic rule is
    # secret-assignment.
    text = (folder / "nogit.env.prod").read_text()
    line = text.split("\n")[3]
    assert line.startswith("DB_PASSWORD=")
    value = line.split("=", 1)[1]
    start = text.index(value)
    assert _covered(scanner.scan(text), start, start + len(value)) == ["secret-assignment"]
    # The expected_report/* files are report-format fixtures: their one finding is the
    # synthetic rule "test-rule" with the secret "a secret" in a file that does not exist, and
    # baseline.json masks its secrets as "****". Neither names a value to look for; check the
    # reports themselves carry nothing we would miss.
    for report in sorted((folder / "expected_report").iterdir()):
        assert "a secret" in report.read_text()
    for entry in json.loads((folder / "baseline.json").read_text()):
        assert set(entry["Secret"]) == {"*"}


# ---- 2. planted fakes --------------------------------------------------------------------


def _trajectory(rng: random.Random) -> tuple[dict[str, Any], list[list[str]]]:
    """A random ATIF-like trajectory, and for each content field a list to plant into."""
    steps: list[dict[str, Any]] = []
    slots: list[list[str]] = []
    for number in range(1, rng.randint(2, 6) + 1):
        if rng.random() < 0.4:
            step: dict[str, Any] = {"step_id": number, "source": "user", "message": ""}
            slots.append([])
        else:
            call_id = "toolu_01" + "".join(
                rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(22)
            )
            step = {
                "step_id": number,
                "source": "agent",
                "message": "",
                "tool_calls": [
                    {"tool_call_id": call_id, "function_name": "bash", "arguments": {"command": ""}}
                ],
                "observation": {"results": [{"source_call_id": call_id, "content": ""}]},
            }
            slots.extend([[], [], []])
        steps.append(step)
    return {"schema_version": "ATIF-v1.4", "session_id": "s1", "steps": steps}, slots


def _fields(trajectory: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(container, key, path) of each content field, in the order ``_trajectory`` made slots."""
    fields = []
    for index, step in enumerate(trajectory["steps"]):
        fields.append((step, "message", f"/steps/{index}/message"))
        if "tool_calls" in step:
            arguments = step["tool_calls"][0]["arguments"]
            result = step["observation"]["results"][0]
            fields.append((arguments, "command", f"/steps/{index}/tool_calls/0/arguments/command"))
            fields.append((result, "content", f"/steps/{index}/observation/results/0/content"))
    return fields


def _accepted(rule_id: str) -> set[str]:
    rules = {rule_id} | ((SECRET_RULES - GENERIC) if rule_id in GENERIC else set())
    return rules | {f"base64-{r}" for r in rules}


def test_planted_fakes_never_survive_redaction(scanner: Scanner) -> None:
    rng = random.Random(20250611)
    rule_ids = sorted(FAKES)
    cases = 0
    planted_per_rule = dict.fromkeys(rule_ids, 0)
    for case in range(300):
        trajectory, slots = _trajectory(rng)
        fields = _fields(trajectory)
        plants: list[tuple[int, str, str, str, str]] = []  # field, rule, carrier, value, form
        for _ in range(rng.randint(1, 5)):
            rule_id = rule_ids[(case * 5 + len(plants)) % len(rule_ids)]
            carriers = [
                c for c in CARRIERS if c != "base64" or rule_id in SECRET_RULES
            ]  # the engine looks into base64 for secrets only (see the report)
            carrier = rng.choice(carriers)
            if carrier == "prompt" or carrier == "reply":
                candidates = [i for i, f in enumerate(fields) if f[1] == "message"]
            elif carrier == "arguments":
                candidates = [i for i, f in enumerate(fields) if f[1] == "command"]
            else:
                candidates = list(range(len(fields)))
            if not candidates:
                candidates = list(range(len(fields)))
            index = rng.choice(candidates)
            text, value, form = plant(rng, rule_id, carrier)
            slots[index].append(text)
            plants.append((index, rule_id, carrier, value, form))
            planted_per_rule[rule_id] += 1
        for (container, key, _), texts in zip(fields, slots, strict=True):
            container[key] = "\n".join(texts) if texts else filler(rng, rng.randint(0, 8))
        originals = {path: container[key] for container, key, path in fields}
        report = redact_trajectory(trajectory, scanner, Placeholders())
        dumped = json.dumps(trajectory)
        for index, rule_id, carrier, value, form in plants:
            path = fields[index][2]
            where = f"case {case}, {rule_id} in {carrier} at {path}"
            for shown in survivors(value):
                assert shown not in dumped, f"{where}: value survived in {originals[path]!r}"
            if carrier == "base64":
                assert form not in dumped, f"{where}: base64 blob survived"
            original = originals[path]
            start = original.find(form)
            assert start != -1, where
            rules = {
                entry.rule_id
                for entry in report
                if entry.path == path and entry.start <= start and start + len(form) <= entry.end
            }
            context = original[max(start - 60, 0) : start + len(form) + 30]
            assert rules & _accepted(rule_id), f"{where}: reported as {sorted(rules)} {context!r}"
        cases += 1
    assert cases == 300
    assert min(planted_per_rule.values()) >= 10, planted_per_rule
