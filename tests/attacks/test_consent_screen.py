"""A consent screen that cannot lie (issue 12, item 4).

Signed malicious worksets, published into a real local registry, try to make the consent
screen say something the manifest does not: cursor moves and carriage returns that repaint
it, a ``requirements.python`` that is not what the wheel installs, a ``%`` that crashes
``--help``, and commands that take over a core command or another workset's. Each is
refused with a one-line error naming the field and exit 10, and nothing is installed or
consented to. The screen itself is driven on a real pseudo-terminal.

A malicious publisher does not use our ``registry build`` and ``registry add`` (both refuse
these manifests too, as tested here): :func:`_publish_crafted` writes the wheel, signs it
with the publisher's real key and adds it to the registry's signed index directly.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import select
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from workset_core.builders import MANIFEST, make_workset
from workset_core.conftest import Publisher

from attacks.conftest import publish_unchecked
from modellab.cli import main
from modellab.errors import ManifestError
from modellab.registry import Index, RegistryRepository
from modellab.settings import Settings
from modellab.worksets import load_manifest
from modellab.worksets._consent import render_manifest
from modellab.worksets._install import check_requires_dist
from modellab.worksets._manifest import (
    Command,
    DataFlow,
    Egress,
    Hooks,
    Identity,
    Privacy,
    Requirements,
    WorksetManifest,
)

REPAINT = "\r\x1b[3A\x1b[2K  telemetry       off\r\n  network         none\r\n…"

#: What the attacker's manifest really declares, hidden under the repaint.
EVIL = """\
[workset]
name = "{name}"
version = "0.1.0"
summary = "{summary}"
license = "Apache-2.0"
publisher = "Model Lab tests"
[privacy]
telemetry = "opt-in"
data_leaves_machine = [{{what = "raw sessions", command = "{command}"}}]
network_egress = [{{host = "collector.example.net", commands = ["{command}"]}}]
[requirements]
python = {python}
gpu = "none"
isolation = "shared"
[hooks]
implements = ["modellab_run_command"]
[[commands]]
name = "{command}"
summary = "{command_summary}"
"""


def _toml_list(values: list[str]) -> str:
    """A TOML array of basic strings, control characters written as TOML escapes."""

    def quoted(value: str) -> str:
        out = []
        for char in value:
            if char in '"\\':
                out.append("\\" + char)
            elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'

    return "[" + ", ".join(quoted(v) for v in values) + "]"


def _evil(
    name: str = "evil",
    *,
    python: list[str] | None = None,
    command: str | None = None,
    summary: str = "A harmless helper",
    command_summary: str = "does nothing much",
) -> str:
    return EVIL.format(
        name=name,
        summary=summary,
        command=command or name,
        command_summary=command_summary,
        python=_toml_list(["modellab>=0.1"] if python is None else python),
    )


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _wheel_of(publisher: Publisher, name: str, dependencies: tuple[str, ...]) -> Path:
    """A wheel built by the real ``registry build`` from an honest manifest."""
    source = make_workset(publisher.root / "honest", name, dependencies=dependencies)
    dist = publisher.root / "dist" / name
    assert main(["registry", "build", str(source), "--out", str(dist)]) == 0
    (wheel,) = dist.glob("*.whl")
    return wheel


def _rewritten(wheel: Path, manifest: bytes, requires_dist: list[str] | None = None) -> None:
    """Put ``manifest`` (and optionally other Requires-Dist lines) into ``wheel``; RECORD
    is rewritten to match, as an attacker's own build tool would."""
    with zipfile.ZipFile(wheel) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    for entry in list(files):
        if entry.count("/") == 1 and entry.endswith("/workset.toml"):
            files[entry] = manifest
        if entry.endswith(".dist-info/METADATA") and requires_dist is not None:
            kept = [
                line
                for line in files[entry].decode().splitlines()
                if not line.startswith("Requires-Dist:")
            ]
            kept += [f"Requires-Dist: {r}" for r in requires_dist]
            files[entry] = ("\n".join(kept) + "\n").encode()
    (record,) = [n for n in files if n.endswith(".dist-info/RECORD")]
    del files[record]
    lines = [_record_line(n, d) for n, d in sorted(files.items())] + [f"{record},,"]
    files[record] = ("\n".join(lines) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0)), data)
    wheel.write_bytes(buffer.getvalue())


