"""Settings, resolved once at the CLI edge and passed down.

Precedence: command-line flags, then ``MODELLAB_*`` (and agent ``*_HOME``) environment
variables, then defaults. Nothing here runs at import time, and reading a path never creates
it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


def _user_home(env: Mapping[str, str]) -> Path:
    for key in ("HOME", "USERPROFILE"):
        value = env.get(key)
        if value:
            return Path(value)
    return Path.home()


def _path_from_env(env: Mapping[str, str], key: str, default: Path, home: Path) -> Path:
    value = env.get(key)
    if not value:
        return default
    if value.startswith("~"):
        return home / value[1:].lstrip("/\\")
    return Path(value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Where Model Lab keeps its catalog and where agents keep their sessions."""

    #: The lab's own folder: the catalog and exports live here.
    home: Path
    #: CodeWhale's home (``$CODEWHALE_HOME`` or ``~/.codewhale``).
    codewhale_home: Path
    #: Legacy DeepSeek-TUI home, read only when ``CODEWHALE_HOME`` is unset.
    legacy_codewhale_home: Path | None
    #: Claude Code's home (``$CLAUDE_CONFIG_DIR`` or ``~/.claude``).
    claude_home: Path
    #: Codex CLI's home (``$CODEX_HOME`` or ``~/.codex``).
    codex_home: Path
    #: Load no workset at all (``--no-worksets`` or ``MODELLAB_NO_WORKSETS=1``).
    no_worksets: bool = False
    #: CodeWhale's ``config.toml``, when ``$CODEWHALE_CONFIG_PATH`` names it; otherwise
    #: :attr:`codewhale_config_path` derives it from the home.
    codewhale_config_override: Path | None = None

    @property
    def codewhale_config_path(self) -> Path:
        """CodeWhale's ``config.toml``: the providers evals read and promotion writes.

        ``$CODEWHALE_CONFIG_PATH`` wins, as in CodeWhale itself; otherwise the file in
        CodeWhale's home. The legacy ``~/.deepseek/config.toml`` is never written to.
        """
        return self.codewhale_config_override or self.codewhale_home / "config.toml"

    @property
    def catalog_path(self) -> Path:
        """The SQLite catalog file."""
        return self.home / "catalog.sqlite3"

    @property
    def redaction_key_path(self) -> Path:
        """The per-installation secret that keys the value hashes in redaction reports."""
        return self.home / "redaction.key"

    @property
    def worksets_dir(self) -> Path:
        """Installed worksets (one folder per workset and version) and the command index."""
        return self.home / "worksets"

    @property
    def exports_dir(self) -> Path:
        """Where exports go when no ``--out`` is given."""
        return self.home / "exports"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        home: Path | None = None,
        no_worksets: bool | None = None,
    ) -> Settings:
        """Build settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if env is None else env
        user = _user_home(env)
        lab_home = home or _path_from_env(env, "MODELLAB_HOME", user / ".modellab", user)
        codewhale_set = bool(env.get("CODEWHALE_HOME"))
        if no_worksets is None:
            no_worksets = env.get("MODELLAB_NO_WORKSETS", "").lower() in {"1", "true", "yes"}
        return cls(
            home=lab_home,
            codewhale_home=_path_from_env(env, "CODEWHALE_HOME", user / ".codewhale", user),
            # CodeWhale itself never reads legacy data when CODEWHALE_HOME is set.
            legacy_codewhale_home=None if codewhale_set else user / ".deepseek",
            claude_home=_path_from_env(env, "CLAUDE_CONFIG_DIR", user / ".claude", user),
            codex_home=_path_from_env(env, "CODEX_HOME", user / ".codex", user),
            no_worksets=no_worksets,
            codewhale_config_override=(
                _path_from_env(env, "CODEWHALE_CONFIG_PATH", user, user)
                if env.get("CODEWHALE_CONFIG_PATH")
                else None
            ),
        )
