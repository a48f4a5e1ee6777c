"""Bad input gets one error line naming the flag, file or value, and a documented exit code.

Each case here once printed a Python traceback, or was accepted and broke later commands.
Every one must now end with the documented exit code (``modellab --help`` lists them), one
line saying which input is wrong (a ``hint:`` line may follow), and no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workset_core.builders import make_workset

from factories import assistant, saved_session, user, write_session
from modellab.cli import main
from modellab.cli._exit import EXIT_CODES

USAGE, REDACTION, GATE, EVAL, TRUST = 2, 7, 9, 12, 10


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; an argument error (argparse exits) counts as its exit code."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _error_line(err: str, *named: str) -> str:
    """The one line that says what is wrong; it names every string in ``named``."""
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("modellab") and "error:" in line]
    assert len(errors) == 1, err
    # Nothing else but argparse's usage lines before it, or one hint line after it.
    after = err.splitlines()[err.splitlines().index(errors[0]) + 1 :]
    assert all(line.startswith("hint: ") for line in after), err
    for name in named:
        assert name in errors[0], (name, err)
    return errors[0]


def _import_one_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = saved_session([user("Fix the add function"), assistant("Done.")], session_id="s-1")
    write_session(tmp_path / "sessions", doc)
    assert _cli(capsys, "sessions", "import", str(tmp_path / "sessions"))[0] == 0


def test_the_codes_used_here_are_documented() -> None:
    for code in (USAGE, REDACTION, GATE, EVAL, TRUST):
        assert code in EXIT_CODES


@pytest.mark.parametrize("age", ["99999999999d", "99999999999h", "99999999999w", "999999d"])
def test_since_beyond_the_calendar(age: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _cli(capsys, "capture", "--since", age)
    assert code == USAGE, err
    _error_line(err, "--since", age)
    code, err = _cli(capsys, "export", "--since", age)
    assert code == USAGE, err
    _error_line(err, "--since", age)


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01\x02\xff\xfe binary", b"\x7fELF\x02\x01\x01\x00\x00\x00", b"\x00" * 64, b"a = ["],
    ids=["not-utf8", "elf", "nul-bytes", "bad-toml"],
)
def test_export_rules_not_a_rules_file(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _import_one_session(tmp_path, capsys)
    rules = tmp_path / "rules.bin"
    rules.write_bytes(content)
    out = tmp_path / "export"
    code, err = _cli(capsys, "export", "--all", "--rules", str(rules), "--out", str(out))
    assert code == REDACTION, err
    _error_line(err, str(rules))
    assert not out.exists() or not any(out.iterdir()), "a half-written export was left"


@pytest.mark.parametrize(
    ("pyproject", "says"),
    [
        (b"\x00\x01\x02\xff\xfe\x80binary", "not UTF-8"),
        (b"\x00" * 32, "not valid TOML"),
        (b'[project]\nname = "x"\nversion = 3\n', "version must be a string"),
        (
            b'[project]\nname = "modellab-hello"\nversion = "0.1.0"\n'
            b'[project.entry-points]\n"modellab.worksets" = "oops"\n',
            "must be a table of strings",
        ),
    ],
    ids=["binary", "nul-bytes", "version-not-string", "entry-points-not-table"],
)
def test_registry_build_with_a_bad_pyproject(
    pyproject: bytes, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_workset(tmp_path / "src")
    (source / "pyproject.toml").write_bytes(pyproject)
    out = tmp_path / "dist"
    code, err = _cli(capsys, "registry", "build", str(source), "--out", str(out))
    assert code == USAGE, err
    _error_line(err, "pyproject.toml", says)
    assert not list(out.glob("*.whl"))


@pytest.mark.parametrize("jobs", ["0", "-1", "65", "100000", "99999999999999999999", "two"])
def test_jobs_is_capped(jobs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    code, err = _cli(capsys, "export", "--all", "--jobs", jobs, "--out", str(out))
    assert code == USAGE, err
    _error_line(err, "--jobs", jobs)
    assert not out.exists()


def test_jobs_cap_is_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "redaction worker processes, 1 to 64" in " ".join(capsys.readouterr().out.split())


def test_jobs_within_the_cap_still_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _import_one_session(tmp_path, capsys)
    code, err = _cli(capsys, "export", "--all", "--jobs", "2", "--out", str(tmp_path / "e"))
    assert code == 0, err


def test_eval_concurrency_is_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evals.conftest import make_export

    export = make_export(tmp_path)
    suite = tmp_path / "suite"
    assert _cli(capsys, "eval", "build", str(export), "--out", str(suite))[0] == 0
    for value in ("0", "100000"):
        code, err = _cli(
            capsys, "eval", "run", str(suite), "--model", "recorded", "--concurrency", value
        )
        assert code == USAGE, err
        _error_line(err, "--concurrency", value)


def _registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A real registry (TUF metadata signed with real keys); returns its folder."""
    keys, registry = tmp_path / "keys", tmp_path / "registry"
    assert _cli(capsys, "registry", "keys", str(keys))[0] == 0
    assert _cli(capsys, "registry", "init", str(registry), "--keys", str(keys))[0] == 0
    return registry


def _tampered_root(root: Path) -> bytes:
    data = json.loads(root.read_bytes())
    data["signed"]["version"] = 1
    data["signed"]["expires"] = "2099-01-01T00:00:00Z"
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "kind", ["binary", "not-json", "json-not-tuf", "timestamp-not-root", "signature-broken"]
)
def test_add_registry_refuses_a_root_that_is_not_tuf_root_metadata(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], isolated_env: Path
) -> None:
    registry = _registry(tmp_path, capsys)
    metadata = registry / "metadata"
    garbage = {
        "binary": lambda: b"\x00\x01\xff\xfe\x89PNG\r\n",
        "not-json": lambda: b"this is not json",
        "json-not-tuf": lambda: b'{"signed": {"_type": "root"}, "signatures": []}',
        "timestamp-not-root": lambda: (metadata / "timestamp.json").read_bytes(),
        "signature-broken": lambda: _tampered_root(metadata / "1.root.json"),
    }[kind]()
    root = tmp_path / "bad-root.json"
    root.write_bytes(garbage)
    code, err = _cli(
        capsys, "worksets", "add-registry", "local", str(registry), "--root", str(root)
    )
    assert code == TRUST, err
    _error_line(err, "--root", str(root))
    # Nothing was kept: no registry is trusted, and lookups say so instead of breaking.
    home = isolated_env / ".modellab"
    assert not (home / "registries" / "local").exists()
    code, err = _cli(capsys, "worksets", "info", "anything")
    assert "not valid TUF" not in err and "Traceback" not in err, err
    assert "neither installed nor offered by a trusted registry" in err, err
    # The registry's real root is still accepted.
    real = metadata / "1.root.json"
    argv = ("worksets", "add-registry", "local", str(registry), "--root", str(real))
    assert _cli(capsys, *argv)[0] == 0
