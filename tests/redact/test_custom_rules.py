"""Custom rules only add: they can never remove or weaken the built-in rules.

A user's rules file (``--rules FILE`` or ``$MODELLAB_HOME/rules.toml``) is loaded after the
built-in rules; a rule that takes a built-in id is refused, and user patterns run on RE2
(linear time), so one such as ``(a+)+$`` cannot hang a scan. Values are never printed:
failures show hashes and rule ids.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from importlib import resources
from pathlib import Path

import pytest
from redact.fakes import FAKES, plant, survivors

from factories import assistant, result, saved_session, user, write_session
from modellab.cli import main
from modellab.errors import RedactionError
from modellab.redact import load_rules
from modellab.redact._config import RedactionConfig
from modellab.redact._linear import LinearPattern, compile_linear
from modellab.redact._providers import provider_detector
from modellab.settings import Settings
from modellab.store import Catalog

GITHUB = "ghp_" + "Zq3" * 12
ACME = "acme_" + "k7Qx" * 6

NEVER = """
[[rule]]
id = "never-matches"
category = "secret"
placeholder = "SECRET"
keywords = ["zzqqzzqq"]
pattern = "zzqqzzqq-never"
"""

ACME_RULE = """
[[rule]]
id = "acme-key"
category = "secret"
placeholder = "SECRET"
keywords = ["acme_"]
after = 40
pattern = "acme_[A-Za-z0-9]{24}"
"""


def _rule(rule_id: str = "mine", pattern: str = "abc", **extra: object) -> str:
    fields = "".join(f"{key} = {json.dumps(value)}\n" for key, value in extra.items())
    return (
        f'[[rule]]\nid = "{rule_id}"\ncategory = "secret"\nplaceholder = "SECRET"\n'
        f'keywords = ["abc"]\npattern = {json.dumps(pattern)}\n{fields}'
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def _data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"  # not the test HOME beside it, where the catalog lives
    folder.mkdir(exist_ok=True)
    return folder


# ---- exports: the built-in rules always apply ------------------------------------------------


class _Values(list[str]):
    """Planted values; a failing test's report shows how many, never what they are."""

    def __repr__(self) -> str:
        return f"<{len(self)} planted values>"


@pytest.fixture
def planted(tmp_path: Path) -> _Values:
    """One imported session holding a fake of every built-in rule, in tool outputs."""
    rng = random.Random(2024)
    values = _Values()
    outputs: list[str] = []
    built_in = {rule.id for rule in load_rules()}
    for rule_id in sorted(built_in & FAKES.keys()):
        text, value, _form = plant(rng, rule_id, "output")
        outputs.append(text)
        values.append(value)
    calls = [(f"call_{n}", "bash", {"command": "cat notes.txt"}) for n in range(len(outputs))]
    messages = [user("Please look at the config."), assistant("Reading.", *calls)]
    messages += [
        result(call_id, text) for (call_id, _, _), text in zip(calls, outputs, strict=True)
    ]
    messages.append(assistant("Done."))
    write_session(tmp_path / "sessions", saved_session(messages, session_id="planted"))
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    return values


def _export(out: Path, *extra: str) -> dict[str, bytes]:
    assert main(["export", "--all", "--out", str(out), *extra]) == 0
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def _leaked(files: dict[str, bytes], values: list[str]) -> list[str]:
    everything = b"\n".join(files.values()).decode()
    return [_digest(v) for v in values if any(form in everything for form in survivors(v))]


