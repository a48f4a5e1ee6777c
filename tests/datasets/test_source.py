"""The export is streamed and checked against its approval while it is read."""

from __future__ import annotations

import pytest

from datasets.builders import mixed
from factories import exported
from modellab.datasets._source import TRAJECTORIES, iter_sessions, open_export
from modellab.errors import CorruptSourceError, StaleApprovalError
from modellab.redact import require_approved
from modellab.store import Catalog


def _approved(tmp_path):
    export = exported(tmp_path, mixed())
    from modellab.settings import Settings

    with Catalog(Settings.from_env().catalog_path) as catalog:
        return require_approved(export, catalog=catalog)


def test_sessions_stream_in_file_order(tmp_path):
    approval = _approved(tmp_path)
    records = list(iter_sessions(open_export(approval.export_dir, approval.files)))
    assert [r.session.id for r in records] == ["bad", "good", "retry"]
    assert [r.line for r in records] == [1, 2, 3]


def test_bytes_that_differ_from_the_approval_are_refused(tmp_path):
    approval = _approved(tmp_path)
    changed = {**approval.files, TRAJECTORIES: "0" * 64}
    with pytest.raises(StaleApprovalError, match="changed while the dataset was being built"):
        list(iter_sessions(open_export(approval.export_dir, changed)))
    missing = {k: v for k, v in approval.files.items() if k != TRAJECTORIES}
    with pytest.raises(CorruptSourceError, match="missing from the approved export"):
        open_export(approval.export_dir, missing)
