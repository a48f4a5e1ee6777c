"""Fixtures for promotion: a lab whose CodeWhale home is inside the test's folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promote.helpers import Lab


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """A lab whose CodeWhale home is ``tmp_path/codewhale`` (via ``CODEWHALE_HOME``)."""
    monkeypatch.setenv("CODEWHALE_HOME", str(tmp_path / "codewhale"))
    yield Lab(tmp_path)
