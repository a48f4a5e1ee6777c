"""The export is streamed through the gate's ApprovedExport and checked while it is read."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from dataset_build.builders import mixed
from factories import exported
from modellab.datasets._source import iter_sessions
from modellab.errors import CorruptSourceError, StaleApprovalError
from modellab.gate import ApprovedExport, open_approved
from modellab.gate.layout import TRAJECTORIES
from modellab.settings import Settings
from modellab.store import Catalog


def _approved(tmp_path) -> ApprovedExport:
    export = exported(tmp_path, mixed())
    with Catalog(Settings.from_env().catalog_path) as catalog:
        return open_approved(export, catalog=catalog)


def test_sessions_stream_in_file_order(tmp_path):
    records = list(iter_sessions(_approved(tmp_path)))
    assert [r.session.id for r in records] == ["bad", "good", "retry"]
    assert [r.line for r in records] == [1, 2, 3]


def test_bytes_that_differ_from_the_approval_are_refused(tmp_path):
    approved = _approved(tmp_path)
    path = approved.path / TRAJECTORIES
    # Changed after the gate let it through, still valid trajectories: only the hash tells.
    path.write_bytes(path.read_bytes()[:-1] + b" \n")
    with pytest.raises(StaleApprovalError, match=f"{TRAJECTORIES} changed since it was approved"):
        list(iter_sessions(approved))


def test_a_trajectories_file_missing_from_the_approval_is_refused(tmp_path):
    approved = _approved(tmp_path)
    files = {k: v for k, v in approved.files.items() if k != TRAJECTORIES}
    narrowed = dataclasses.replace(approved, files=files)
    with pytest.raises(CorruptSourceError, match="missing from the approved export"):
        list(iter_sessions(narrowed))


def test_a_line_that_is_no_trajectory_names_its_line(tmp_path):
    approved = _approved(tmp_path)
    path = approved.path / TRAJECTORIES
    path.write_bytes(path.read_bytes() + b'{"no": "atif"}\n')
    # Approved as it is now (so the hash matches): the content itself is refused.
    files = {**approved.files, TRAJECTORIES: hashlib.sha256(path.read_bytes()).hexdigest()}
    with pytest.raises(CorruptSourceError, match="line 4: not a Model Lab ATIF trajectory"):
        list(iter_sessions(dataclasses.replace(approved, files=files)))