def _crafted(
    publisher: Publisher, manifest: str, *, requires_dist: list[str] | None = None
) -> tuple[Path, bytes]:
    """A wheel shipping ``manifest``, signed with the publisher's real key."""
    name = load_name(manifest)
    wheel = _wheel_of(publisher, name, ("modellab>=0.1",))
    data = manifest.encode()
    _rewritten(wheel, data, requires_dist)
    assert main(["registry", "sign", str(wheel), "--key", str(publisher.signing)]) == 0
    return wheel, data


def load_name(manifest: str) -> str:
    return manifest.split('name = "', 1)[1].split('"', 1)[0]


def _publish_crafted(
    publisher: Publisher, manifest: str, *, requires_dist: list[str] | None = None
) -> None:
    """Sign and publish a crafted wheel without any of ``registry add``'s checks."""
    wheel, data = _crafted(publisher, manifest, requires_dist=requires_dist)
    publish_unchecked(publisher, load_name(manifest), wheel, data)


def _publish(publisher: Publisher, name: str, manifest: str) -> None:
    """Build, sign and add through the real CLI (the manifest passes every publish check)."""
    publisher.publish(make_workset(publisher.root / "sources" / name, name, manifest=manifest))


def _nothing_installed(name: str) -> None:
    settings = Settings.from_env()
    assert not (settings.worksets_dir / name).exists()
    assert not list(settings.worksets_dir.glob(".staging-*"))
    db = sqlite3.connect(settings.catalog_path)
    try:
        installs = db.execute("SELECT name FROM workset_installs").fetchall()
        assert (name,) not in installs
        consents = db.execute("SELECT * FROM workset_consents").fetchall()
        assert not [row for row in consents if name in row]
    finally:
        db.close()


def _index_names(publisher: Publisher) -> list[str]:
    repository = RegistryRepository(publisher.registry, publisher.keys)
    try:
        index = Index.from_toml(repository.target_bytes("index.toml"), "index.toml")
    except Exception:
        return []
    return [release.name for release in index.releases]


def _on_a_terminal(argv: list[str], answer: str = "no", timeout: float = 120.0) -> tuple[int, str]:
    """Run ``modellab ARGV`` with a real pseudo-terminal as its stdin, stdout and stderr;
    answer the consent prompt (if one comes) with ``answer``. Returns (exit code, bytes
    the terminal received, decoded)."""
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "modellab", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=os.environ.copy(),
        start_new_session=True,
    )
    os.close(slave)
    received = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                received += chunk
                if not answered and b"Type 'yes'" in received:
                    os.write(master, answer.encode() + b"\n")
                    answered = True
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, received.decode("utf-8", "replace")


def _no_raw_controls(screen: str) -> None:
    """Nothing that moves the cursor or rewrites a line reached the terminal. The terminal
    turns each line feed into CR LF itself (ONLCR); any other CR came from the program."""
    assert "\x1b" not in screen, screen
    assert "\r" not in screen.replace("\r\n", "\n"), screen
    assert not any(0x80 <= ord(c) <= 0x9F for c in screen), screen


# ------------------------------------------------------------------------------------------
# 1. The repainting manifest string.


def test_a_repainting_requirement_is_refused_at_build(tmp_path, capsys):
    source = make_workset(tmp_path, "evil", manifest=_evil(python=["modellab>=0.1", REPAINT]))
    out = tmp_path / "dist"
    assert main(["registry", "build", str(source), "--out", str(out)]) == 10
    err = capsys.readouterr().err
    assert "requirements.python[1]: contains a line break (U+000D)" in err
    assert len(err.strip().splitlines()) == 2  # the error and its hint, one line each
    _no_raw_controls(err)
    assert not out.exists() or not list(out.iterdir())


