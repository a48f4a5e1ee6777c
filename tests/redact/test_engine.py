"""The redaction engine: spans, placeholders, allowlists, batching, rule-file checks."""

from __future__ import annotations

import base64
import json
import random

import pytest

from modellab.cli import main
from modellab.errors import RedactionError
from modellab.redact import (
    Placeholders,
    Scanner,
    apply_findings,
    load_or_create_key,
    load_rules,
    redact_trajectory,
    value_hash,
)
from modellab.settings import Settings

# Fake credentials, assembled at run time so no literal looks like a real key.
GITHUB = "ghp_" + "Zx9Kq2Lm4Np6Rs8Tu0Vw" + "1Ya3Bc5De7FgHj2K"  # 36 after ghp_
ANTHROPIC = "sk-ant-api03-" + "Q" * 20 + "wErTyUiOpAsDfGhJkLzXcVbNm1234567890_-" * 2 + "AA"
AWS_ID = "AKIA" + "Q3ZL7RWXT2NP5YVK"


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_rules())


def redacted(scanner: Scanner, text: str) -> str:
    return apply_findings(text, scanner.scan(text), Placeholders())


def test_secrets_pii_and_identity_become_typed_placeholders(scanner):
    text = (
        f"export GITHUB_TOKEN={GITHUB}\nkey {ANTHROPIC}\nid {AWS_ID}\n"
        "mail alex.doe@acme.io, call +44 20 7946 0958, server 93.184.216.34,\n"
        "card 4111 1111 1111 1111, cd /home/alex/src/app"
    )
    out = redacted(scanner, text)
    for secret in (
        GITHUB,
        ANTHROPIC,
        AWS_ID,
        "alex.doe@acme.io",
        "93.184.216.34",
        "4111 1111 1111 1111",
        "/home/alex",
    ):
        assert secret not in out
    assert "<SECRET:github-token:1>" in out and "<SECRET:anthropic-key:1>" in out
    assert "<EMAIL:1>" in out and "<PHONE:1>" in out and "<IP:1>" in out and "<CARD:1>" in out
    assert "cd ~/src/app" in out


def test_redaction_is_by_span_and_placeholders_are_stable(scanner):
    # The detect-secrets trap: redacting by a reported value ("ghp") would be wrong.
    text = f"a={GITHUB} b=ghp and again {GITHUB} other ghp_{'Q' * 36}"
    out = redacted(scanner, text)
    assert out.count("<SECRET:github-token:1>") == 2
    assert "<SECRET:github-token:2>" in out
    assert "b=ghp and" in out


def test_false_positive_guards(scanner):
    clean = [
        "version 10.0.0.1 and 127.0.0.1 and 300.1.1.1",
        "password = os.environ['DB_PASSWORD']",
        "token: ${GITHUB_TOKEN}",
        "git@github.com:org/repo.git and noreply@example.com",
        "card 4111 1111 1111 1112",  # fails the Luhn check
        "uuid 0f0e0d0c-1111-4222-8333-444455556666",
        "sha 9b2a3c4d5e6f7081920a1b2c3d4e5f60718293a4",
        "cd /home/runner/work",
    ]
    for text in clean:
        assert scanner.scan(text) == [], text


def test_allowlisted_values_are_kept(scanner):
    text = f"token {GITHUB}"
    allowing = Scanner(scanner.rules, allow_hashes=[value_hash(GITHUB)])
    assert allowing.scan(text) == []


def test_base64_encoded_secrets_are_found(scanner):
    blob = base64.b64encode(f"GITHUB_TOKEN={GITHUB}".encode()).decode()
    out = redacted(scanner, f"echo {blob} | base64 -d >> .env")
    assert blob not in out and "<SECRET:base64-github-token:1>" in out
    harmless = base64.b64encode(b"hello world, nothing to see here").decode()
    assert scanner.scan(f"echo {harmless} | base64 -d") == []


def test_base64_hints_of_different_kinds_each_keep_their_reach(scanner):
    # A "base64" hint far down the text must not swallow the reach of an earlier "atob("
    # hint (hints of different kinds used to be merged out of text order).
    blob = base64.b64encode(f"GITHUB_TOKEN={GITHUB}".encode()).decode()
    text = f"const env = atob('{blob}');\n" + "x " * 6000 + "echo aGVsbG8= | base64 -d"
    assert blob not in redacted(scanner, text)


def test_escaped_json_and_private_keys(scanner):
    key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    text = json.dumps({"cfg": json.dumps({"password": "Zq8#kLm2Vx9!w"})}) + " " + key
    out = redacted(scanner, text)
    assert "Zq8#kLm2Vx9!w" not in out and "b3BlbnNzaC1rZXktdjEAAAAA" not in out


