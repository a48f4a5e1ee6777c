"""Synthetic workset source folders for tests: the testing kit's builder, under its old name
for the tests that import it from here."""

from __future__ import annotations

from modellab.testing._builders import MANIFEST, PLUGIN, make_workset

__all__ = ["MANIFEST", "PLUGIN", "make_workset"]
