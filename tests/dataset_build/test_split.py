"""``--split time``: the newest sessions are held out, near-duplicate groups kept whole."""

from __future__ import annotations

from dataset_build.builders import LONG_PROMPT, build, success
from factories import exported


def _dated() -> list[dict]:
    topics = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    docs = [
        success(
            t, f"Implement the {t} feature flag", f"{t}.py", created_at=f"2026-11-0{d}T09:00:00Z"
        )
        for d, t in enumerate(topics, start=1)
    ]
    # The oldest and the newest session are the same task, with different work (so their
    # rows are not near-duplicates).
    old, new = "Rounded half up, " * 30, "Tests added for zero. " * 30
    docs.append(
        success("twin-old", LONG_PROMPT, "payments.py", old, created_at="2026-10-01T09:00Z")
    )
    docs.append(
        success("twin-new", LONG_PROMPT, "payments.py", new, created_at="2026-11-09T09:00Z")
    )
    return docs


def test_the_latest_sessions_go_to_test_and_groups_move_whole(tmp_path, capsys):
    export = exported(tmp_path, _dated())
    flags = ["--from", "all", "--split", "time", "--test-fraction", "0.3"]
    manifest = build(export, tmp_path / "a", capsys, *flags, "--seed", "1")
    split = manifest["split"]
    assert split["method"] == "time" and split["seed"] == 1
    # The twins' group is newest (Nov 9) and weighs 2 of 8 rows; foxtrot (Nov 6) tops it up.
    assert split["session_ids"]["test"] == ["foxtrot", "twin-new", "twin-old"]
    assert split["cut"] == "2026-11-06T09:00:00+00:00"
    assert split["older_in_test"] == 1  # twin-old, pulled in by its near-duplicate
    assert split["sessions_without_start_time"] == 0
    assert split["session_ids"]["train"] == ["alpha", "bravo", "charlie", "delta", "echo"]
    again = build(export, tmp_path / "b", capsys, *flags, "--seed", "2")
    assert again["split"]["session_ids"] == split["session_ids"]  # the seed plays no part
    card = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert "Time-ordered hold-out" in card and "2026-11-06T09:00:00+00:00" in card


def test_grouped_is_the_default_and_says_so(tmp_path, capsys):
    export = exported(tmp_path, _dated())
    manifest = build(export, tmp_path / "a", capsys, "--from", "all", "--test-fraction", "0.3")
    assert manifest["split"]["method"] == "grouped" and "cut" not in manifest["split"]
    ids = manifest["split"]["session_ids"]
    twins = [side for side in ("train", "test") if "twin-old" in ids[side]]
    assert len(twins) == 1 and "twin-new" in ids[twins[0]]
