"""A workset's child reaches only the files its manifest and the call give it (issue 12, 3).

A signed ``venv`` workset is installed through the real flow (a local registry, a pinned
signing key, ``worksets install --accept-manifest``). Its command, run as ``modellab thief
--report FILE``, tries what a malicious workset would: read the redaction key, the catalog
(it did not declare ``reads_catalog``), another workset's folder and a ``~/.ssh`` key under
the (fake) home; write outside its folder and to an output it was not given; escape through
a symlink it plants in its own data folder; bind a TCP port although it declares no network.
Each is refused by the kernel (Landlock), and the audit log records the run's policy and
the attempts. Controls: the declared ``--report`` output and its own data folder are written.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from workset_core.builders import MANIFEST, make_workset
from workset_core.conftest import Publisher

from modellab.cli import main
from modellab.importing import run_import
from modellab.settings import Settings
from modellab.worksets import _sandbox

PLUGIN = """\
import errno
import json
import os
import socket
from pathlib import Path

from modellab.plugins.hookspecs import hookimpl


def _read(path):
    try:
        Path(path).read_bytes()
        return "read"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))


def _write(path):
    try:
        Path(path).write_text("written by a workset")
        return "written"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        args = dict(zip(argv[::2], argv[1::2]))
        data = Path(os.environ["MODELLAB_WORKSET_DATA"])
        link = data / "escape"
        if not link.is_symlink():
            link.symlink_to(args["--outside"])
        found = {
            "key": _read(settings.redaction_key_path),
            "catalog": _read(settings.catalog_path),
            "other": _read(args["--other"]),
            "ssh": _read(Path.home() / ".ssh" / "id_ed25519"),
            "outside": _write(args["--outside"]),
            "not_given": _write(args["--not-given"]),
            "symlink": _write(link),
            "own_data": _write(data / "notes.txt"),
            "tmp": _write(Path(os.environ["TMPDIR"]) / "scratch.txt"),
        }
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
            found["bind"] = "bound"
        except OSError as exc:
            found["bind"] = errno.errorcode.get(exc.errno or 0, str(exc))
        Path(args["--report"]).write_text(json.dumps(found))
        return 0


plugin = _Plugin()
"""

REFUSED = {"EACCES", "EPERM"}


@pytest.fixture(autouse=True)
def fresh_probe() -> Any:
    _sandbox.reset_probe()
    yield
    _sandbox.reset_probe()


def _needs_landlock() -> None:
    abi, why_not = _sandbox.files_confinement()
    if not abi:
        pytest.skip(f"no Landlock here: {why_not}")


def _install_thief(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], isolation: str = "venv"
) -> str:
    """Publish and install the ``thief`` workset; returns the consent screen."""
    manifest = MANIFEST.format(name="thief", version="0.1.0", isolation=isolation, command="thief")
    manifest = manifest.replace(
        'summary = "say hello from thief"',
        'summary = "say hello from thief"\noutputs = ["--report"]',
    )
    source = make_workset(
        publisher.root / "sources", "thief", isolation=isolation, manifest=manifest
    )
    (source / "src" / "modellab_thief" / "plugin.py").write_text(PLUGIN)
    publisher.publish(source)
    capsys.readouterr()
    assert main(["worksets", "install", "thief"]) == 10  # no consent yet
    screen = capsys.readouterr().out
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", screen)
    assert found
    assert main(["worksets", "install", "thief", "--accept-manifest", found.group(1)]) == 0
    capsys.readouterr()
    return screen


def _plant(tmp_path: Path) -> dict[str, Path]:
    """Files the thief is after, none of them given to it."""
    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.redaction_key_path.write_bytes(b"k" * 32)
    other = settings.worksets_dir / "other" / "0.1.0" / "secret.txt"
    other.parent.mkdir(parents=True)
    other.write_text("another workset's file")
    ssh = Path.home() / ".ssh" / "id_ed25519"
    ssh.parent.mkdir()
    ssh.write_text("not a real key")
    out = tmp_path / "out"
    out.mkdir()
    return {
        "other": other,
        "report": out / "report.json",
        "outside": tmp_path / "outside.txt",
        "not_given": out / "not-given.txt",
    }


def _audit(capsys: pytest.CaptureFixture[str], action: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["worksets", "audit", "--json"]) == 0
    return [e for e in json.loads(capsys.readouterr().out) if e["action"] == action]


@pytest.mark.parametrize("isolation", ["venv", "shared"])
def test_a_workset_reaches_only_its_own_folder_and_declared_outputs(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], tmp_path: Path, isolation: str
) -> None:
    # A "shared" workset runs under the core's own interpreter, in a child confined the same.
    _needs_landlock()
    screen = _install_thief(publisher, capsys, isolation)
    assert "thief (writes the path given to --report)" in screen
    assert "cannot read your catalog" in screen
    paths = _plant(tmp_path)
    argv = ["thief", "--report", str(paths["report"]), "--other", str(paths["other"])]
    argv += ["--outside", str(paths["outside"]), "--not-given", str(paths["not_given"])]
    assert main(argv) == 0

    found = json.loads(paths["report"].read_text())  # the control: the declared output
    for attack in ("key", "catalog", "other", "ssh", "outside", "not_given", "symlink"):
        assert found[attack] in REFUSED, (attack, found)
    assert found["bind"] in REFUSED, found  # no network declared: no TCP bind either
    assert not paths["outside"].exists() and not paths["not_given"].exists()
    # Controls: its own data folder and its private temporary folder are writable.
    assert found["own_data"] == "written" and found["tmp"] == "written"
    data = _sandbox.data_dir(Settings.from_env(), "thief")
    assert (data / "notes.txt").read_text() == "written by a workset"

    runs = _audit(capsys, "workset-confined")
    assert [(r["name"], r["call"]) for r in runs] == [("thief", "thief")]
    assert runs[0]["writes"] == [str(paths["report"])]
    assert runs[0]["network"] == "none" and runs[0]["reads_catalog"] is False
    assert runs[0]["enforced"]["files"].startswith("landlock ABI")
    assert _audit(capsys, "workset-unconfined") == []
    refused = _audit(capsys, "workset-refused")
    targets = {(e["kind"], e["target"]) for e in refused}
    assert ("read", str(Settings.from_env().redaction_key_path)) in targets
    assert ("read", str(paths["other"])) in targets
    assert ("write", str(paths["outside"])) in targets
    assert ("write", str(paths["not_given"])) in targets
    assert ("bind", "127.0.0.1:0") in targets


def test_an_output_in_modellab_home_is_refused_before_the_workset_starts(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _install_thief(publisher, capsys)
    catalog = Settings.from_env().catalog_path
    assert main(["thief", "--report", str(catalog)]) == 2
    assert "--report" in capsys.readouterr().err
    assert _audit(capsys, "workset-confined") == []  # nothing started


READER = """\
import json
import sqlite3
from pathlib import Path

