"""Installing worksets through the full flow, with real TUF, real signatures and real uv."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import pytest

from modellab.cli import main
from modellab.settings import Settings


def _manifest_sha(capsys, name="hello", *extra):
    """Run an install without consent and read the manifest sha256 it printed."""
    assert main(["worksets", "install", name, *extra]) == 10
    captured = capsys.readouterr()
    assert "consent needed" in captured.err and "nothing was installed" in captured.err
    return re.search(r"manifest sha256 ([0-9a-f]{64})", captured.out).group(1)


def _install(capsys, name="hello", *extra):
    sha = _manifest_sha(capsys, name, *extra)
    assert main(["worksets", "install", name, *extra, "--accept-manifest", sha]) == 0
    return sha, capsys.readouterr().out


def _run(*argv):
    result = subprocess.run(
        [sys.executable, "-m", "modellab", *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def _listed(capsys):
    assert main(["worksets", "list", "--json"]) == 0
    return {w["name"]: w for w in json.loads(capsys.readouterr().out)["worksets"]}


def _nothing_installed(name="hello"):
    settings = Settings.from_env()
    assert not (settings.worksets_dir / name).exists()
    assert not list(settings.worksets_dir.glob(".staging-*"))
    db = sqlite3.connect(settings.catalog_path)
    assert db.execute("SELECT count(*) FROM workset_installs").fetchone() == (0,)


def test_install_run_disable_enable_remove(publisher, capsys):
    publisher.workset()
    sha, out = _install(capsys)
    assert "Signature verified: pinned key" in out and "Installed and enabled hello 0.1.0" in out
    assert main(["hello", "from", "a", "test"]) == 0
    assert "hello from hello 0.1.0 from a test" in capsys.readouterr().out
    # --help lists the command from the index; --no-worksets drops it.
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "say hello from hello [workset hello]" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--no-worksets", "hello"])
    assert "invalid choice: 'hello'" in capsys.readouterr().err
    listed = _listed(capsys)["hello"]
    assert (listed["status"], listed["version"]) == ("enabled", "0.1.0")
    assert listed["trust"].startswith("pinned key ")
    assert main(["worksets", "info", "hello", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["manifest_sha256"] == sha and info["manifest"]["workset"]["license"] == "Apache-2.0"
    assert main(["worksets", "disable", "hello"]) == 0
    with pytest.raises(SystemExit):
        main(["hello"])  # no longer a command
    assert main(["worksets", "enable", "hello"]) == 0
    assert main(["worksets", "remove", "hello"]) == 0
    _nothing_installed()
    capsys.readouterr()
    assert main(["worksets", "audit", "--json"]) == 0
    # Each run's confinement records (workset-confined and the like) are the sandbox's own
    # tests' concern: this one checks the install's life cycle.
    actions = [
        e["action"]
        for e in json.loads(capsys.readouterr().out)
        if e["action"] not in {"workset-confined", "workset-refused", "workset-unconfined"}
    ]
    assert actions == [
        "registry-add",
        "workset-install-start",
        "workset-consent",
        "workset-install",
        "workset-disable",
        "workset-enable",
        "workset-remove-start",
        "workset-remove",
    ]


def test_consent_must_name_the_exact_manifest(publisher, capsys):
    publisher.workset()
    sha = _manifest_sha(capsys)
    wrong = "0" * 64
    assert main(["worksets", "install", "hello", "--accept-manifest", wrong]) == 10
    assert f"--accept-manifest {wrong} does not match" in capsys.readouterr().err
    _nothing_installed()
    assert main(["worksets", "install", "hello==0.1.0", "--accept-manifest", sha]) == 0


def test_an_upgrade_with_a_new_manifest_asks_again(publisher, capsys):
    publisher.workset()
    _install(capsys)
    publisher.workset(version="0.2.0")
    assert main(["worksets", "upgrade", "hello"]) == 10  # new manifest: consent again
    assert "consent needed" in capsys.readouterr().err
    assert _listed(capsys)["hello"]["version"] == "0.1.0"  # the old one still works
    assert main(["hello"]) == 0
    sha = re.search(r"manifest sha256 ([0-9a-f]{64})", _upgrade_output(capsys)).group(1)
    assert main(["worksets", "upgrade", "hello", "--accept-manifest", sha]) == 0
    assert "Installed and enabled hello 0.2.0 (was 0.1.0)" in capsys.readouterr().out
    settings = Settings.from_env()
    # The old version is gone; the workset's data folder (kept across upgrades) may stay.
    left = sorted(p.name for p in (settings.worksets_dir / "hello").iterdir())
    assert left in (["0.2.0"], ["0.2.0", "data"])
    # A fresh process, as every real command is (this one already imported 0.1.0).
    assert "hello from hello 0.2.0" in _run("hello").stdout


def _upgrade_output(capsys):
    main(["worksets", "upgrade", "hello"])
    return capsys.readouterr().out


def test_a_workset_that_crashes_on_import_is_reported_and_removable(publisher, capsys):
    publisher.workset(preamble="raise RuntimeError('boom at import')")
    _install(capsys)  # installing never imports workset code
    assert main(["hello"]) == 1
    assert "import failed: RuntimeError: boom at import" in capsys.readouterr().err
    assert _listed(capsys)["hello"]["status"] == "enabled"  # listing never imports it
    assert main(["worksets", "disable", "hello"]) == 0
    assert main(["worksets", "remove", "hello"]) == 0
    _nothing_installed()


def test_venv_isolation_runs_the_workset_in_its_own_environment(publisher, capsys):
    publisher.workset("iso", isolation="venv")
    _install(capsys, "iso")
    settings = Settings.from_env()
    assert list(
        (settings.worksets_dir / "iso" / "0.1.0" / "venv").glob("lib/python*/site-packages")
    )
    assert "hello from iso 0.1.0 ok" in _run("iso", "ok").stdout


def test_list_available_refreshes_the_registries(publisher, capsys):
    publisher.workset()
    publisher.workset("other")
    capsys.readouterr()
    listed = _listed(capsys)
    assert listed == {}  # nothing installed, and no network without --available
    assert main(["worksets", "list", "--available", "--json"]) == 0
    rows = {w["name"]: w for w in json.loads(capsys.readouterr().out)["worksets"]}
    # The shipped official index's rows come too (tests/registry/test_official_cli.py).
    rows = {n: r for n, r in rows.items() if r["registry"] != "official"}
    assert {(n, r["status"], r["version"]) for n, r in rows.items()} == {
        ("hello", "available", "0.1.0"),
        ("other", "available", "0.1.0"),
    }
    assert rows["hello"]["trust"].startswith("pinned key")
    _install(capsys)
    publisher.workset(version="0.2.0")
    capsys.readouterr()
    assert main(["worksets", "list", "--available", "--json"]) == 0
    rows = {w["name"]: w for w in json.loads(capsys.readouterr().out)["worksets"]}
    assert rows["hello"]["status"] == "enabled"
    assert rows["hello"]["problem"] == "0.2.0 available from local"


def test_hooks_never_load_when_the_installed_manifest_is_not_the_consented_one(publisher, capsys):
    publisher.workset()
    _install(capsys)
    settings = Settings.from_env()
    (shipped,) = (settings.worksets_dir / "hello").rglob("workset.toml")
    shipped.write_text(shipped.read_text().replace('telemetry = "off"', 'telemetry = "opt-in"'))
    assert main(["hello"]) == 10
    # Caught by the installed-files check first (tests/attacks/test_tampered_code.py).
    assert "tampered: changed modellab_hello/workset.toml" in capsys.readouterr().err
    listed = _listed(capsys)["hello"]
    assert listed["status"] == "tampered" and "workset.toml" in listed["problem"]
    assert main(["worksets", "enable", "hello"]) == 10  # cannot be re-enabled either
    assert main(["worksets", "remove", "hello"]) == 0


def test_install_json_keeps_stdout_machine_readable(publisher, capsys):
    publisher.workset()
    sha = _manifest_sha(capsys)
    assert main(["worksets", "install", "hello", "--accept-manifest", sha, "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # the manifest went to stderr
    assert (result["name"], result["version"], result["manifest_sha256"]) == ("hello", "0.1.0", sha)
    assert f"manifest sha256 {sha}" in captured.err


def test_info_shows_an_offered_workset_before_install(publisher, capsys):
    publisher.workset()
    capsys.readouterr()
    assert main(["worksets", "info", "hello"]) == 0
    out = capsys.readouterr().out
    assert "hello 0.1.0: available" in out and "telemetry       off" in out
    assert "signed by       pinned key" in out
    assert main(["worksets", "info", "nothing-like-it"]) == 2
    assert "neither installed nor offered" in capsys.readouterr().err
    _nothing_installed()
