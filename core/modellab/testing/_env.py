"""A test's environment, isolated: no user home, no Model Lab or agent settings, no tokens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["isolate_home"]

#: Variables that would point Model Lab, the agents it reads, or a proxy at the user's own
#: set-up; each fixture run starts without them.
_STRIPPED_PREFIXES = ("MODELLAB_", "CODEWHALE_", "DEEPSEEK_", "CODEX_", "CLAUDE_")
_STRIPPED_NAMES = frozenset(
    {
        *("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"),
        *("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "HUGGINGFACE_API_KEY"),
    }
)


def isolate_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """Point ``HOME`` and ``MODELLAB_HOME`` into ``home`` (created) and remove Model Lab's,
    the agents' and proxy variables and API tokens, for the test's duration; returns ``home``."""
    for key in list(os.environ):
        if key.startswith(_STRIPPED_PREFIXES) or key in _STRIPPED_NAMES:
            monkeypatch.delenv(key)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MODELLAB_HOME", str(home / ".modellab"))
    return home
