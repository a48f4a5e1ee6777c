"""Fixtures the attack tests share with tests/workset_core: a real, keyed, trusted local
registry, and forgetting workset modules imported in-process between tests."""

from workset_core.conftest import forget_imported_worksets, publisher

__all__ = ["forget_imported_worksets", "publisher"]
