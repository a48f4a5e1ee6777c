"""Names: the user's real name and login are redacted everywhere; code is never rewritten.

Every session here is SYNTHETIC, built as an ATIF trajectory through the neutral model
(``to_atif``) the way importers build them: tool calls with their results, a git patch as
a diff artifact. The people and projects are invented (fastjson2's package name is public).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from modellab.redact import Placeholders, Scanner, load_rules, redact_trajectory, value_hash
from modellab.redact._engine import Finding
from modellab.redact._trajectory import _merge
from modellab.traces import (
    Agent,
    Diff,
    Provenance,
    Session,
    Step,
    ToolCall,
    ToolResult,
    Turn,
    to_atif,
)

KEY = b"k" * 32


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_rules(), hash_key=KEY)


def _session(
    *steps: Step, cwd: str | None = None, patch: str | None = None, source: str = "codewhale"
) -> dict[str, Any]:
    artifacts = (Diff(patch=patch, origin="git_patch"),) if patch else ()
    session = Session(
        id="names-1",
        source=source,
        agent=Agent(name=source, version="1"),
        cwd=cwd,
        turns=(Turn(index=0, cwd=cwd, steps=steps),),
        artifacts=artifacts,
        provenance=Provenance(
            source_path="/x/s.json",
            source_format="test.synthetic",
            parser_version="t1",
            sha256="0" * 64,
            size_bytes=10,
        ),
    )
    return json.loads(json.dumps(to_atif(session)))


def _user(text: str) -> Step:
    return Step(source="user", text=text)


def _run(call_id: str, command: str, output: str, text: str = "") -> Step:
    """An agent step that runs ``command`` in a shell and gets ``output`` back."""
    return Step(
        source="agent",
        text=text,
        tool_calls=(ToolCall(id=call_id, name="execute_bash", arguments={"command": command}),),
        tool_results=(ToolResult(call_id=call_id, content=output),),
    )


def _redact(trajectory: dict[str, Any], scanner: Scanner) -> tuple[dict[str, Any], str, list[Any]]:
    redacted = copy.deepcopy(trajectory)
    report = redact_trajectory(redacted, scanner, Placeholders())
    return redacted, json.dumps(redacted, ensure_ascii=False), report


def _rules(report: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in report:
        counts[entry.rule_id] = counts.get(entry.rule_id, 0) + 1
    return counts


# ---- the workspace directly under /home (a real OpenHands run had /home/fastjson2) -------

JSON_JAVA = """package com.alibaba.fastjson2;

import com.alibaba.fastjson2.reader.ObjectReader;
import com.alibaba.fastjson2.util.TypeUtils;

public interface JSON {
    static Object parse(String text) {
        return com.alibaba.fastjson2.JSONReader.of(text).read(Object.class);
    }
}
"""
PATCH = """diff --git a/core/src/main/java/com/alibaba/fastjson2/JSONReader.java \
b/core/src/main/java/com/alibaba/fastjson2/JSONReader.java
--- a/core/src/main/java/com/alibaba/fastjson2/JSONReader.java
+++ b/core/src/main/java/com/alibaba/fastjson2/JSONReader.java
@@ -10,6 +10,7 @@ package com.alibaba.fastjson2;
 import com.alibaba.fastjson2.reader.ObjectReader;