def test_scan_many_equals_scanning_one_by_one(scanner):
    rng = random.Random(5)
    pieces = [
        GITHUB,
        "alex@acme.io",
        "see /Users/alex/x",
        "+1 415-555-0132",
        "plain text",
        "password: Zq8#kLm2Vx9!",
        "",
        "\n",
        AWS_ID,
        "-----BEGIN",
        "@",
        "ghp_",
    ]
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(300)]
    assert scanner.scan_many(texts) == [scanner.scan(t) for t in texts]


def test_trajectory_redaction_skips_structure_and_finds_user_names(scanner):
    trajectory = {
        "session_id": "ghp_" + "A" * 36,  # structural: never touched
        "steps": [
            {"step_id": 1, "source": "user", "message": "fix /home/marco/app/main.py please"},
            {
                "step_id": 2,
                "source": "agent",
                "message": "done, marco",
                "tool_calls": [
                    {
                        "tool_call_id": "toolu_01ABC",
                        "function_name": "bash",
                        "arguments": {"command": f"GH_TOKEN={GITHUB} gh pr list"},
                    }
                ],
            },
        ],
    }
    report = redact_trajectory(trajectory, scanner, Placeholders())
    assert trajectory["session_id"] == "ghp_" + "A" * 36
    assert trajectory["steps"][0]["message"] == "fix ~/app/main.py please"
    assert trajectory["steps"][1]["message"] == "done, <USER:1>"
    assert GITHUB not in json.dumps(trajectory)
    paths = {(entry.path, entry.rule_id) for entry in report}
    assert ("/steps/1/tool_calls/0/arguments/command", "github-token") in paths
    assert ("/steps/1/message", "user-name") in paths
    assert all(len(entry.value_sha256) == 64 for entry in report)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[rule]]\nid = "x"\ncategory = "secret"\nplaceholder = "SECRET"\nkeywords = []\n'
            'pattern = "("\n',
            "bad regular expression",
        ),
        (
            '[[rule]]\nid = "x"\ncategory = "secret"\nplaceholder = "SECRET"\nkeywords = ["ABC"]\n'
            'pattern = "a"\n',
            "lower-case ASCII",
        ),
        (
            '[[rule]]\nid = "x"\ncategory = "nope"\nplaceholder = "SECRET"\nkeywords = []\n'
            'pattern = "a"\n',
            "'category'",
        ),
        (
            '[[rule]]\nid = "x"\ncategory = "secret"\nplaceholder = "SECRET"\nkeywords = []\n'
            'pattern = "a"\ncolour = 1\n',
            "unknown field",
        ),
        (
            '[[rule]]\nid = "x"\ncategory = "secret"\nplaceholder = "SECRET"\nkeywords = []\n'
            'pattern = "a"\n[[rule]]\nid = "x"\ncategory = "secret"\nplaceholder = "SECRET"\n'
            'keywords = []\npattern = "b"\n',
            "used twice",
        ),
        ("not toml = = =", "not valid TOML"),
    ],
)
def test_bad_rule_files_name_the_file_and_the_problem(tmp_path, body, message):
    path = tmp_path / "rules.toml"
    path.write_text(body)
    with pytest.raises(RedactionError, match=message) as caught:
        load_rules(path)
    assert str(path) in str(caught.value)


def test_redact_scan_command(tmp_path, capsys):
    tmp_path = tmp_path / "data"  # not the test HOME beside it, where the catalog lives
    tmp_path.mkdir()
    (tmp_path / "clean.txt").write_text("nothing here\n")
    assert main(["redact", "scan", str(tmp_path)]) == 0
    (tmp_path / "app.env").write_text(f"# config\nGITHUB_TOKEN={GITHUB}\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4 + GITHUB.encode())
    capsys.readouterr()
    assert main(["redact", "scan", str(tmp_path), "--json", "--skip-binary"]) == 8
    report = json.loads(capsys.readouterr().out)
    (finding,) = report["findings"]
    assert (finding["line"], finding["column"], finding["rule"]) == (2, 14, "github-token")
    key = load_or_create_key(Settings.from_env().redaction_key_path)
    assert GITHUB not in json.dumps(report) and finding["sha256"] == value_hash(GITHUB, key)
    assert report["not_scanned"] == [
        {"path": str(tmp_path / "blob.bin"), "kind": "binary", "reason": "binary file"}
    ]
    bad = tmp_path / "rules.toml"
    bad.write_text("nope = = =")
    assert main(["redact", "scan", str(tmp_path / "clean.txt"), "--rules", str(bad)]) == 7