def test_a_repainting_requirement_is_refused_by_registry_add(publisher, capsys):
    wheel, _data = _crafted(publisher, _evil(python=["modellab>=0.1", REPAINT]))
    capsys.readouterr()
    argv = ["registry", "add", str(publisher.registry), str(wheel)]
    code = main([*argv, "--keys", str(publisher.keys), "--signing-key", str(publisher.signing)])
    err = capsys.readouterr().err
    assert code == 10, err
    assert "workset.toml: requirements.python[1]: contains a line break" in err
    _no_raw_controls(err)
    assert "evil" not in _index_names(publisher)


def test_a_repainting_requirement_never_reaches_the_consent_screen(publisher):
    _publish_crafted(publisher, _evil(python=["modellab>=0.1", REPAINT]))
    code, screen = _on_a_terminal(["worksets", "install", "evil"], answer="yes")
    assert code == 10, screen
    _no_raw_controls(screen)
    assert "requirements.python[1]: contains a line break (U+000D) at position 0" in screen
    assert "Type 'yes'" not in screen and "telemetry" not in screen
    _nothing_installed("evil")


@pytest.mark.parametrize(
    ("field", "old", "new", "problem"),
    [
        ("workset.summary", 'summary = "A harmless helper"', 'summary = "ok\\u001b[2J"', "U+001B"),
        ("workset.publisher", 'publisher = "Model Lab tests"', 'publisher = "a\\u009bb"', "009B"),
        ("privacy.network_egress[0].host", "collector.example.net", "x\\u202enet", "U+202E"),
        ("privacy.data_leaves_machine[0].what", "raw sessions", "raw\\u2028none", "line break"),
        ("commands[0].summary", 'summary = "does nothing much"', 'summary = "a\\tb"', "U+0009"),
        ("workset.license", 'license = "Apache-2.0"', f'license = "{"x" * 201}"', "at most 200"),
        ("workset.license", 'license = "Apache-2.0"', 'license = "  "', "empty"),
        ("workset.version", 'version = "0.1.0"', 'version = "0.1.0\\n"', "release version"),
        (
            "commands[0].summary",
            'summary = "does nothing much"',
            f'summary = "{"x" * 121}"',
            "at most 120 characters",
        ),
        (
            "commands",
            'summary = "does nothing much"',
            'summary = "a"\n[[commands]]\nname = "evil"\nsummary = "b"',
            "command(s) evil declared more than once",
        ),
    ],
)
def test_every_manifest_string_is_checked(field, old, new, problem):
    text = _evil()
    assert old in text
    with pytest.raises(ManifestError) as refused:
        load_manifest(text.replace(old, new).encode(), "workset.toml")
    message = refused.value.message
    assert f"workset.toml: {field}: " in message and problem in message, message
    assert "\n" not in message and "\x1b" not in message


def test_lists_are_bounded():
    text = _evil(python=[f"pkg{i}" for i in range(101)])
    with pytest.raises(ManifestError, match=r"requirements\.python: List should have at most 100"):
        load_manifest(text.encode(), "workset.toml")


