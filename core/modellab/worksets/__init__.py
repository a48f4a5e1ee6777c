"""Worksets: optional, separately versioned, signed packs of hooks and commands.

A workset is inert until it is installed through a registry, its signature verified, its
manifest shown and consented to, and it is enabled. Listing, showing, disabling and removing
worksets never imports their code.

Names load lazily: ``modellab --help`` reads the small command index in
``modellab.worksets._commands`` and must not pay for pydantic or the catalog.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing costs start-up time (see modellab.cli).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from modellab.worksets._discovery import ENTRY_POINT_GROUP, Found, find_in, find_in_core
    from modellab.worksets._loader import (
        Active,
        active_worksets,
        register_worksets,
        site_of,
    )
    from modellab.worksets._manifest import WorksetManifest, load_manifest
    from modellab.worksets._state import InstallRecord, RegistryRecord, WorksetState

__all__ = [
    "ENTRY_POINT_GROUP",
    "Active",
    "Found",
    "InstallRecord",
    "RegistryRecord",
    "WorksetManifest",
    "WorksetState",
    "active_worksets",
    "find_in",
    "find_in_core",
    "load_manifest",
    "register_worksets",
    "site_of",
]

_HOMES = {
    "ENTRY_POINT_GROUP": "_discovery",
    "Found": "_discovery",
    "find_in": "_discovery",
    "find_in_core": "_discovery",
    "Active": "_loader",
    "active_worksets": "_loader",
    "register_worksets": "_loader",
    "site_of": "_loader",
    "WorksetManifest": "_manifest",
    "load_manifest": "_manifest",
    "InstallRecord": "_state",
    "RegistryRecord": "_state",
    "WorksetState": "_state",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'modellab.worksets' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"modellab.worksets.{home}"), name)
