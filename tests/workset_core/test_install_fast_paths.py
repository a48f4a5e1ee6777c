"""The install's shortcuts are safe: each one does what the slower way did.

* uv starts early when consent is settled: with ``--accept-manifest`` naming the sha256 the
  signed index pins (or an earlier consent to that manifest and signer), the installer starts
  uv on the verified wheel while it checks the manifest and the dependencies. The failures
  below happen *after* uv started: they must stop it and leave no staging folder, no kept
  wheel and no install record.
* simple ``Requires-Dist`` values are read with ``packaging.specifiers`` alone, and installed
  versions from the metadata headers alone: both agree with the full readers.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from modellab.cli import main
from modellab.errors import InstallError
from modellab.registry import Index, RegistryRepository
from modellab.settings import Settings
from modellab.worksets import _install
from workset_core.test_install import _install as install_with_consent
from workset_core.test_install import _nothing_installed
from workset_core.test_install_attacks import _republish, _target


def _pinned_sha(publisher) -> str:
    """The manifest sha256 the index pins: what a user who read it would accept."""
    repository = RegistryRepository(publisher.registry, publisher.keys)
    (release,) = Index.from_toml(repository.target_bytes("index.toml"), "index.toml").releases
    return release.manifest_sha256


def _count_early_starts(monkeypatch) -> list[object]:
    """Record each uv job started before the manifest checks (the early path)."""
    started: list[object] = []
    real = _install._UvJob.__init__

    def spy(self, *args, **kwargs):
        started.append(args)
        real(self, *args, **kwargs)

    monkeypatch.setattr(_install._UvJob, "__init__", spy)
    return started


def _refused_after_uv_started(capsys, monkeypatch, publisher, expect: str) -> None:
    started = _count_early_starts(monkeypatch)
    code = main(["worksets", "install", "hello", "--accept-manifest", _pinned_sha(publisher)])
    err = capsys.readouterr().err
    assert code == 10, err
    assert expect in err, err
    assert started, "uv was expected to start before the manifest checks"
    _nothing_installed()
    assert not list(Settings.from_env().worksets_dir.glob(".wheels/*/*")), "a kept wheel is left"
    # The installer's own thread (named in _install._UvJob): other tests' libraries may
    # leave unrelated threads (a progress bar's monitor, say) in this process.
    uv_threads = [t for t in threading.enumerate() if t.name == "modellab-uv"]
    assert uv_threads == [], "the uv thread is still running"


def test_a_dependency_refusal_after_uv_started(publisher, capsys, monkeypatch):
    publisher.workset(dependencies=("modellab>=0.1", "pydantic<2"))
    _refused_after_uv_started(capsys, monkeypatch, publisher, "would change a core dependency")


def test_a_shipped_manifest_mismatch_after_uv_started(publisher, capsys, monkeypatch):
    publisher.workset()
    honest = _target(publisher, ".workset.toml").read_text()
    changed = honest.replace("A test workset", "Totally harmless").encode()
    _republish(publisher, {"hello-0.1.0.workset.toml": changed})
    _refused_after_uv_started(capsys, monkeypatch, publisher, "ships a workset.toml that differs")


def test_an_isolation_the_index_misstates_after_uv_started(publisher, capsys, monkeypatch):
    publisher.workset()
    _republish(publisher, {}, isolation="venv")
    _refused_after_uv_started(
        capsys, monkeypatch, publisher, "isolation 'shared', the index says 'venv'"
    )


def test_without_consent_uv_never_starts(publisher, capsys, monkeypatch):
    publisher.workset()
    monkeypatch.setattr(_install, "_UvJob", None)  # any early start would fail loudly
    monkeypatch.setattr(_install, "_install_files", None)
    assert main(["worksets", "install", "hello"]) == 10
    assert "consent needed" in capsys.readouterr().err
    _nothing_installed()
    assert not list(Settings.from_env().worksets_dir.glob(".wheels/*/*"))


def test_a_reinstall_after_consent_starts_uv_early(publisher, capsys, monkeypatch):
    publisher.workset()
    install_with_consent(capsys)
    assert main(["worksets", "remove", "hello"]) == 0
    capsys.readouterr()
    started = _count_early_starts(monkeypatch)
    assert main(["worksets", "install", "hello"]) == 0  # consented before: not asked
    assert started
    assert "Installed and enabled hello 0.1.0" in capsys.readouterr().out


def test_cancel_stops_a_running_uv(publisher, tmp_path, monkeypatch):
    fake = tmp_path / "uv"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(_install, "_uv", lambda: str(fake))
    staging = tmp_path / "staging"
    staging.mkdir()
    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    job = _install._UvJob(wheel, "0" * 64, "shared", staging)
    deadline = time.monotonic() + 10
    while job._process is None and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 5
    with pytest.raises(InstallError, match="stopped"):
        job.wait()


def test_a_damaged_kept_wheel_is_replaced(tmp_path):
    settings = Settings.from_env()
    data = b"the verified wheel"
    sha = hashlib.sha256(data).hexdigest()
    kept = settings.worksets_dir / ".wheels" / sha / "x-1.0-py3-none-any.whl"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"")  # what a crash before the data reached the disk can leave
    fresh = tmp_path / kept.name
    fresh.write_bytes(data)
    path, moved = _install._keep(fresh, sha, settings)
    assert (path, moved) == (kept, True)
    assert kept.read_bytes() == data
    again = tmp_path / "again" / kept.name
    again.parent.mkdir()
    again.write_bytes(data)
    assert _install._keep(again, sha, settings) == (kept, False)  # intact: reused


@pytest.mark.parametrize(
    "line",
    [
        "modellab>=0.1",
        "matplotlib>=3.9",
        "numpy",
        "  Foo_Bar.baz-qux  ",
        "pydantic<2",
        "pydantic >= 2.0 , < 3",
        "x==1.0.*",
        "x~=1.4.2",
        "x===weird-1",
        "x!=1.5,>=1",
        "x==1.0+local.7",
        "x>=1.0rc1",
        "x (>=1.0)",
        "x[extra]>=1",
        'x>=1; python_version < "3"',
        'x>=1; extra == "docs"',
        "x @ https://example.org/x.whl",
        "x>=1,",
        "x>=",
        "x >=1 y",
        "x,>=1",
        "-x>=1",
        "x-",
        "x>=1)",
        "",
    ],
)
def test_the_simple_requirement_reading_agrees_with_packaging(line):
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        expected = Requirement(line)
    except InvalidRequirement:
        with pytest.raises(InstallError, match="unreadable dependency"):
            _install._requirement(line)
        return
    name, specifier, applies, shown = _install._requirement(line)
    assert name == expected.name
    assert str(specifier) == str(expected.specifier)
    assert applies == (expected.marker is None or expected.marker.evaluate({"extra": ""}))
    assert shown == str(expected)


def test_simple_requirements_are_read_without_the_full_grammar():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from modellab.worksets._install import _check_dependencies\n"
        "_check_dependencies('w', ['modellab>=0.1', 'pydantic>=2,<3'])\n"
        "print('packaging.requirements' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_installed_versions_agree_with_importlib_metadata():
    from importlib import metadata

    from modellab.worksets._discovery import _name_and_version, installed_version

    checked = 0
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        assert _name_and_version(dist) == (name, dist.version)
        assert installed_version(name) == metadata.version(name)
        checked += 1
    assert checked > 20


def test_metadata_headers_stop_at_the_description_and_join_folded_lines():
    from modellab.worksets._discovery import metadata_headers

    text = (
        "Metadata-Version: 2.1\nName: x\nVersion: 1.0\nRequires-Dist: a>=1\n"
        'Requires-Dist: b;\n  python_version < "3.12"\n\nVersion: 9\nRequires-Dist: c\n'
    )
    headers = metadata_headers(text)
    assert headers["version"] == ["1.0"]
    assert headers["requires-dist"] == ["a>=1", 'b; python_version < "3.12"']


def test_offline_uv_runs_without_tls_settings(tmp_path, monkeypatch):
    seen = tmp_path / "env.txt"
    fake = tmp_path / "uv"
    fake.write_text(f'#!/bin/sh\nenv > "{seen}"\n')
    fake.chmod(0o755)
    monkeypatch.setattr(_install, "_uv", lambda: str(fake))
    monkeypatch.setenv("SSL_CERT_DIR", "/nowhere/certs")
    monkeypatch.setenv("SSL_CERT_FILE", "/nowhere/ca.pem")
    _install._run_uv(["pip", "install", "--offline", "x"])
    offline = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert "SSL_CERT_DIR" not in offline and "SSL_CERT_FILE" not in offline
    assert offline["UV_NO_PROGRESS"] == "1"
    _install._run_uv(["pip", "install", "x"])  # none is online today; one would keep them
    assert "SSL_CERT_DIR=/nowhere/certs" in seen.read_text().splitlines()


@pytest.mark.parametrize(
    "text",
    [
        "Name: x\nVersion: 1.0\n\nVersion: 2.0\n",
        "Name: x\nnot a header line\nVersion: 1.0\n",
        "Name: x\n \nVersion: 1.0\n",
        "Name: x\r\nVersion:  1.0  \r\n\r\nbody\r\n",
        "Metadata-Version: 2.1\nName: x\nSummary: a\n  folded summary\nVersion: 3\n",
        "Name x\nVersion: 1.0\n",
    ],
)
def test_metadata_headers_read_like_the_email_parser(text):
    from email.parser import HeaderParser

    from modellab.worksets._discovery import metadata_headers

    parsed = HeaderParser().parsestr(text)
    headers = metadata_headers(text)
    for field in ("Name", "Version"):
        expected = parsed.get_all(field) or []
        assert headers.get(field.lower(), []) == [v.strip() for v in expected], field


def test_the_collector_is_paused_only_during_an_install(publisher, capsys):
    import gc

    publisher.workset()
    install_with_consent(capsys)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()  # a caller's own choice is kept
    try:
        with _install._cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