from modellab.plugins.hookspecs import hookimpl


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        found = {}
        uri = f"file:{settings.catalog_path}?mode=ro"
        try:
            with sqlite3.connect(uri, uri=True) as db:
                found["sessions"] = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
            try:
                with sqlite3.connect(uri, uri=True) as db:
                    db.execute("DELETE FROM sessions")
                found["delete"] = "deleted"
            except sqlite3.Error as exc:
                found["delete"] = str(exc)
        except sqlite3.Error as exc:
            found["sessions"] = str(exc)
        try:  # the core's own class: the kernel keeps it read-only too
            from modellab.store import Catalog

            with Catalog(settings.catalog_path) as catalog, catalog.transaction() as db:
                catalog.audit(db, "forged", {})
            found["catalog_write"] = "written"
        except Exception as exc:
            found["catalog_write"] = type(exc).__name__
        try:
            settings.redaction_key_path.read_bytes()
            found["key"] = "read"
        except OSError as exc:
            found["key"] = exc.__class__.__name__
        Path(argv[argv.index("--report") + 1]).write_text(json.dumps(found))
        return 0


plugin = _Plugin()
"""


def _install_reader(publisher: Publisher, capsys: pytest.CaptureFixture[str]) -> str:
    manifest = MANIFEST.format(name="reader", version="0.1.0", isolation="venv", command="reader")
    manifest = manifest.replace(
        "network_egress = []", "network_egress = []\nreads_catalog = true"
    ).replace('summary = "say hello from reader"', 'summary = "x"\noutputs = ["--report"]')
    source = make_workset(publisher.root / "sources", "reader", isolation="venv", manifest=manifest)
    (source / "src" / "modellab_reader" / "plugin.py").write_text(READER)
    publisher.publish(source)
    capsys.readouterr()
    assert main(["worksets", "install", "reader"]) == 10
    screen = capsys.readouterr().out
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", screen)
    assert found
    assert main(["worksets", "install", "reader", "--accept-manifest", found.group(1)]) == 0
    capsys.readouterr()
    return screen


def test_a_workset_that_declares_reads_catalog_reads_it_read_only(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], tmp_path: Path, shared: Path
) -> None:
    _needs_landlock()
    if not _sandbox.no_network().enforced:
        pytest.skip("network namespaces cannot be created here (covered below)")
    settings = Settings.from_env()
    streams = sorted((shared / "fixtures" / "codewhale" / "conformance").glob("*.golden.jsonl"))
    assert not run_import(settings, streams).failed  # a real catalog, in WAL mode
    screen = _install_reader(publisher, capsys)
    assert "READS your catalog" in screen
    settings.redaction_key_path.write_bytes(b"k" * 32)
    report = tmp_path / "report.json"
    assert main(["reader", "--report", str(report)]) == 0
    found = json.loads(report.read_text())
    assert found["sessions"] == len(streams)  # it reads the real sessions, read-only
    assert "readonly" in found["delete"]
    assert found["catalog_write"] != "written"
    assert _audit(capsys, "forged") == []
    assert found["key"] == "PermissionError"  # the catalog only, not the rest of the home
    (run,) = _audit(capsys, "workset-confined")
    assert run["reads_catalog"] is True and run["enforced"]["network"] == "network namespace"
    # Only what it tried beyond its policy is noted: its start-up and imports are not.
    refused = {(e["kind"], e["target"]) for e in _audit(capsys, "workset-refused")}
    assert refused == {("read", str(settings.redaction_key_path))}


def test_reads_catalog_is_refused_where_the_network_cannot_be_cut_off(
    publisher: Publisher,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on macOS, Windows or a container without user namespaces.
    monkeypatch.setattr(_sandbox, "_probe", lambda: _sandbox.NoNetwork((), "pretend: no netns"))
    screen = " ".join(_install_reader(publisher, capsys).split())
    assert "reads your raw sessions and this system cannot cut it off the network" in screen
    report = tmp_path / "report.json"
    assert main(["reader", "--report", str(report)]) == 10
    err = capsys.readouterr().err
    assert "reads your raw sessions" in err and "pretend: no netns" in err
    assert not report.exists()  # never started
    assert _audit(capsys, "workset-confined") == []


def test_a_manifest_that_reads_the_catalog_and_declares_egress_is_refused(
    publisher: Publisher, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = MANIFEST.format(name="leaky", version="0.1.0", isolation="venv", command="leaky")
    manifest = manifest.replace(
        "network_egress = []",
        'network_egress = [{host = "example.org", commands = ["leaky"]}]\nreads_catalog = true',
    )
    source = make_workset(publisher.root / "sources", "leaky", isolation="venv", manifest=manifest)
    dist = publisher.root / "dist-leaky"
    assert main(["registry", "build", str(source), "--out", str(dist)]) == 10
    assert "reads_catalog: a workset that reads the catalog" in capsys.readouterr().err


CALLER = """\
import errno
import json
import socket
import urllib.request
from pathlib import Path

