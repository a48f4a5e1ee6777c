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
    "modellab.plugins",
    "modellab.promote",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_only_real_public_names(name):
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    for public in exported:
        assert getattr(module, public) is not None
        assert not public.startswith("_") or public == "__version__"


def test_version_is_lazy_and_resolves():
    import modellab

    assert isinstance(modellab.__version__, str)
    with pytest.raises(AttributeError):
        _ = modellab.no_such_attribute  # type: ignore[attr-defined]