def test_the_screen_escapes_what_a_manifest_could_still_carry():
    """Defence in depth: a manifest built without validation still renders one fact a line."""
    manifest = WorksetManifest.model_construct(
        workset=Identity.model_construct(
            name="evil", version="0.1.0", summary="a\rb", license="MIT\x1b[2K", publisher="p\u202e"
        ),
        privacy=Privacy.model_construct(
            telemetry="opt-in",
            data_leaves_machine=[DataFlow.model_construct(what="raw\nnone", command="x")],
            network_egress=[Egress.model_construct(host="h\x9b", commands=["x\r\n"])],
        ),
        requirements=Requirements.model_construct(
            python=["modellab>=0.1", REPAINT], gpu="none", isolation="shared"
        ),
        hooks=Hooks.model_construct(implements=[]),
        commands=[Command.model_construct(name="x", summary="s")],
    )
    screen = render_manifest(manifest)
    assert len(screen.splitlines()) == 12  # eleven facts and "raw sessions"
    _no_raw_controls(screen)
    assert "\u202e" not in screen
    assert "telemetry       opt-in" in screen
    assert "\\x0d\\x1b[3A\\x1b[2K  telemetry       off\\x0d\\x0a" in screen


def test_the_screen_on_a_terminal_says_what_the_manifest_declares(publisher):
    manifest = _evil("frank", summary="Sends 100% of sessions — «honestly» %(prog)s %s")
    _publish(publisher, "frank", manifest)
    code, screen = _on_a_terminal(["worksets", "install", "frank"], answer="no")
    assert code == 10, screen
    _no_raw_controls(screen)
    assert "Sends 100% of sessions — «honestly» %(prog)s %s" in screen
    assert "telemetry       opt-in" in screen
    assert "collector.example.net (on frank)" in screen
    assert "raw sessions (on 'frank')" in screen
    assert "Type 'yes'" in screen and "consent not given" in screen
    _nothing_installed("frank")


# ------------------------------------------------------------------------------------------
# requirements.python against the wheel's own Requires-Dist.


def test_a_hidden_dependency_is_refused_at_build(tmp_path, capsys):
    manifest = _evil("hider").replace('"collector.example.net"', '"h.example.net"')
    source = make_workset(
        tmp_path, "hider", dependencies=("modellab>=0.1", "requests>=2"), manifest=manifest
    )
    assert main(["registry", "build", str(source), "--out", str(tmp_path / "dist")]) == 10
    err = capsys.readouterr().err
    assert "requirements.python is not the wheel's Requires-Dist" in err
    assert "only in the manifest: nothing; only in the wheel: 'requests>=2'" in err


def test_a_hidden_dependency_is_refused_by_registry_add(publisher, capsys):
    wheel, _data = _crafted(
        publisher, _evil("hider"), requires_dist=["modellab>=0.1", "requests>=2"]
    )
    capsys.readouterr()
    argv = ["registry", "add", str(publisher.registry), str(wheel)]
    code = main([*argv, "--keys", str(publisher.keys), "--signing-key", str(publisher.signing)])
    err = capsys.readouterr().err
    assert code == 10, err
    assert "only in the wheel: 'requests>=2'" in err
    assert "hider" not in _index_names(publisher)


def test_a_hidden_dependency_is_refused_at_install(publisher, capsys):
    _publish_crafted(
        publisher,
        _evil("hider", python=["modellab>=0.1", "numpy>=1"]),
        requires_dist=["modellab>=0.1", "requests>=2"],
    )
    code = main(["worksets", "install", "hider", "--accept-manifest", "0" * 64])
    captured = capsys.readouterr()
    assert code == 10, captured.err
    assert "requirements.python is not the wheel's Requires-Dist" in captured.err
    assert "only in the manifest: 'numpy>=1'; only in the wheel: 'requests>=2'" in captured.err
    assert "manifest sha256" not in captured.out  # refused before the screen
    _nothing_installed("hider")


def test_requirements_compare_as_requirements_not_as_text():
    check_requires_dist(
        ["Model_Lab >= 0.1", "numpy<3,>=1", "rich[jupyter]; python_version >= '3.11'"],
        ["model-lab>=0.1", "numpy >=1, <3", 'rich[jupyter] ; python_version>="3.11"'],
        "workset.toml",
    )
    # The fast reading (name and specifiers) and packaging's full grammar give one key.
    check_requires_dist(["foo (>=1)", "bar[x]"], ["Foo>=1", "bar [x]"], "workset.toml")
    with pytest.raises(ManifestError, match=r"requirements\.python\[0\]: unreadable dependency"):
        check_requires_dist(["telemetry off"], ["telemetry off"], "workset.toml")
    with pytest.raises(ManifestError, match="only in the manifest: nothing; only in the wheel"):
        check_requires_dist([], ["modellab>=0.1"], "workset.toml")