@pytest.mark.parametrize("where", ["--rules", "installation"])
def test_a_rules_file_that_never_matches_weakens_nothing(planted, tmp_path, where):
    rules = tmp_path / "never.toml"
    rules.write_text(NEVER)
    baseline = _export(tmp_path / "baseline")
    if where == "--rules":
        extra: tuple[str, ...] = ("--rules", str(rules))
    else:
        home = Settings.from_env().home
        (home / "rules.toml").write_text(NEVER)
        extra = ()
    custom = _export(tmp_path / "custom", *extra)
    # Nothing the built-in rules redact survives, and the redaction is the very same.
    # (How much the built-in rules find is test_export_redaction.py's and test_recall.py's
    # business; this is about a rules file never taking anything away from it.)
    assert _leaked(custom, planted) == _leaked(baseline, planted)
    for name in ("trajectories.jsonl", "redaction-findings.jsonl"):
        assert _digest(custom[name].decode()) == _digest(baseline[name].decode()), name
    # The manifest records the built-in rules and the extra file, each by sha256.
    redaction = json.loads(custom["manifest.json"])["redaction"]
    builtin = resources.files("modellab.redact").joinpath("rules.toml").read_bytes()
    assert redaction["builtin_rules"]["sha256"] == hashlib.sha256(builtin).hexdigest()
    (entry,) = redaction["extra_rules"]
    assert entry["sha256"] == hashlib.sha256(NEVER.encode()).hexdigest()
    if where == "--rules":
        assert (entry["file"], entry["origin"]) == ("never.toml", "--rules")
    else:
        assert (entry["file"], entry["origin"]) == ("$MODELLAB_HOME/rules.toml", "installation")
    assert json.loads(baseline["manifest.json"])["redaction"]["extra_rules"] == []


def test_an_export_refuses_a_rule_that_takes_a_built_in_id(planted, tmp_path, capsys):
    rules = tmp_path / "override.toml"
    rules.write_text(_rule("github-token", "nothing-like-it"))
    out = tmp_path / "out"
    assert main(["export", "--all", "--out", str(out), "--rules", str(rules)]) == 7
    err = capsys.readouterr().err
    assert str(rules) in err and "rule 1 (github-token)" in err
    assert "already used by a built-in rule" in err
    assert not out.exists()


# ---- which ids a custom rule may take -----------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "owner"),
    [
        ("github-token", "a built-in rule"),
        ("email", "a built-in rule"),
        ("user-name", "the engine's own findings"),
        ("custom-term", "the engine's own findings"),
        ("base64-mine", "reserved for findings inside base64 blobs"),
    ],
)
def test_a_custom_rule_may_not_take_a_reserved_id(tmp_path, rule_id, owner):
    path = tmp_path / "mine.toml"
    path.write_text(_rule(rule_id))
    with pytest.raises(RedactionError, match=re.escape(owner)) as caught:
        load_rules(path)
    assert str(path) in str(caught.value) and f"({rule_id})" in str(caught.value)


def test_a_custom_rule_may_not_take_a_provider_rule_id(tmp_path):
    taken = provider_detector().rule_ids()[0]
    path = tmp_path / "mine.toml"
    path.write_text(_rule(taken))
    settings = Settings.from_env()
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(settings, catalog, rules_path=path)
    with pytest.raises(RedactionError, match="provider rule"):
        config.scanner()


def test_two_user_files_may_not_share_an_id(tmp_path, capsys):
    settings = Settings.from_env()
    settings.home.mkdir(parents=True)
    (settings.home / "rules.toml").write_text(ACME_RULE)
    other = tmp_path / "other.toml"
    other.write_text(ACME_RULE)
    (_data(tmp_path) / "a.txt").write_text("nothing\n")
    assert main(["redact", "scan", str(tmp_path / "data"), "--rules", str(other)]) == 7
    err = capsys.readouterr().err
    assert str(other) in err and "acme-key" in err and "rules.toml" in err
    # The installation's file named again with --rules is the same file: loaded once.
    args = ["redact", "scan", str(tmp_path / "data"), "--rules", str(settings.home / "rules.toml")]
    assert main(args) == 0


# ---- custom rules add findings, and cannot keep a value --------------------------------------


def test_custom_rules_add_to_the_built_in_ones(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "app.env").write_text(f"GITHUB_TOKEN={GITHUB}\nACME={ACME}\n")
    rules = tmp_path / "acme.toml"
    rules.write_text(ACME_RULE)
    assert main(["redact", "scan", str(data), "--json"]) == 8
    assert json.loads(capsys.readouterr().out)["counts"] == {"github-token": 1}
    assert main(["redact", "scan", str(data), "--json", "--rules", str(rules)]) == 8
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"github-token": 1, "acme-key": 1}
    assert [(f["rule"], f["line"], f["column"]) for f in report["findings"]] == [
        ("github-token", 1, 14),
        ("acme-key", 2, 6),
    ]
    # The installation's own rules apply without any flag.
    Settings.from_env().home.joinpath("rules.toml").write_text(ACME_RULE)
    assert main(["redact", "scan", str(data), "--json"]) == 8
    assert json.loads(capsys.readouterr().out)["counts"] == {"github-token": 1, "acme-key": 1}


