"""The SQLite catalog of imported sessions, captures, exports and the audit log."""

from modellab.store._catalog import Catalog, Selection, SessionRow, UpsertResult, utc_now
from modellab.store._migrations import SCHEMA_VERSION
from modellab.store._objects import ObjectStore
from modellab.store._review import ReviewState

__all__ = [
    "SCHEMA_VERSION",
    "Catalog",
    "ObjectStore",
    "ReviewState",
    "Selection",
    "SessionRow",
    "UpsertResult",
    "utc_now",
]