+import com.alibaba.fastjson2.util.IOUtils;
"""
MVN = (
    "[INFO] Building fastjson2 2.0.53\n"
    "[INFO] --- surefire:3.2.5:test (default-test) @ fastjson2 ---\n"
    "[ERROR] com.alibaba.fastjson2.JSONReaderTest.testParse:41 expected: <1> but was: <2>\n"
    "[ERROR] /home/fastjson2/core/src/test/java/com/alibaba/fastjson2/JSONReaderTest.java\n"
)


def _openhands_run(*, uploaded: bool, whose_home: str = "") -> dict[str, Any]:
    prompt = "Fix the parser bug described below.\n"
    if uploaded:
        prompt = (
            "<uploaded_files>\n/home/fastjson2\n</uploaded_files>\n"
            "I've uploaded a Java code repository in the directory fastjson2. " + prompt
        )
    steps = [
        _user(prompt),
        _run("c1", "cd /home/fastjson2 && ls", "core\nextension\npom.xml\nREADME.md\n"),
        _run(
            "c2",
            "cat /home/fastjson2/core/src/main/java/com/alibaba/fastjson2/JSON.java",
            JSON_JAVA,
        ),
        _run("c3", "cd /home/fastjson2 && mvn -q test -pl core", MVN),
        _run("c4", "bash /home/run.sh && cat /home/fix.patch", "applied /home/fix.patch\n"),
    ]
    if whose_home:
        steps.append(
            _run(
                "c5",
                "ls ~/.m2/repository/com/alibaba",
                f"/home/{whose_home}/.m2/repository/com/alibaba/fastjson2\n",
            )
        )
    return _session(*steps, patch=PATCH, source="openhands")


@pytest.mark.parametrize("uploaded", [True, False], ids=["uploaded-files", "code-only"])
def test_a_workspace_directly_under_home_rewrites_no_identifier(scanner, uploaded):
    trajectory = _openhands_run(uploaded=uploaded)
    redacted, text, report = _redact(trajectory, scanner)
    before = json.dumps(trajectory)
    assert text.count("com.alibaba.fastjson2") == before.count("com.alibaba.fastjson2") > 5
    assert text.count("/home/fastjson2") == before.count("/home/fastjson2")
    assert "<USER:" not in text and "~" not in text
    # The git patch is exported byte for byte.
    assert redacted["extra"]["modellab"]["artifacts"][0]["patch"] == PATCH
    # Files directly under /home are files, not homes.
    assert "bash /home/run.sh && cat /home/fix.patch" in text
    assert not {"home-path", "user-name", "user-name-ambiguous"} & _rules(report).keys()


def test_a_real_home_beside_the_workspace_is_still_redacted(scanner):
    trajectory = _openhands_run(uploaded=True, whose_home="nadiaq")
    _redacted, text, report = _redact(trajectory, scanner)
    assert "nadiaq" not in text
    assert "~/.m2/repository/com/alibaba/fastjson2" in text
    assert text.count("com.alibaba.fastjson2") == json.dumps(trajectory).count(
        "com.alibaba.fastjson2"
    )
    assert _rules(report)["home-path"] == 1


def test_a_file_directly_under_home_is_no_home(scanner):
    for text in ("bash /home/run.sh", "see /Users/notes.txt", r"type C:\Users\setup.bat"):
        assert [f.rule_id for f in scanner.scan(text)] == [], text
    # A user name with a dot is still a home when more path follows.
    (finding,) = scanner.scan("ls /home/jo.doe/src")
    assert (finding.rule_id, finding.start, finding.end) == ("home-path", 3, 15)
    assert [f.rule_id for f in scanner.scan("done in /home/alex.")] == ["home-path"]


def test_a_workspace_equal_to_home_x_is_no_home_even_when_named_like_a_person(scanner):
    trajectory = _session(
        _user("The tests under /home/rosalind/tests fail, please fix them."),
        _run("c1", "ls /home/rosalind", "setup.py\nrosalind\ntests\n"),
        cwd="/home/rosalind",
    )
    redacted, text, report = _redact(trajectory, scanner)
    # The working folder is the workspace, not a home: no user name, no "~"; in text it
    # becomes the same placeholder as the cwd fields.
    assert "<WORKSPACE:1>/tests" in text and "<USER:" not in text and "~" not in text
    assert redacted["extra"]["modellab"]["cwd"] == "<WORKSPACE:1>"
    # The session's and the turn's cwd, and the two mentions in text.
    assert _rules(report) == {"workspace-path": 4}


# ---- names the session shows: git, whoami, id, the home folder's owner -----------------

GIT_LOG = """commit 31142150c5c0272bef7d0d779c2625bd29662b5e
Author:     Marco Rotili <marco.rotili@example.com>
AuthorDate: Thu Feb 12 17:16:26 2026 +0100
Commit:     Marco Rotili <marco.rotili@example.com>
CommitDate: Thu Feb 12 17:20:01 2026 +0100

    feat: wire live transcript updates

    Co-authored-by: Ilaria Fenwick-Obi <ilaria@example.org>

commit 8a1f0e2d9c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39
Author:     Dependabot <49699333+dependabot[bot]@users.noreply.github.com>
Commit:     GitHub <noreply@github.com>

    Bump ex_doc from 0.31.0 to 0.31.1