from modellab.plugins.hookspecs import hookimpl


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        args = dict(zip(argv[::2], argv[1::2]))
        found = {}
        for name, port in (("declared", args["--declared"]), ("other", args["--other"])):
            try:  # through the proxy the core gave it (HTTP_PROXY)
                url = f"http://127.0.0.1:{port}/"
                with urllib.request.urlopen(url, timeout=10) as answer:
                    found[name] = answer.read().decode()
            except Exception as exc:
                found[name] = type(exc).__name__
        try:  # around the proxy, straight to the declared server
            with socket.create_connection(("127.0.0.1", int(args["--declared"])), timeout=5):
                found["direct"] = "connected"
        except OSError as exc:
            found["direct"] = errno.errorcode.get(exc.errno or 0, str(exc))
        Path(args["--report"]).write_text(json.dumps(found))
        return 0


plugin = _Plugin()
"""


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the declared host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Any:
    started = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello) for _ in range(2)]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [int(server.server_address[1]) for server in started]
    for server in started:
        server.shutdown()
        server.server_close()


def test_a_workset_declaring_a_host_reaches_it_only_through_the_proxy(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], tmp_path: Path, servers: list[int]
) -> None:
    _needs_landlock()
    if not _sandbox.no_network().enforced:
        pytest.skip("network namespaces cannot be created here")
    declared, other = servers
    manifest = MANIFEST.format(name="caller", version="0.1.0", isolation="venv", command="caller")
    manifest = manifest.replace(
        "network_egress = []",
        f'network_egress = [{{host = "127.0.0.1:{declared}", commands = ["caller"]}}]',
    ).replace('summary = "say hello from caller"', 'summary = "x"\noutputs = ["--report"]')
    source = make_workset(publisher.root / "sources", "caller", isolation="venv", manifest=manifest)
    (source / "src" / "modellab_caller" / "plugin.py").write_text(CALLER)
    publisher.publish(source)
    capsys.readouterr()
    assert main(["worksets", "install", "caller"]) == 10
    screen = capsys.readouterr().out
    assert "NOT ENFORCED" not in screen  # held to its hosts here: nothing to warn about
    found_hash = re.search(r"manifest sha256 ([0-9a-f]{64})", screen)
    assert found_hash
    assert main(["worksets", "install", "caller", "--accept-manifest", found_hash.group(1)]) == 0
    report = tmp_path / "report.json"
    argv = ["caller", "--report", str(report), "--declared", str(declared)]
    assert main([*argv, "--other", str(other)]) == 0

    found = json.loads(report.read_text())
    assert found["declared"] == "hello from the declared host"
    assert found["other"] != "hello from the declared host"  # undeclared port: refused
    assert found["direct"] in {"ENETUNREACH", "EACCES", "EPERM", "ECONNREFUSED"}, found
    events = _audit(capsys, "workset-egress")
    decisions = {(e.get("port"), e.get("decision")) for e in events}
    assert (declared, "allow") in decisions and (other, "deny") in decisions, events
    (run,) = _audit(capsys, "workset-confined")
    assert "allow-list proxy" in run["enforced"]["network"]