# ------------------------------------------------------------------------------------------
# 7. A % (or anything else) in a command summary never crashes help.


@pytest.mark.parametrize("argv", [["--help"], []])
def test_a_percent_in_an_installed_summary_never_crashes_help(publisher, capsys, argv):
    manifest = _evil("pct", command_summary="100% local %(prog)s %s %")
    _publish(publisher, "pct", manifest)
    capsys.readouterr()
    assert main(["worksets", "install", "pct", "--accept-manifest", "0" * 64]) == 10
    sha = capsys.readouterr().out.split("manifest sha256 ")[1].split()[0]
    assert main(["worksets", "install", "pct", "--accept-manifest", sha]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "modellab", *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == (0 if argv else 2), result.stderr
    assert "Traceback" not in result.stderr
    assert "100% local %(prog)s %s % [workset pct]" in result.stdout


def test_a_damaged_command_index_never_crashes_help(capsys):
    worksets = Settings.from_env().worksets_dir
    worksets.mkdir(parents=True)
    (worksets / "commands.tsv").write_text(
        "pct\tpct\t50% off %(prog)s \x1b[2J\x9b\nbad%name\tx\ty\nok\tbad\tworkset\tname\n",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "50% off %(prog)s \\x1b[2J\\x9b [workset pct]" in out
    assert "bad%name" not in out and "\x1b" not in out
    (worksets / "commands.tsv").write_bytes(b"pct\tpct\t\xff\xfe not utf-8\n")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "usage: modellab" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# 6. A command that clashes with a core command or another installed workset's command.


def test_a_command_that_takes_a_core_command_is_refused(publisher, capsys):
    manifest = _evil("shadow", command="export")
    _publish(publisher, "shadow", manifest)
    capsys.readouterr()
    code = main(["worksets", "install", "shadow", "--accept-manifest", "0" * 64])
    captured = capsys.readouterr()
    assert code == 10, captured.err
    assert "shadow: command 'export' clashes with Model Lab's own command 'export'" in (
        captured.err
    )
    assert "manifest sha256" not in captured.out  # refused before the screen
    _nothing_installed("shadow")


def test_a_command_another_workset_has_is_refused_naming_both(publisher, capsys):
    first = _evil("first", command="greet").replace("collector.example.net", "a.example.net")
    second = _evil("second", command="greet").replace("collector.example.net", "b.example.net")
    _publish(publisher, "first", first)
    _publish(publisher, "second", second)
    capsys.readouterr()
    assert main(["worksets", "install", "first", "--accept-manifest", "0" * 64]) == 10
    sha = capsys.readouterr().out.split("manifest sha256 ")[1].split()[0]
    assert main(["worksets", "install", "first", "--accept-manifest", sha]) == 0
    capsys.readouterr()
    code = main(["worksets", "install", "second", "--accept-manifest", "0" * 64])
    captured = capsys.readouterr()
    assert code == 10, captured.err
    assert (
        "second: command 'greet' clashes with the command 'greet' of the installed workset first"
        in captured.err
    )
    assert "manifest sha256" not in captured.out
    _nothing_installed("second")
    index = (Settings.from_env().worksets_dir / "commands.tsv").read_text()
    assert index.splitlines() == ["greet\tfirst\tdoes nothing much"]


def test_the_builder_template_still_builds():
    """The shared test template passes the new checks (``python`` filled from deps)."""
    text = MANIFEST.format(name="hello", version="0.1.0", isolation="shared", command="hello")
    load_manifest(text.encode(), "workset.toml")
