"""The CodeWhale provider block that talks to a served model."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellab.serving._records import Server

__all__ = ["provider_name", "provider_table", "provider_toml"]


def provider_name(model: str) -> str:
    """``modellab-<model>``: the ``[providers.NAME]`` table CodeWhale selects."""
    return "modellab-" + re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


def provider_table(server: Server) -> dict[str, Any]:
    """The keys of ``[providers.NAME]`` for ``server`` (no key: it is on this machine)."""
    return {
        "kind": "openai-compatible",
        "base_url": server.base_url,
        "model": server.served_model,
        "context_window": server.context_window,
        "auth_mode": "none",
    }


def provider_toml(server: Server) -> str:
    """The block to paste into CodeWhale's ``config.toml``."""
    import tomli_w

    name = provider_name(server.model)
    return tomli_w.dumps({"providers": {name: provider_table(server)}}).strip()
