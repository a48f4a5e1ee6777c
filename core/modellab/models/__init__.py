"""Installed models: sources, passports, the store under ``MODELLAB_HOME/models``, and chat
templates (rendered sandboxed, their features found by rendering).

The chat-template helpers are light (jinja2 only); the store and passports import pydantic
and the catalog, so they load on first use (``from modellab.models import open_installed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modellab.models._template import (
    TemplateError,
    TemplateFeatures,
    read_chat_template,
    render_template,
    render_with_generation_spans,
    template_features,
)

if TYPE_CHECKING:
    from modellab.models._errors import (
        ModelFileChangedError,
        ModelFormatError,
        ModelNotFoundError,
    )
    from modellab.models._passport import Passport, Provenance, TemplateSupport
    from modellab.models._sources import (
        BUILTIN_SOURCES,
        Fetched,
        GgufFileSource,
        HfFolderSource,
        ModelSource,
        PypiSource,
        WheelSource,
    )
    from modellab.models._store import (
        InstalledModel,
        StagedInstall,
        already_installed,
        commit_install,
        list_installed,
        models_dir,
        open_installed,
        register_candidate,
        remove_installed,
        stage_install,
    )

__all__ = [
    "BUILTIN_SOURCES",
    "Fetched",
    "GgufFileSource",
    "HfFolderSource",
    "InstalledModel",
    "ModelFileChangedError",
    "ModelFormatError",
    "ModelNotFoundError",
    "ModelSource",
    "Passport",
    "Provenance",
    "PypiSource",
    "StagedInstall",
    "TemplateError",
    "TemplateFeatures",
    "TemplateSupport",
    "WheelSource",
    "already_installed",
    "commit_install",
    "list_installed",
    "models_dir",
    "open_installed",
    "read_chat_template",
    "register_candidate",
    "remove_installed",
    "render_template",
    "render_with_generation_spans",
    "stage_install",
    "template_features",
]

_LAZY = {
    "_errors": ("ModelFileChangedError", "ModelFormatError", "ModelNotFoundError"),
    "_passport": ("Passport", "Provenance", "TemplateSupport"),
    "_sources": (
        "BUILTIN_SOURCES",
        "Fetched",
        "GgufFileSource",
        "HfFolderSource",
        "ModelSource",
        "PypiSource",
        "WheelSource",
    ),
    "_store": (
        "InstalledModel",
        "StagedInstall",
        "already_installed",
        "commit_install",
        "list_installed",
        "models_dir",
        "open_installed",
        "register_candidate",
        "remove_installed",
        "stage_install",
    ),
}


def __getattr__(name: str) -> Any:
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(f"modellab.models.{module}"), name)
    raise AttributeError(f"module 'modellab.models' has no attribute {name!r}")
