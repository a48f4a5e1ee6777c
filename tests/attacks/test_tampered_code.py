"""Installed workset code changed after install is never loaded (issue 12, attack 6).

A signed workset is installed through the real flow (a local registry, a pinned signing key,
``worksets install --accept-manifest``); then its installed files are edited, added to or
deleted, as malware or a careless user with write access to ``$MODELLAB_HOME`` would. Each
time the workset must be shown as tampered, its command and hooks must never run, it must
stay removable, and the finding must be in the audit log. The one change that keeps size
and mtime passes the load's fast path by design; ``worksets verify`` must catch it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from workset_core.conftest import Publisher
from workset_core.test_install import _install, _nothing_installed

from modellab.cli import main
from modellab.plugins import build_plugin_manager
from modellab.settings import Settings
from modellab.worksets._commands import read_command_index

#: Module-level code a tampering adds to the workset: proof, if it ever runs, that it did.
PAYLOAD = (
    "\nimport pathlib as _p, os as _o\n_p.Path(_o.environ['MODELLAB_HOME'], 'PWNED').touch()\n"
)


def _site(isolation: str = "shared") -> Path:
    location = Settings.from_env().worksets_dir / "hello" / "0.1.0"
    if isolation == "venv":
        (site,) = location.glob("venv/lib/python*/site-packages")
        return site
    return location / "site"


def _installed(publisher: Publisher, capsys: pytest.CaptureFixture[str], **kwargs: object) -> Path:
    publisher.workset(**kwargs)  # type: ignore[arg-type]
    _install(capsys)
    assert main(["hello"]) == 0  # loads and runs before the tampering
    isolation = str(kwargs.get("isolation", "shared"))
    if isolation == "shared":  # a venv workset prints from its own process
        assert "hello from hello 0.1.0" in capsys.readouterr().out
    return _site(isolation)


def _pwned() -> bool:
    return (Settings.from_env().home / "PWNED").exists()


def _status(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["worksets", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["worksets"]
    return dict(row)


def _assert_tampered(capsys: pytest.CaptureFixture[str], expect: str) -> None:
    """Shown as tampered, never loaded (command, hooks), audited once, removable."""
    row = _status(capsys)
    assert row["status"] == "tampered", row
    assert expect in str(row["problem"]), row
    assert main(["worksets", "info", "hello"]) == 0
    assert "hello 0.1.0: tampered" in capsys.readouterr().out
    # Its command is gone from --help's index, and cannot be run.
    settings = Settings.from_env()
    assert "hello" not in read_command_index(str(settings.worksets_dir))
    with pytest.raises(SystemExit):
        main(["hello"])
    assert "hello from" not in capsys.readouterr().out
    # Its hooks are never registered.
    manager = build_plugin_manager(settings, worksets_for="modellab_run_command")
    answers = manager.hook.modellab_run_command(command="hello", argv=[], settings=settings)
    assert answers in (None, [])
    assert "not loaded: tampered" in capsys.readouterr().err
    assert main(["worksets", "enable", "hello"]) != 0
    assert not _pwned()
    # Audited once, however often it is looked at.
    assert main(["worksets", "audit", "--json"]) == 0
    events = [e for e in json.loads(capsys.readouterr().out) if e["action"] == "workset-tampered"]
    assert len(events) == 1 and events[0]["name"] == "hello", events
    assert any(expect in d for d in events[0]["differences"]), events
    assert main(["worksets", "remove", "hello"]) == 0
    _nothing_installed()


def test_an_edited_module_is_never_loaded(publisher, capsys):
    site = _installed(publisher, capsys)
    with (site / "modellab_hello" / "plugin.py").open("a") as handle:
        handle.write(PAYLOAD)
    _assert_tampered(capsys, "changed modellab_hello/plugin.py")


@pytest.mark.parametrize(
    "added",
    ["evil.pth", "modellab_hello/extra.py", "modellab_hello/__pycache__/plugin.cpython-399.pyc"],
)
def test_an_added_file_marks_it_tampered(publisher, capsys, added):
    site = _installed(publisher, capsys)
    (site / added).parent.mkdir(parents=True, exist_ok=True)
    (site / added).write_text(f"import os{PAYLOAD}")
    _assert_tampered(capsys, f"added {added}")


def test_a_deleted_file_marks_it_tampered(publisher, capsys):
    site = _installed(publisher, capsys)
    (site / "modellab_hello" / "__init__.py").unlink()
    _assert_tampered(capsys, "missing modellab_hello/__init__.py")


def test_a_change_that_keeps_size_and_mtime_is_caught_by_verify(publisher, capsys):
    site = _installed(publisher, capsys)
    plugin = site / "modellab_hello" / "plugin.py"
    before = plugin.stat()
    text = plugin.read_text()
    forged = text.replace("hello from", "HELLO FROM")
    assert len(forged) == len(text)
    plugin.write_text(forged)
    os.utime(plugin, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _status(capsys)["status"] == "enabled"  # the load's fast path trusts mtime
    assert main(["worksets", "verify", "hello"]) == 1
    out = capsys.readouterr().out
    assert "hello 0.1.0: tampered: changed modellab_hello/plugin.py" in out, out
    _assert_tampered(capsys, "changed modellab_hello/plugin.py")


def test_verify_passes_an_untouched_install_and_a_reinstall_repairs(publisher, capsys):
    site = _installed(publisher, capsys)
    assert main(["worksets", "verify"]) == 0
    assert "hello 0.1.0: ok," in capsys.readouterr().out
    assert main(["worksets", "verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    (site / "modellab_hello" / "plugin.py").write_text(f"import os{PAYLOAD}")
    assert main(["worksets", "verify", "--json"]) == 1
    (result,) = json.loads(capsys.readouterr().out)["worksets"]
    assert result["status"] == "tampered"
    # Reinstalling the same signed release replaces the files and loads again.
    code = main(["worksets", "install", "hello"])  # consented before: no question
    assert code == 0, capsys.readouterr().err
    assert main(["worksets", "verify"]) == 0
    assert main(["hello"]) == 0
    assert "hello from hello 0.1.0" in capsys.readouterr().out
    assert not _pwned()


def test_a_venv_workset_edited_after_install_is_never_run(publisher, capsys):
    site = _installed(publisher, capsys, isolation="venv")
    with (site / "modellab_hello" / "plugin.py").open("a") as handle:
        handle.write(PAYLOAD)
    _assert_tampered(capsys, "changed")


def test_running_a_venv_workset_changes_none_of_its_files(publisher, capsys):
    _installed(publisher, capsys, isolation="venv")
    assert main(["hello"]) == 0  # its interpreter starts again: no bytecode is written
    assert main(["worksets", "verify", "hello"]) == 0, capsys.readouterr().out


def test_an_install_without_a_file_record_is_not_loaded(publisher, capsys):
    import sqlite3

    _installed(publisher, capsys)
    with sqlite3.connect(Settings.from_env().catalog_path) as db:  # as an older install left it
        db.execute("UPDATE workset_installs SET files = NULL")
    row = _status(capsys)
    assert row["status"] == "broken" and "no record of its installed files" in str(row["problem"])
    assert main(["worksets", "verify"]) == 1
    assert "no record of its installed files" in capsys.readouterr().out
    assert main(["hello"]) == 10  # still in --help's index, but never loaded
    assert "no record of its installed files" in capsys.readouterr().err
    assert main(["worksets", "remove", "hello"]) == 0


def test_a_wheel_whose_files_are_not_its_record_is_refused(publisher, capsys, tmp_path):
    """The RECORD cross-check at install: a signed wheel whose plugin.py is not the one
    its RECORD lists installs nothing, so the record every load checks against starts out
    true."""
    import zipfile

    from workset_core.builders import make_workset

    source = make_workset(tmp_path / "src", "hello")
    dist = tmp_path / "dist"
    assert main(["registry", "build", str(source), "--out", str(dist)]) == 0
    (wheel,) = dist.glob("*.whl")
    forged = tmp_path / "forged.whl"
    with zipfile.ZipFile(wheel) as original, zipfile.ZipFile(forged, "w") as out:
        for item in original.infolist():
            data = original.read(item)
            if item.filename.endswith("/plugin.py"):
                data += PAYLOAD.encode()
            out.writestr(item, data)
    forged.replace(wheel)
    assert main(["registry", "sign", str(wheel), "--key", str(publisher.signing)]) == 0
    add = ["registry", "add", str(publisher.registry), str(wheel), "--keys", str(publisher.keys)]
    assert main([*add, "--signing-key", str(publisher.signing)]) == 0
    capsys.readouterr()
    assert main(["worksets", "install", "hello"]) == 10  # prints the manifest's sha256
    sha = capsys.readouterr().out.split("manifest sha256 ")[1].split()[0]
    assert main(["worksets", "install", "hello", "--accept-manifest", sha]) == 10
    err = capsys.readouterr().err
    assert "installed modellab_hello/plugin.py differs from the hash its RECORD lists" in err, err
    _nothing_installed()
    assert not _pwned()
