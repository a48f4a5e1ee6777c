"""``redact scan`` fails closed: whatever it could not scan is named, and the exit says so.

Exit codes: 0 everything scanned and nothing found, 8 something found, 4 something could not
be scanned (a missing or unreadable path, a FIFO, socket or device, a binary file unless
``--skip-binary``, a link to a folder elsewhere). Text in UTF-16/32 with a byte-order mark,
and text holding stray NUL bytes, is decoded and scanned. Values are never printed.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sys
import threading
import zlib
from pathlib import Path

import pytest

from modellab.cli import main
from modellab.redact._files import decode_text

GITHUB = "ghp_" + "Zq3" * 12
LINE = f"GITHUB_TOKEN={GITHUB}\n"
NOT_SCANNED = 4
FOUND = 8


def _data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"  # not the test HOME beside it, where the catalog lives
    folder.mkdir(exist_ok=True)
    return folder


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["redact", "scan", "--json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _png(rng: random.Random) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4)

    pixels = zlib.compress(bytes(rng.randrange(256) for _ in range(64 * 64 * 3 + 64)))
    header = (64).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _elf(rng: random.Random) -> bytes:
    header = b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + bytes(46)
    code = bytes(rng.randrange(256) for _ in range(2048))
    return header + code + bytes(512) + b"GLIBC_2.34\x00" + LINE.encode() + bytes(64)


# ---- paths that cannot be scanned ------------------------------------------------------------


def test_a_missing_path_is_named_and_fails(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "clean.txt").write_text("nothing here\n")
    missing = tmp_path / "no-such-file.txt"
    code, report, err = _scan(capsys, str(data), str(missing))
    assert code == NOT_SCANNED
    assert report["files_scanned"] == 1 and report["complete"] is False
    assert report["not_scanned"] == [
        {"path": str(missing), "kind": "missing", "reason": "no such file or folder"}
    ]
    assert err.splitlines() == [f"modellab: error: {missing}: no such file or folder (not scanned)"]
    # Without --json too, and findings elsewhere do not hide it.
    (data / "app.env").write_text(LINE)
    assert main(["redact", "scan", str(data), str(missing)]) == NOT_SCANNED
    out, err = capsys.readouterr()
    assert str(missing) in err and "Findings: github-token 1" in out and GITHUB not in out


def test_a_broken_link_and_a_path_through_a_file_are_named(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "file.txt").write_text("x\n")
    broken = tmp_path / "broken"
    broken.symlink_to(tmp_path / "gone")
    through = data / "file.txt" / "inside"
    code, report, _err = _scan(capsys, str(broken), str(through))
    assert code == NOT_SCANNED
    assert [(n["path"], n["kind"]) for n in report["not_scanned"]] == [
        (str(broken), "missing"),
        (str(through), "unreadable"),
    ]
    assert report["not_scanned"][0]["reason"] == "broken symbolic link"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_an_unreadable_file_is_named_and_fails(tmp_path, capsys):
    data = _data(tmp_path)
    locked = data / "locked.env"
    locked.write_text(LINE)
    locked.chmod(0)
    code, report, err = _scan(capsys, str(data))
    assert code == NOT_SCANNED
    assert report["not_scanned"][0]["kind"] == "unreadable" and str(locked) in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_never_opened(tmp_path, capsys):
    """Opening a FIFO waits for a writer. If the scan ever does, a watchdog becomes that
    writer (so the test fails instead of hanging) and records that it had to."""
    data = _data(tmp_path)
    fifos = [data / "pipe", tmp_path / "named"]
    for fifo in fifos:
        os.mkfifo(fifo)
    (data / "clean.txt").write_text("nothing\n")
    finished = threading.Event()
    opened: list[str] = []

    def watchdog() -> None:
        while not finished.wait(5):
            for fifo in fifos:
                try:  # succeeds only while a reader waits in open()
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    opened.append(fifo.name)
                except OSError:
                    pass

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    try:
        code, report, err = _scan(capsys, str(data), str(fifos[1]))
    finally:
        finished.set()
        thread.join()
    assert opened == []
    assert code == NOT_SCANNED
    assert report["files_scanned"] == 1
    assert [(n["path"], n["kind"]) for n in report["not_scanned"]] == [
        (str(fifos[0]), "special"),
        (str(fifos[1]), "special"),
    ]
    assert "FIFO" in report["not_scanned"][0]["reason"]
    assert f"modellab: error: {fifos[0]}: a FIFO" in err


def test_a_socket_and_a_device_are_named(tmp_path, capsys):
    data = _data(tmp_path)
    path = data / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        code, report, _err = _scan(capsys, str(data), os.devnull)
    finally:
        server.close()
    assert code == NOT_SCANNED
    assert [(n["path"], n["kind"]) for n in report["not_scanned"]] == [
        (str(path), "special"),
        (os.devnull, "special"),
    ]
    assert "socket" in report["not_scanned"][0]["reason"]
    assert "character device" in report["not_scanned"][1]["reason"]


# ---- what text is ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_decoded_and_scanned(tmp_path, capsys, encoding):
    data = _data(tmp_path)
    text = "# settings\n" + LINE
    raw = text.encode(encoding)
    if encoding.endswith(("-le", "-be")):  # these codecs write no mark: add it
        raw = "\ufeff".encode(encoding) + raw
    (data / "settings.env").write_bytes(raw)
    code, report, _err = _scan(capsys, str(data))
    assert code == FOUND
    (finding,) = report["findings"]
    assert (finding["rule"], finding["line"], finding["column"]) == ("github-token", 2, 14)
    assert report["not_scanned"] == []


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_utf32_with_either_mark_is_scanned(tmp_path, capsys, encoding):
    data = _data(tmp_path)
    (data / "a.txt").write_bytes(("\ufeff" + LINE).encode(encoding))
    code, report, _err = _scan(capsys, str(data))
    assert code == FOUND and report["counts"] == {"github-token": 1}


def test_utf16_without_a_mark_is_scanned(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "a.txt").write_bytes(("note\n" + LINE).encode("utf-16-le"))
    code, report, _err = _scan(capsys, str(data))
    assert code == FOUND and report["findings"][0]["line"] == 2


@pytest.mark.parametrize(
    "content",
    [
        b"header\x00\n" + LINE.encode(),  # one stray NUL
        b"\x00" + LINE.encode(),  # NUL first
        LINE.encode() + b"\x00",  # NUL last
        b"log \x01\x02 line\n" + LINE.encode() + "caf\u00e9\n".encode(),  # a few controls
        b"caf\xe9 latin-1 text\n" + LINE.encode(),  # not UTF-8, but plainly text
    ],
    ids=["nul", "nul-first", "nul-last", "controls", "latin-1"],
)
def test_text_with_stray_nul_or_control_bytes_is_scanned(tmp_path, capsys, content):
    data = _data(tmp_path)
    (data / "log.txt").write_bytes(content)
    code, report, _err = _scan(capsys, str(data))
    assert code == FOUND, report["not_scanned"]
    (finding,) = report["findings"]
    start = content.index(b"GITHUB")
    line = content[:start].count(b"\n") + 1
    column = start - (content.rfind(b"\n", 0, start) + 1) + len("GITHUB_TOKEN=") + 1
    assert (finding["line"], finding["column"]) == (line, column)


@pytest.mark.parametrize("kind", ["png", "elf", "random", "zeros"])
def test_a_binary_file_is_not_scanned_and_fails_unless_skipped(tmp_path, capsys, kind):
    rng = random.Random(kind)
    blob = {
        "png": _png,
        "elf": _elf,
        "random": lambda r: bytes(r.randrange(256) for _ in range(8192)),
        "zeros": lambda _r: bytes(4096),
    }[kind](rng)
    assert decode_text(blob) is None
    data = _data(tmp_path)
    (data / f"file.{kind}").write_bytes(blob)
    (data / "clean.txt").write_text("nothing\n")
    code, report, err = _scan(capsys, str(data))
    assert code == NOT_SCANNED
    assert report["not_scanned"] == [
        {"path": str(data / f"file.{kind}"), "kind": "binary", "reason": "binary file"}
    ]
    assert "binary file (not scanned)" in err
    # --skip-binary: listed, but the scan counts as complete.
    code, report, err = _scan(capsys, str(data), "--skip-binary")
    assert (code, report["complete"], err) == (0, True, "")
    assert [n["kind"] for n in report["not_scanned"]] == ["binary"]
    # ... and findings elsewhere still fail it.
    (data / "app.env").write_text(LINE)
    code, report, _err = _scan(capsys, str(data), "--skip-binary")
    assert code == FOUND


# ---- names, links and loops ------------------------------------------------------------------


def test_names_with_control_characters_are_shown_escaped(tmp_path, capsys):
    data = _data(tmp_path)
    odd = "evil\x1b[2J\rname\u202e.env"
    (data / odd).write_text(LINE)
    (data / f"{odd}.bin").write_bytes(bytes(range(256)) * 8)
    assert main(["redact", "scan", str(data)]) == NOT_SCANNED
    out, err = capsys.readouterr()
    for stream in (out, err):
        assert "\x1b" not in stream and "\r" not in stream and "\u202e" not in stream
    assert "evil\\x1b[2J\\x0dname\\u202e.env\n" in out and " 1:14 " in out
    assert "evil\\x1b[2J\\x0dname\\u202e.env.bin: binary file" in err
    # JSON carries the name as it is (JSON escapes it).
    _code, report, _err = _scan(capsys, str(data))
    assert report["findings"][0]["path"] == str(data / odd)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names")
def test_undecodable_names_are_shown_and_reported(tmp_path, capsys):
    data = _data(tmp_path)
    raw = os.fsencode(data) + b"/bad\xffname.env"
    with open(raw, "wb") as handle:
        handle.write(LINE.encode())
    assert main(["redact", "scan", str(data)]) == FOUND
    out, _err = capsys.readouterr()
    assert "bad\\xffname.env\n" in out and " 1:14 " in out
    _code, report, _err = _scan(capsys, str(data))
    assert report["findings"][0]["path"].endswith("bad\\xffname.env")


def test_links_never_loop_and_links_elsewhere_are_named(tmp_path, capsys):
    data = _data(tmp_path)
    (data / "sub").mkdir()
    (data / "sub" / "app.env").write_text(LINE)
    (data / "sub" / "back").symlink_to(data)  # a loop, inside: its target is scanned anyway
    (data / "sub" / "same.env").symlink_to(data / "sub" / "app.env")  # scanned once
    (data / "up").symlink_to(tmp_path)  # a folder elsewhere: not followed, named
    (data / "root").symlink_to("/")
    elsewhere = tmp_path / "elsewhere.env"
    elsewhere.write_text(LINE)
    (data / "linked.env").symlink_to(elsewhere)  # a file elsewhere: followed
    (data / "dangling").symlink_to(tmp_path / "gone")  # nothing to scan
    code, report, err = _scan(capsys, str(data))
    assert code == NOT_SCANNED
    assert sorted(f["path"] for f in report["findings"]) == [
        str(data / "linked.env"),
        str(data / "sub" / "app.env"),
    ]
    assert [(n["path"], n["kind"]) for n in report["not_scanned"]] == [
        (str(data / "root"), "link"),
        (str(data / "up"), "link"),
    ]
    assert str(data / "up") in err
    # Named directly, the target is scanned.
    code, report, _err = _scan(capsys, str(data / "up" / "elsewhere.env"))
    assert code == FOUND


def test_dependency_folders_are_left_out_but_a_named_one_is_scanned(tmp_path, capsys):
    data = _data(tmp_path)
    (data / ".git").mkdir()
    (data / ".git" / "config").write_text(LINE)
    code, report, _err = _scan(capsys, str(data))
    assert (code, report["files_scanned"]) == (0, 0)
    code, report, _err = _scan(capsys, str(data / ".git"))
    assert (code, report["files_scanned"]) == (FOUND, 1)


def test_scan_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["redact", "scan", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "0 everything scanned and nothing found, 8 something found, 4 something" in out
    assert "--skip-binary" in out


def test_scan_output_names_each_file_in_full_with_line_and_column(tmp_path, capsys):
    # A deep tree: the path is printed whole (never cut), each finding by line:column, and
    # more than ten files with findings also get a per-file summary.
    deep = tmp_path / "data" / ("a-rather-long-folder-name-" * 4) / "nested"
    deep.mkdir(parents=True)
    for n in range(12):
        (deep / f"config-{n:02d}.env").write_text(f"# settings\nCONTACT=ops{n}@corp-mail.org\n")
    assert main(["redact", "scan", str(tmp_path / "data")]) == 8
    out = capsys.readouterr().out
    first = str(deep / "config-00.env")
    assert first + "\n" in out  # the whole path, on its own line
    assert "2:9" in out  # line:column of the e-mail address
    assert "Findings by file (12 files):" in out
