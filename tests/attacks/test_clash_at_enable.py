"""``worksets enable`` re-checks command clashes: enabling never takes over a command.

Install refuses a workset whose command the core or another installed workset has. What
held at install can stop holding: the core gains a command in an upgrade, or a workset was
installed by a Model Lab that did not check. Enabling such a workset must be refused as the
install would be, naming both sides, with the trust exit code, and nothing enabled.
"""

from __future__ import annotations

import pytest
from workset_core.conftest import Publisher

from modellab.cli import _app, main
from modellab.settings import Settings
from modellab.store import Catalog
from modellab.worksets import WorksetState
from modellab.worksets import _install as install_module

from .conftest import publisher

__all__ = ["publisher"]  # the fixture, used by name

TRUST_REFUSED = 10


def _install(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Install ``name`` through the CLI, consenting to exactly its manifest."""
    capsys.readouterr()
    assert main(["worksets", "install", name, "--accept-manifest", "0" * 64]) == TRUST_REFUSED
    sha = capsys.readouterr().out.split("manifest sha256 ")[1].split()[0]
    assert main(["worksets", "install", name, "--accept-manifest", sha]) == 0
    capsys.readouterr()


def _enabled(name: str) -> bool:
    with Catalog(Settings.from_env().catalog_path) as catalog:
        record = WorksetState(catalog).install(name)
    assert record is not None
    return record.enabled


def _index() -> list[str]:
    path = Settings.from_env().worksets_dir / "commands.tsv"
    return path.read_text().splitlines() if path.exists() else []


def _refused(capsys: pytest.CaptureFixture[str], name: str) -> str:
    capsys.readouterr()
    code = main(["worksets", "enable", name])
    err = capsys.readouterr().err
    assert code == TRUST_REFUSED, err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("modellab: error:")]
    return line


def test_enabling_a_workset_whose_command_the_core_now_has(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher.workset("hello", command="tidy")
    _install("hello", capsys)
    assert main(["worksets", "disable", "hello"]) == 0
    # A core upgrade that adds a ``tidy`` command of its own.
    monkeypatch.setattr(_app, "CORE_COMMANDS", _app.CORE_COMMANDS | {"tidy"})
    line = _refused(capsys, "hello")
    assert "hello: command 'tidy' clashes with Model Lab's own command 'tidy'" in line
    assert "nothing was enabled" in line
    assert not _enabled("hello")
    assert _index() == []


def test_enabling_a_workset_whose_command_an_enabled_workset_has(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher.workset("first", command="greet")
    publisher.workset("second", command="greet")
    _install("first", capsys)
    with monkeypatch.context() as old_lab:
        # Installed by a Model Lab that did not check clashes at install.
        old_lab.setattr(install_module, "_installed_commands", lambda *args, **kwargs: {})
        _install("second", capsys)
    assert main(["worksets", "disable", "second"]) == 0
    assert [entry.split("\t")[:2] for entry in _index()] == [["greet", "first"]]
    line = _refused(capsys, "second")
    assert (
        "second: command 'greet' clashes with the command 'greet' of the enabled workset first"
        in line
    )
    assert "nothing was enabled" in line
    assert not _enabled("second")
    assert [entry.split("\t")[:2] for entry in _index()] == [["greet", "first"]]
    # Once first is disabled, its command is free: second may be enabled, and owns it.
    assert main(["worksets", "disable", "first"]) == 0
    assert main(["worksets", "enable", "second"]) == 0
    assert [entry.split("\t")[:2] for entry in _index()] == [["greet", "second"]]