def test_a_custom_allow_pattern_cannot_keep_a_built_in_finding(tmp_path, capsys):
    """Only an allowlisted hash keeps a value; a user's ``allow`` covers that rule alone."""
    data = _data(tmp_path)
    (data / "app.env").write_text(f"GITHUB_TOKEN={GITHUB}\n")
    rules = tmp_path / "keep.toml"
    rules.write_text(
        '[[rule]]\nid = "keep-github"\ncategory = "pii"\nplaceholder = "TERM"\n'
        'keywords = ["ghp_"]\npattern = "ghp_[A-Za-z0-9]{36}"\nallow = ".*"\n'
    )
    assert main(["redact", "scan", str(data), "--json", "--rules", str(rules)]) == 8
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"github-token": 1}


def test_a_custom_rule_placed_by_its_literal_prefix(tmp_path):
    """A windowed rule (``before`` > 0) goes through the prefilter's literal prefixes."""
    path = tmp_path / "mine.toml"
    path.write_text(
        '[[rule]]\nid = "ticket"\ncategory = "pii"\nplaceholder = "TERM"\n'
        'keywords = ["acme"]\nbefore = 8\npattern = "x-acme-[0-9]{6}"\n'
    )
    rules = load_rules(path)
    assert isinstance(rules[-1].pattern, LinearPattern)
    settings = Settings.from_env()
    with Catalog(settings.catalog_path) as catalog:
        config = RedactionConfig.load(settings, catalog, rules_path=path)
    scanner = config.scanner()
    assert [r.id for r in scanner.rules].index("ticket") in scanner._prefixed
    text = "see X-ACME-123456 and x-acme-654321, not x-acme-12"
    found = [(f.rule_id, f.start, f.end) for f in scanner.scan(text) if f.rule_id == "ticket"]
    assert found == [("ticket", 22, 35)]
    batch = scanner.scan_many([text, "x-acme-000111"])
    assert [[f.start for f in fs if f.rule_id == "ticket"] for fs in batch] == [[22], [0]]


