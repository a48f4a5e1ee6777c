"""A workset that declares no network egress runs with none (issue 12, attack 2).

A signed ``venv`` workset is installed through the real flow (a local registry, a pinned
signing key, ``worksets install --accept-manifest``). Its command and its ``modellab_train``
hook try to connect to a real listener on 127.0.0.1 in this test process, send it a
"secret", and write a file outside the workset's folder; they report what happened in a
JSON file. With ``network_egress = []`` the connection must fail in the kernel and the
listener must count nothing. A control that declares egress to 127.0.0.1 (not enforced in
this step) shows the listener really counts a connection. Where this machine cannot create
network namespaces the workset still runs, the install says so, and every run is in the
audit log.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workset_core.builders import MANIFEST, make_workset
from workset_core.conftest import Publisher

from modellab.cli import main
from modellab.plugins import build_plugin_manager
from modellab.settings import Settings
from modellab.worksets import _sandbox

PLUGIN = """\
import errno
import json
import socket
from pathlib import Path

from modellab.plugins.hookspecs import hookimpl


def _try(port, outside):
    found = {"interfaces": [name for _, name in socket.if_nameindex()]}
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"the installation's redaction key")
        found["connect"] = "connected"
    except OSError as exc:
        found["connect"] = errno.errorcode.get(exc.errno or 0, str(exc))
    try:
        Path(outside).write_text("written by a workset")
        found["write"] = "written"
    except OSError as exc:
        found["write"] = errno.errorcode.get(exc.errno or 0, str(exc))
    return found


class _Plugin:
    @hookimpl
    def modellab_run_command(self, command, argv, settings):
        port, report, outside = int(argv[0]), Path(argv[1]), argv[2]
        report.write_text(json.dumps(_try(port, outside)))
        return 0

    @hookimpl
    def modellab_train(self, job, dataset_dir, settings):
        return _try(job["port"], job["outside"])


plugin = _Plugin()
"""


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            conn.close()

    def counted(self, wait: float = 2.0) -> int:
        """The connections accepted so far, waiting up to ``wait`` s for one to show."""
        deadline = time.monotonic() + wait
        while self.count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.count

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fresh_probe() -> Iterator[None]:
    _sandbox.reset_probe()
    yield
    _sandbox.reset_probe()


def _needs_namespaces() -> None:
    how = _sandbox.no_network()
    if not how.enforced:
        pytest.skip(f"network namespaces cannot be created on this machine: {how.reason}")


def _install_spy(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], egress: str = "[]"
) -> str:
    """Publish and install the ``spy`` venv workset; returns the install's stderr."""
    manifest = MANIFEST.format(name="spy", version="0.1.0", isolation="venv", command="spy")
    manifest = manifest.replace(
        'implements = ["modellab_run_command"]',
        'implements = ["modellab_run_command", "modellab_train"]',
    )
    manifest = manifest.replace("network_egress = []", f"network_egress = {egress}")
    source = make_workset(publisher.root / "sources", "spy", isolation="venv", manifest=manifest)
    (source / "src" / "modellab_spy" / "plugin.py").write_text(PLUGIN)
    publisher.publish(source)
    capsys.readouterr()
    assert main(["worksets", "install", "spy"]) == 10  # no consent yet
    screen = capsys.readouterr().out
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", screen)
    assert found
    # What this system will not enforce is on the consent screen itself, before the question.
    if egress != "[]":
        assert "NOT ENFORCED" in screen and "not enforced yet" in screen
    assert main(["worksets", "install", "spy", "--accept-manifest", found.group(1)]) == 0
    return capsys.readouterr().err


def _run_command(listener: Listener, tmp_path: Path) -> dict[str, Any]:
    report, outside = tmp_path / "report.json", tmp_path / "outside.txt"
    assert main(["spy", str(listener.port), str(report), str(outside)]) == 0
    return dict(json.loads(report.read_text()))


def _run_hook(listener: Listener, tmp_path: Path) -> dict[str, Any]:
    settings = Settings.from_env()
    manager = build_plugin_manager(settings, worksets_for="modellab_train")
    job = {"port": listener.port, "outside": str(tmp_path / "outside-hook.txt")}
    result = manager.hook.modellab_train(job=job, dataset_dir=tmp_path, settings=settings)
    return dict(result)


def _unconfined_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["worksets", "audit", "--json"]) == 0
    events = json.loads(capsys.readouterr().out)
    return [e for e in events if e["action"] == "workset-unconfined"]


def test_no_egress_means_no_network_for_commands_and_hooks(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], listener: Listener, tmp_path: Path
) -> None:
    _needs_namespaces()
    err = _install_spy(publisher, capsys)
    assert "cannot cut it off" not in err  # enforced here: nothing to warn about

    command = _run_command(listener, tmp_path)
    assert command["connect"] in {"ENETUNREACH", "EACCES", "EPERM", "ECONNREFUSED"}, command
    assert command["interfaces"] == ["lo"]  # an empty namespace, not the host's
    hook = _run_hook(listener, tmp_path)
    assert hook["connect"] in {"ENETUNREACH", "EACCES", "EPERM", "ECONNREFUSED"}, hook
    assert listener.counted(wait=0.5) == 0  # nothing reached the listener
    assert _unconfined_events(capsys) == []  # enforced: no "ran unconfined" entry


def test_control_a_workset_declaring_egress_does_reach_the_listener(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], listener: Listener, tmp_path: Path
) -> None:
    # Proves the listener counts a real connection, so the zero above means something.
    # Declared hosts are not enforced in this step (next: the allow-list proxy), and the
    # install says so.
    err = _install_spy(publisher, capsys, egress='[{host = "127.0.0.1", commands = ["spy"]}]')
    assert "declares network hosts: they are not enforced yet" in err
    assert _run_command(listener, tmp_path)["connect"] == "connected"
    assert listener.counted() == 1


def test_where_namespaces_cannot_be_made_it_runs_says_so_and_is_audited(
    publisher: Publisher,
    capsys: pytest.CaptureFixture[str],
    listener: Listener,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on macOS, Windows or a container without user namespaces.
    monkeypatch.setattr(_sandbox, "_probe", lambda: _sandbox.NoNetwork((), "pretend: no netns"))
    err = _install_spy(publisher, capsys)
    assert "spy declares no network, but this system cannot cut it off (pretend: no netns)" in (
        " ".join(err.split())
    )

    assert _run_command(listener, tmp_path)["connect"] == "connected"
    assert _run_hook(listener, tmp_path)["connect"] == "connected"
    assert listener.counted() >= 1
    events = _unconfined_events(capsys)
    assert [(e["name"], e["call"], e["reason"]) for e in events] == [
        ("spy", "spy", "pretend: no netns"),
        ("spy", "modellab_train", "pretend: no netns"),
    ]


@pytest.mark.xfail(strict=True, reason="writes are not confined yet (Landlock: the next step)")
def test_writes_outside_the_worksets_folder_are_refused(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], listener: Listener, tmp_path: Path
) -> None:
    _needs_namespaces()
    _install_spy(publisher, capsys)
    assert _run_command(listener, tmp_path)["write"] != "written"
