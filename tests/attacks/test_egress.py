"""A workset that declares no network egress runs with none (issue 12, attack 2).

A signed ``venv`` workset is installed through the real flow (a local registry, a pinned
signing key, ``worksets install --accept-manifest``). Its command and the trainer it
registers (``modellab_register_trainers``, called by name) try to connect to a real
listener on 127.0.0.1 in this test process, send it a "secret", and write a file outside
the workset's folder; they report what happened in a JSON file. With
``network_egress = []`` the connection must fail in the kernel and the listener must count
nothing; one that declares the listener reaches it only through the allow-list proxy,
never directly. Where this machine cannot create network namespaces the workset still
runs, the install says so, and every run is in the audit log: that test is also the
control that the listener really counts a connection.
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
from modellab.plugins.hookspecs import ApprovalRecord, TrainRequest, TrainResult
from modellab.settings import Settings
from modellab.worksets import _sandbox
from modellab.worksets._backends import call_named

PLUGIN = """\
import errno
import json
import socket
from pathlib import Path

from modellab.plugins.hookspecs import BackendDescriptor, TrainResult, hookimpl


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
    def modellab_register_trainers(self, register):
        def train(request):
            found = _try(int(request.hyperparameters["port"]), request.hyperparameters["outside"])
            (request.output_dir / "report.json").write_text(json.dumps(found))
            return TrainResult(output_dir=request.output_dir)

        register(BackendDescriptor(name="spy-trainer", summary="tries the network"), train)


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
    publisher: Publisher,
    capsys: pytest.CaptureFixture[str],
    egress: str = "[]",
    *,
    hook: bool = True,
) -> str:
    """Publish and install the ``spy`` venv workset; returns the install's stderr."""
    manifest = MANIFEST.format(name="spy", version="0.1.0", isolation="venv", command="spy")
    if hook:
        manifest = manifest.replace(
            'implements = ["modellab_run_command"]',
            'implements = ["modellab_run_command", "modellab_register_trainers"]',
        )
    manifest = manifest.replace("network_egress = []", f"network_egress = {egress}")
    source = make_workset(publisher.root / "sources", "spy", isolation="venv", manifest=manifest)
    registers = "    @hookimpl\n    def modellab_register_trainers"
    plugin = PLUGIN if hook else PLUGIN.split(registers)[0]
    (source / "src" / "modellab_spy" / "plugin.py").write_text(
        plugin if hook else plugin + "\n\nplugin = _Plugin()\n"
    )
    publisher.publish(source)
    capsys.readouterr()
    assert main(["worksets", "install", "spy"]) == 10  # no consent yet
    screen = capsys.readouterr().out
    found = re.search(r"manifest sha256 ([0-9a-f]{64})", screen)
    assert found
    # What this system will not enforce is on the consent screen itself, before the question.
    if egress != "[]" and not _sandbox.no_network().enforced:
        assert "NOT ENFORCED" in screen and "cannot hold it to them" in screen
    assert main(["worksets", "install", "spy", "--accept-manifest", found.group(1)]) == 0
    return capsys.readouterr().err


def _run_command(listener: Listener, tmp_path: Path) -> dict[str, Any]:
    # The report goes to the workset's own data folder: the one place it may write to
    # unasked (its files are confined where Landlock is available).
    report = _sandbox.data_dir(Settings.from_env(), "spy") / "report.json"
    outside = tmp_path / "outside.txt"
    assert main(["spy", str(listener.port), str(report), str(outside)]) == 0
    return dict(json.loads(report.read_text()))


def _run_hook(listener: Listener, tmp_path: Path) -> dict[str, Any]:
    settings = Settings.from_env()
    out = tmp_path / "trained"
    request = TrainRequest(
        backend="spy-trainer",
        base_model="m",
        method="lora",
        dataset_dir=tmp_path,
        approval=ApprovalRecord(
            export_dir=tmp_path,
            approved_at="2026-12-07T20:00:00Z",
            catalog_id="c",
            files_sha256="0" * 64,
            files={},
        ),
        output_dir=out,
        hyperparameters={"port": listener.port, "outside": str(tmp_path / "outside-hook.txt")},
    )
    call_named(settings, "modellab_register_trainers", "spy-trainer", request, TrainResult)
    return dict(json.loads((out / "report.json").read_text()))


def _audit_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["worksets", "audit", "--json"]) == 0
    return list(json.loads(capsys.readouterr().out))


def _unconfined_events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [e for e in _audit_events(capsys) if e["action"] == "workset-unconfined"]


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


def test_a_workset_declaring_the_listener_cannot_reach_it_around_the_proxy(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], listener: Listener, tmp_path: Path
) -> None:
    # Declared hosts are reached only through the allow-list proxy (its own attack tests:
    # test_confinement.py, test_declared_egress.py): a direct connection, even to the very
    # host and port declared, finds no route. The next test is the control that the
    # listener counts a real connection.
    _needs_namespaces()
    egress = f'[{{host = "127.0.0.1:{listener.port}", commands = ["spy"]}}]'
    err = _install_spy(publisher, capsys, egress=egress, hook=False)
    assert "cannot hold it to them" not in err
    found = _run_command(listener, tmp_path)
    assert found["connect"] in {"ENETUNREACH", "EACCES", "EPERM", "ECONNREFUSED"}, found
    assert listener.counted(wait=0.5) == 0


def test_where_namespaces_cannot_be_made_it_runs_says_so_and_is_audited(
    publisher: Publisher,
    capsys: pytest.CaptureFixture[str],
    listener: Listener,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on macOS, Windows or a container without user namespaces (nor Landlock, whose TCP
    # rules would otherwise still refuse the connection).
    monkeypatch.setattr(_sandbox, "_probe", lambda: _sandbox.NoNetwork((), "pretend: no netns"))
    monkeypatch.setattr(_sandbox, "files_confinement", lambda: (0, "pretend: no landlock"))
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
        ("spy", "spy", "pretend: no landlock"),
        # Calling a trainer by name: the one workset that declares trainers lists its
        # backends and runs the one named, in one child (call_named_in).
        ("spy", "modellab_register_trainers:spy-trainer", "pretend: no netns"),
        ("spy", "modellab_register_trainers:spy-trainer", "pretend: no landlock"),
    ]


def test_writes_outside_the_worksets_folder_are_refused(
    publisher: Publisher, capsys: pytest.CaptureFixture[str], listener: Listener, tmp_path: Path
) -> None:
    _needs_namespaces()
    if not _sandbox.files_confinement()[0]:
        pytest.skip(f"no Landlock here: {_sandbox.files_confinement()[1]}")
    _install_spy(publisher, capsys, hook=False)
    found = _run_command(listener, tmp_path)
    assert found["write"] in {"EACCES", "EPERM"}, found
    assert not (tmp_path / "outside.txt").exists()
    refused = [e for e in _audit_events(capsys) if e["action"] == "workset-refused"]
    # The attempt is in the audit log (beside its attempt to connect to the listener).
    assert ("write", str(tmp_path / "outside.txt")) in {(e["kind"], e["target"]) for e in refused}
    assert ("connect", f"127.0.0.1:{listener.port}") in {(e["kind"], e["target"]) for e in refused}
