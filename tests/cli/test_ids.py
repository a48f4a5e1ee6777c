"""Session ids: a unique prefix is enough; an ambiguous one names the sessions it matches.
The listings that show ids (``sessions list``, ``capture --list``) share their columns."""

from __future__ import annotations

import pytest

from factories import saved_session, write_session
from modellab.cli import main


@pytest.fixture
def three_alike(tmp_path, capsys):
    for n in range(3):
        write_session(tmp_path / "sessions", saved_session(session_id=f"019e{n}abc-0000"))
    write_session(tmp_path / "sessions", saved_session(session_id="7f00aaaa-0000"))
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    capsys.readouterr()


def test_an_ambiguous_prefix_lists_the_matching_ids(three_alike, capsys):
    assert main(["sessions", "show", "019e"]) == 3
    err = capsys.readouterr().err
    assert "'019e' matches 3 sessions: 019e0abc-0000, 019e1abc-0000, 019e2abc-0000" in err
    assert "7f00aaaa" not in err
    assert "give more of the id" in err


def test_an_ambiguous_prefix_in_a_selection_lists_them_too(three_alike, capsys):
    assert main(["capture", "019e"]) == 3
    assert "matches 3 sessions" in capsys.readouterr().err


def test_a_unique_prefix_and_an_unknown_one(three_alike, capsys):
    assert main(["sessions", "show", "019e1"]) == 0
    assert "Session 019e1abc-0000" in capsys.readouterr().out
    assert main(["sessions", "show", "0200"]) == 3
    assert "no such session: '0200'" in capsys.readouterr().err


def test_many_matches_are_counted_not_all_listed(tmp_path, capsys):
    for n in range(14):
        write_session(tmp_path / "sessions", saved_session(session_id=f"aa{n:02d}-0000"))
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    capsys.readouterr()
    assert main(["sessions", "show", "aa"]) == 3
    err = capsys.readouterr().err
    assert "'aa' matches 14 sessions: aa00-0000, aa01-0000," in err
    assert "aa09-0000, … (4 more)" in err and "aa10-0000" not in err


def test_capture_list_has_the_columns_of_sessions_list_and_when_captured(tmp_path, capsys):
    long_title = "A title long enough to be cut by the table at its usual width " * 2
    write_session(
        tmp_path / "sessions",
        saved_session(
            session_id="c0ffee01-0000", title=long_title, updated_at="2026-01-02T03:04:05Z"
        ),
    )
    assert main(["sessions", "import", str(tmp_path / "sessions")]) == 0
    assert main(["capture", "c0ffee01"]) == 0
    capsys.readouterr()
    assert main(["sessions", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert main(["capture", "--list"]) == 0
    captured = capsys.readouterr().out.splitlines()
    # The same header and cells, plus a "captured" column; the session's own date is its date.
    assert captured[0].split() == [*listed[0].split(), "captured"]
    assert captured[2].startswith(listed[2].rstrip())
    assert "2026-01-02 03:04" in captured[2]
    assert captured[2].count("…") == 1 and listed[2].count("…") == 1  # cut the same way
    assert captured[-1] == "1 session(s) captured for export."


def test_capture_list_with_nothing_captured(capsys):
    assert main(["capture", "--list"]) == 0
    assert "No sessions captured" in capsys.readouterr().out