# ---- user patterns: linear time, or refused -------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(abc)\1", "RE2"),
        (r"(?<=k)abc", "RE2"),
        (r"abc(?=x)", "RE2"),
        (r"abc(?!x)", "RE2"),
        (r"(?>abc)", "RE2"),
        (r"abc++", "RE2"),
        (r"abc{,3}", "{0,n}"),
        (r"abc[[:alpha:]]", "Python reads it differently"),
        (r"abc\pL", "Python reads it differently"),
        ("abc(", "RE2"),
    ],
)
@pytest.mark.parametrize("field", ["pattern", "allow", "anchors"])
def test_a_pattern_that_cannot_run_in_linear_time_is_refused(tmp_path, pattern, problem, field):
    path = tmp_path / "mine.toml"
    if field == "pattern":
        path.write_text(_rule("mine", pattern))
    elif field == "allow":
        path.write_text(_rule("mine", allow=pattern))
    else:
        anchored = f"anchors = [{json.dumps(pattern)}]\nkeywords = []"
        path.write_text(_rule("mine").replace('keywords = ["abc"]', anchored))
    with pytest.raises(RedactionError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{path}: rule 1 (mine): bad regular expression in '{field}'" in message
    assert repr(pattern) in message and problem in message


def test_custom_rules_bound_how_far_a_pattern_reaches(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(_rule("mine", after=10**9))
    with pytest.raises(RedactionError, match="'after' must be a number from 1 to 16384"):
        load_rules(path)


@pytest.mark.parametrize("keywords", ['["a"]', "[]"])
def test_a_catastrophic_pattern_runs_in_linear_time(tmp_path, capsys, keywords):
    """``(a+)+$`` takes exponential time on Python's engine; on RE2 the scan is prompt."""
    rules = tmp_path / "evil.toml"
    rules.write_text(
        f'[[rule]]\nid = "evil"\ncategory = "secret"\nplaceholder = "SECRET"\n'
        f"keywords = {keywords}\npattern = '(a+)+$'\n"
    )
    data = _data(tmp_path)
    (data / "hostile.txt").write_text("a" * 100_000 + "!")
    started = time.perf_counter()
    # (With a keyword, each try ends ``after`` characters on, where '$' matches: 8.)
    assert main(["redact", "scan", str(data), "--json", "--rules", str(rules)]) in (0, 8)
    assert time.perf_counter() - started < 5.0  # a hang guard: backtracking takes minutes
    assert json.loads(capsys.readouterr().out)["files_scanned"] == 1
    # The rule is live: it matches where it should.
    (data / "hostile.txt").write_text("tail aaaa")
    assert main(["redact", "scan", str(data), "--json", "--rules", str(rules)]) == 8
    assert json.loads(capsys.readouterr().out)["counts"] == {"evil": 1}


_SAME_AS_RE = [
    r"\bab+",
    r"(?m)^a.b$",
    r"a(b)?c",
    r"[a-c]{2,4}",
    r"x*",
    r"(a|ab)(c|bcd)",
    r"\d+\.\d*",
    r"(?i)tok=(\w+)",
    r"^b",
    r"é+",
    r"(a)|(b)",
    r"\Bb\b",
]


def test_linear_patterns_match_as_re_does():
    """Same spans for match, search and finditer with pos and endpos, in characters."""
    rng = random.Random(99)
    for _ in range(2000):
        source = rng.choice(_SAME_AS_RE)
        text = "".join(rng.choice("abc \n.1xéT=ok\u4e16") for _ in range(rng.randint(0, 24)))
        pos, endpos = rng.randint(0, len(text) + 1), rng.randint(0, len(text) + 2)
        python, linear = re.compile(source, re.ASCII), compile_linear(source)
        groups = range(python.groups + 1)
        for method in ("match", "search"):
            expected = getattr(python, method)(text, pos, endpos)
            got = getattr(linear, method)(text, pos, endpos)
            assert (got is None) == (expected is None), (source, text, pos, endpos, method)
            if expected is not None and got is not None:
                assert [got.span(g) for g in groups] == [expected.span(g) for g in groups]
                assert [got.group(g) for g in groups] == [expected.group(g) for g in groups]
                assert (got.start(), got.end()) == (expected.start(), expected.end())
        assert [m.span() for m in linear.finditer(text, pos, endpos)] == [
            m.span() for m in python.finditer(text, pos, endpos)
        ], (source, text, pos, endpos)


def test_linear_patterns_take_text_with_lone_surrogates():
    pattern = compile_linear("b+")
    found = pattern.search("a\udc80bb", 1)
    assert found is not None and found.span() == (2, 4)


def test_review_redacts_again_with_the_rules_file_the_catalog_kept(tmp_path, capsys):
    messages = [user(f"the acme key is {ACME}"), assistant("Noted.")]
    write_session(tmp_path / "sessions", saved_session(messages, session_id="acme"))
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    folder = tmp_path / "private-folder-name"
    folder.mkdir()
    rules = folder / "acme.toml"
    rules.write_text(ACME_RULE)
    out = tmp_path / "export"
    files = _export(out, "--rules", str(rules))
    # The manifest travels: it names no folder of the user's.
    assert b"private-folder-name" not in files["manifest.json"]
    redaction = json.loads(files["manifest.json"])["redaction"]
    assert redaction["rules"] == "built-in + --rules"
    # Adding a term redacts again, with the same --rules file (kept in the catalog).
    capsys.readouterr()
    assert main(["redact", "review", str(out), "--add-term", "Noted"]) == 0
    again = (out / "trajectories.jsonl").read_text()
    assert ACME not in again and "<SECRET:acme-key:" in again and "Noted" not in again
    # A rules file edited since the export is refused by name: the user exports again.
    rules.write_text(ACME_RULE.replace("{24}", "{20}"))
    assert main(["redact", "review", str(out), "--add-term", "acme"]) == 7
    assert "acme.toml: the rules file changed since" in capsys.readouterr().err
