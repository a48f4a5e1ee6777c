"""Every package's ``__all__`` names exactly what it exports, and nothing is missing."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "modellab",
    "modellab.errors",
    "modellab.settings",
    "modellab.traces",
    "modellab.sources",
    "modellab.store",
    "modellab.export",
    "modellab.gate",
    "modellab.gate.layout",
    "modellab.plugins",
    "modellab.promote",
    "modellab.redact",
    "modellab.workset",
    "modellab.cli.options",
]

#: Approval has one owner, ``modellab.gate``: no other package re-exports it.
GATE_NAMES = {
    "APPROVAL_MARKER",
    "Approval",
    "ApprovedExport",
    "MarkedApproval",
    "REDACTED",
    "approval_marks",
    "approve_export",
    "open_approved",
    "require_approved",
    "verify_built_from",
}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_only_real_public_names(name):
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    for public in exported:
        assert getattr(module, public) is not None
        assert not public.startswith("_") or public == "__version__"


@pytest.mark.parametrize("name", ["modellab.plugins", "modellab.redact"])
def test_the_gate_is_not_re_exported(name):
    module = importlib.import_module(name)
    assert not GATE_NAMES & set(module.__all__)
    assert not [n for n in GATE_NAMES if hasattr(module, n)]


def test_the_workset_facade_re_exports_only_the_gates_reader():
    """Worksets read approved exports; approving one stays the core's (and the user's) act."""
    workset = importlib.import_module("modellab.workset")
    assert GATE_NAMES & set(workset.__all__) == {"ApprovedExport", "open_approved"}


def test_version_is_lazy_and_resolves():
    import modellab

    assert isinstance(modellab.__version__, str)
    with pytest.raises(AttributeError):
        _ = modellab.no_such_attribute  # type: ignore[attr-defined]