"""


def test_git_author_and_committer_names_are_redacted_everywhere(scanner):
    trajectory = _session(
        _user("Who owns the epic? Ask Marco if unsure; Rotili wrote the first draft."),
        _run("c1", "git log --format=fuller -2", GIT_LOG),
        _run(
            "c2",
            "bd show spotter-a0y",
            "spotter-a0y [EPIC] Single-session sync\nOwner: Marco Rotili · Type: epic\n"
            "Reviewer: Ilaria Fenwick-Obi\n",
            text="The epic is owned by Marco Rotili; I will push to GitHub when done.",
        ),
    )
    _redacted, text, report = _redact(trajectory, scanner)
    for name in ("Marco", "Rotili", "Ilaria", "Fenwick-Obi"):
        assert name not in text, name
    assert re.search(r"Owner: <USER:\d+> · Type: epic", text)
    assert "Ask <USER:" in text and "; <USER:" in text
    # Bots and services are not people; ordinary words stay.
    assert "GitHub <" in text and "push to GitHub" in text and "Dependabot <" in text
    assert "I will push" in text
    counts = _rules(report)
    assert counts["user-name"] >= 8 and "user-name-ambiguous" not in counts


def test_git_config_user_name_whoami_and_id_are_redacted_everywhere(scanner):
    trajectory = _session(
        _run("c1", "git config user.name", "Tamsin Okonkwo\n"),
        _run("c2", "whoami", "tokonkwo\n"),
        _run(
            "c3",
            "git config --list --show-origin",
            "file:/etc/gitconfig\tcore.autocrlf=input\nuser.name=Tamsin Okonkwo\n"
            "user.email=t@example.org\n",
        ),
        _run("c4", "id", "uid=1000(tokonkwo) gid=1000(tokonkwo) groups=1000(tokonkwo),27(sudo)"),
        _run(
            "c5",
            "cat deploy.log",
            "deployed by tokonkwo at 10:02\nApproved: Tamsin Okonkwo, Okonkwo's team\n"
            "tokonkwo@buildbox:~$ git config --get user.name\nTamsin Okonkwo\n",
        ),
        _user("Thanks Tamsin, and tell Okonkwo too."),
        # git output inside JSON shown as text: escaped newlines.
        _run("c6", "gh api repos/o/r/commits", json.dumps({"log": GIT_LOG[:120]})),
        _user("Does Marco know?"),
    )
    _redacted, text, report = _redact(trajectory, scanner)
    assert "Tamsin" not in text and "Okonkwo" not in text and "tokonkwo" not in text
    assert "Marco" not in text and "Rotili" not in text
    assert "uid=1000(<USER:" in text and "deployed by <USER:" in text
    assert "git config user.name" in text and "git config --get user.name" in text
    assert _rules(report)["user-name"] >= 10


def test_names_set_by_the_session_are_redacted(scanner):
    trajectory = _session(
        _run("c1", 'git config --global user.name "Ottilie Brandvold"', ""),
        _run(
            "c2",
            "cat ~/.gitconfig",
            "[core]\n\teditor = vim\n[user]\n\temail = o@x.org\n\tname = Ottilie Brandvold\n",
        ),
        _user("Ottilie Brandvold should be on the release notes."),
    )
    _redacted, text, _report = _redact(trajectory, scanner)
    assert "Ottilie" not in text and "Brandvold" not in text


def test_the_home_folders_owner_is_redacted_everywhere(scanner):
    trajectory = _session(
        _user("fix /Users/hkowalczyk/code/app/main.py please"),
        _run("c1", "ls", "main.py", text="Done, hkowalczyk: hkowalczyk-notes.md is untouched."),
    )
    _redacted, text, _report = _redact(trajectory, scanner)
    assert "hkowalczyk" not in text
    assert "~/code/app/main.py" in text and "Done, <USER:1>: <USER:1>-notes.md" in text


def test_a_full_name_redacts_only_its_distinctive_parts_alone(scanner):
    trajectory = _session(
        _run("c1", "git log -1", "commit 0a1b\nAuthor: Will Grant <wg@example.org>\n\n    fix\n"),
        _user("Will Grant asked for it. It will grant access once merged; Will said so."),
    )
    _redacted, text, _report = _redact(trajectory, scanner)
    assert "Will Grant" not in text
    # Both parts are common words: never redacted alone (the full name is).
    assert "It will grant access" in text and "Will said so" in text


# ---- names that are also code, the project or a common word: a decision in review -------


def test_a_login_that_is_a_package_name_never_rewrites_code(scanner):
    code = "import sqlfmt\nfrom sqlfmt.api import format_string\nsqlfmt.api.run(mode)\n"
    trajectory = _session(
        _user("Run the formatter over /home/sqlfmt/work/models/orders.sql"),
        _run("c1", "whoami", "sqlfmt\n"),
        _run("c2", "cat fmt.py", code),
        _run("c3", "ls -a ~", "/home/sqlfmt/.bashrc\n/home/sqlfmt/.config\n"),
        _run("c4", "ssh deploy", "sqlfmt@devbox:~$ exit", text="sqlfmt formatted 3 files."),
    )
    _redacted, text, report = _redact(trajectory, scanner)
    assert code.replace("\n", "\\n") in text  # every identifier as it was
    assert "sqlfmt formatted 3 files" in text  # a mention that may be the tool: review decides
    assert "~/work/models/orders.sql" in text and "~/.bashrc" in text
    assert "<USER:1>@devbox" in text and "sqlfmt@devbox" not in text
    counts = _rules(report)
    assert "user-name" not in counts and "home-path" not in counts
    # whoami output, the prompt and three home folders: all to review under one rule.
    assert counts["user-name-ambiguous"] == 5


def test_a_login_that_is_a_common_word_is_redacted_only_as_the_user(scanner):
    trajectory = _session(
        _user("I will fix the tests in /home/will/src/app, will you check them?"),
        _run("c1", "whoami", "will\n"),
        _run("c2", "ls", "app", text="will@laptop:~/src$ is your prompt; tests will pass."),
    )
    _redacted, text, report = _redact(trajectory, scanner)
    assert "I will fix the tests in ~/src/app, will you check them?" in text
    assert "<USER:1>@laptop" in text and "tests will pass" in text
    assert _rules(report) == {"user-name-ambiguous": 3}


def test_a_login_that_is_the_projects_name_never_rewrites_code(scanner):
    trajectory = _session(
        _user("Tests of orbit fail."),
        _run("c1", "git config user.name", "orbit\n"),
        _run("c2", "pytest -q", "FAILED tests/test_orbit.py::test_orbit - orbit.Error"),
        cwd="/srv/work/orbit",
    )
    _redacted, text, report = _redact(trajectory, scanner)
    assert "Tests of orbit fail." in text and "orbit.Error" in text
    assert _rules(report)["user-name-ambiguous"] == 1


def test_an_allowlisted_ambiguous_name_is_kept(scanner):
    trajectory = _session(_run("c1", "whoami", "will\n"))
    allowing = Scanner(scanner.rules, allow_hashes=[value_hash("will", KEY)], hash_key=KEY)
    _redacted, text, report = _redact(trajectory, allowing)
    assert report == [] and '"will\\n"' in text


def test_review_lists_ambiguous_names_as_their_own_rule(tmp_path, capsys, monkeypatch):
    import io

    from factories import assistant, result, saved_session, user, write_session
    from modellab.cli import main

    session = saved_session(
        [
            user("Please fix the failing test.", meta=False),
            assistant("Checking who runs this.", ("c1", "bash", {"command": "whoami"})),
            result("c1", "mark\n"),
            assistant("Done; mark@box ran it. I will mark the test as fixed."),
        ],
        session_id="names-review",
    )
    write_session(tmp_path / "s", session)
    assert main(["sessions", "import", str(tmp_path / "s")]) == 0
    export = tmp_path / "out"
    assert main(["export", "--all", "--out", str(export)]) == 0
    text = (export / "trajectories.jsonl").read_text()
    assert "I will mark the test as fixed" in text and "<USER:1>@box" in text
    lines = (export / "redaction-findings.jsonl").read_text().splitlines()
    findings = [json.loads(line) for line in lines]
    assert {f["rule"] for f in findings} >= {"user-name-ambiguous"}
    # Interactively, the group says why it is a decision and what t does.
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    main(["redact", "review", str(export)])
    assert "also the project's, a package's or a common word" in capsys.readouterr().out
    assert main(["redact", "review", str(export), "--accept-rule", "user-name-ambiguous"]) == 0


# ---- overlapping findings merge (no piece of a value left between placeholders) ----------


def test_overlapping_findings_merge_into_one_span():
    text = "owner Marco Rotili@acme.io here"
    email = Finding("email", "pii", "EMAIL", 12, 26, value_hash("Rotili@acme.io", KEY))
    name = Finding("user-name", "identity", "USER", 6, 18, value_hash("Marco Rotili", KEY))
    (merged,) = _merge(text, [email], [name], KEY)
    assert (merged.start, merged.end, merged.rule_id, merged.placeholder) == (
        6,
        26,
        "user-name",
        "USER",
    )
    assert merged.value_sha256 == value_hash("Marco Rotili@acme.io", KEY)
    # At the same start, a secret names the merged span; adjacent findings stay apart.
    secret = Finding("github-token", "secret", "SECRET", 6, 10, "x")
    assert [f.rule_id for f in _merge(text, [secret], [name], KEY)] == ["github-token"]
    apart = Finding("user-name", "identity", "USER", 26, 31, "y")
    assert len(_merge(text, [email], [apart], KEY)) == 2
    # A secret that starts later still names the span it merges into.
    later = Finding("github-token", "secret", "SECRET", 12, 30, "z")
    (merged,) = _merge(text, [name], [later], KEY)
    assert (merged.start, merged.end, merged.rule_id, merged.category) == (
        6,
        30,
        "github-token",
        "secret",
    )


def test_a_name_overlapping_another_finding_leaves_nothing_in_clear(scanner):
    trajectory = _session(
        _run("c1", "git log -1", "Author: Marco Rotili <mr@example.org>\n"),
        _user("mail Marco Rotili@acme.io about it"),
    )
    _redacted, text, _report = _redact(trajectory, scanner)
    assert "acme.io" not in text and "Rotili" not in text
    assert "mail <USER:" in text and "> about it" in text
