"""Read and edit CodeWhale's ``config.toml`` without disturbing anything else in it.

The edit goes through tomlkit, which keeps comments, ordering and formatting of everything
it is not told to change. Two top-level keys (``provider``, ``default_text_model``) and one
table (``[providers.<name>]``) are set; inside that table only the keys Model Lab emits
change, so a hand-added ``reasoning_stream_style`` or ``http_headers`` survives. The result
is then read back with the standard library's own TOML parser and compared with the intent,
and with the old file minus those keys, before anything is written.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modellab.errors import ConfigFileError, PromotionError, UsageError

__all__ = [
    "ConfigSnapshot",
    "ProviderEntry",
    "config_diff",
    "default_provider_name",
    "known_context_window",
    "read_config",
    "render_config",
]

#: Keys of ``[providers.<name>]`` that Model Lab owns; any other key there is the user's.
_OWNED_KEYS = ("kind", "base_url", "model", "context_window", "auth_mode", "api_key_env")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """The config file as read: ``data`` is ``None`` when there was no file."""

    path: Path
    data: bytes | None
    #: Permission bits of the file, kept when it is replaced.
    mode: int | None

    @property
    def sha256(self) -> str | None:
        """The sha256 of the bytes, or ``None`` for "no file"."""
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str | None:
        """The file as text (it was checked to be UTF-8 when read)."""
        return None if self.data is None else self.data.decode("utf-8")


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """The provider table Model Lab writes, and the keys that select it."""

    name: str
    base_url: str
    model: str
    context_window: int
    #: The environment variable holding the key; ``None`` writes ``auth_mode = "none"``.
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise UsageError(
                f"--provider-name: {self.name!r} may only hold letters, digits, '-' and '_'",
                hint="CodeWhale selects the table [providers.<name>] by this name",
            )
        if self.context_window < 1:
            raise UsageError(f"--context-window must be positive, not {self.context_window}")
        if self.api_key_env is not None and not _ENV_NAME.match(self.api_key_env):
            raise UsageError(f"--api-key-env: {self.api_key_env!r} is not a variable name")
        from modellab.evals import is_loopback  # one definition of "this machine"

        if self.api_key_env is None and not is_loopback(self.base_url):
            # A remote server without a key would either fail in CodeWhale or be open to all.
            raise UsageError(
                f"{self.base_url} is not on this machine, so it needs an API key",
                hint="pass --api-key-env NAME: the variable CodeWhale reads the key from",
            )

    def table(self) -> dict[str, Any]:
        """The keys of ``[providers.<name>]``, in the order they are written."""
        values: dict[str, Any] = {
            "kind": "openai-compatible",
            "base_url": self.base_url,
            "model": self.model,
            "context_window": self.context_window,
        }
        if self.api_key_env is None:
            values["auth_mode"] = "none"
        else:
            values["api_key_env"] = self.api_key_env
        return values


def default_provider_name(model: str) -> str:
    """``modellab-<model>``, lower-cased, with anything but letters and digits as ``-``."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    return f"modellab-{slug or 'model'}"


def read_config(path: Path) -> ConfigSnapshot:
    """The config's bytes and mode; a missing file is a snapshot with ``data=None``."""
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return ConfigSnapshot(path=path, data=None, mode=None)
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read CodeWhale's config ({exc.strerror})") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigFileError(path, "not UTF-8 text, so not TOML", line=line) from None
    return ConfigSnapshot(path=path, data=data, mode=mode)


def _parse(path: Path, text: str) -> Any:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigFileError(
            path,
            f"not valid TOML ({exc})",
            line=exc.line,
            hint="fix the file (CodeWhale cannot read it either), then run the command again",
        ) from None


def known_context_window(snapshot: ConfigSnapshot, base_url: str, model: str) -> int | None:
    """The ``context_window`` of a provider table already serving ``model`` at ``base_url``.

    Only an exact match counts: the window is a property of how that server was started,
    and a guess from the model's name could make CodeWhale overflow it.
    """
    if snapshot.text is None:
        return None
    try:
        providers = tomllib.loads(snapshot.text).get("providers")
    except tomllib.TOMLDecodeError:
        return None  # render_config reports the error with its line
    if not isinstance(providers, dict):
        return None
    for table in providers.values():
        if not isinstance(table, dict):
            continue
        window = table.get("context_window")
        same_url = str(table.get("base_url", "")).rstrip("/") == base_url.rstrip("/")
        if same_url and table.get("model") == model and isinstance(window, int) and window > 0:
            return window
    return None


def _providers_container(path: Path, document: Any) -> Any:
    import tomlkit
    from tomlkit.items import InlineTable, Table

    providers = document.get("providers")
    if providers is None:
        # A super-table prints as [providers.<name>] with no empty [providers] header.
        providers = tomlkit.table(is_super_table=True)
        document["providers"] = providers
        return document["providers"]
    if not isinstance(providers, Table | InlineTable | dict):
        raise ConfigFileError(path, "'providers' is not a table", hint="fix the file by hand")
    return providers


def _set_provider(path: Path, document: Any, entry: ProviderEntry) -> None:
    import tomlkit
    from tomlkit.items import InlineTable

    providers = _providers_container(path, document)
    values = entry.table()
    existing = providers.get(entry.name)
    if existing is None:
        table = tomlkit.inline_table() if isinstance(providers, InlineTable) else tomlkit.table()
        for key, value in values.items():
            table[key] = value
        if not isinstance(providers, InlineTable):
            # A blank line after the table, as before any other; trimmed again at the end
            # of the file by render_config.
            table.add(tomlkit.nl())
        providers[entry.name] = table
        return
    if not isinstance(existing, dict):
        raise ConfigFileError(path, f"'providers.{entry.name}' is not a table")
    # Update in place: tomlkit keeps each key's position and trailing comment.
    for key in _OWNED_KEYS:
        if key in values:
            existing[key] = values[key]
        elif key in existing:
            del existing[key]  # auth_mode and api_key_env exclude each other


def _set_top_level(document: Any, key: str, value: str) -> None:
    if key in document:
        document[key] = value
        return
    # A new top-level key must come before the first table, or TOML would put it inside
    # that table; tomlkit's Document.add places plain values there.
    document.add(key, value)


def _check_result(path: Path, old_text: str | None, new_text: str, entry: ProviderEntry) -> None:
    """Read the edit back with another parser; refuse to write anything unexpected."""
    try:
        new = tomllib.loads(new_text)
        old = tomllib.loads(old_text) if old_text is not None else {}
    except tomllib.TOMLDecodeError as exc:
        raise PromotionError(f"{path}: the edited config would not be valid TOML ({exc})") from None
    table = new.get("providers", {}).get(entry.name, {})
    wanted = entry.table()
    problems = [k for k, v in wanted.items() if table.get(k) != v]
    if new.get("provider") != entry.name or new.get("default_text_model") != entry.model:
        problems.append("provider/default_text_model")

    def without_ours(config: dict[str, Any]) -> dict[str, Any]:
        config = {k: v for k, v in config.items() if k not in {"provider", "default_text_model"}}
        providers = dict(config.get("providers", {}))
        mine = {k: v for k, v in providers.pop(entry.name, {}).items() if k not in _OWNED_KEYS}
        if mine:
            providers[entry.name] = mine
        if providers:
            config["providers"] = providers
        else:
            config.pop("providers", None)
        return config

    if problems or without_ours(old) != without_ours(new):
        raise PromotionError(
            f"{path}: editing the config would change more than the provider "
            f"({', '.join(problems) or 'other settings'}); nothing was written",
            hint="set provider, default_text_model and the [providers] table by hand",
        )


def render_config(snapshot: ConfigSnapshot, entry: ProviderEntry) -> str:
    """The config's text with ``entry`` made the default provider; everything else kept.

    Raises:
        ConfigFileError: the current file is not TOML, or ``providers`` is not a table.
        PromotionError: the edit would change anything else (checked by re-parsing).
    """
    import tomlkit

    old_text = snapshot.text
    document = _parse(snapshot.path, old_text) if old_text is not None else tomlkit.document()
    _set_top_level(document, "provider", entry.name)
    _set_top_level(document, "default_text_model", entry.model)
    _set_provider(snapshot.path, document, entry)
    new_text = tomlkit.dumps(document)
    # The file ends with as many newlines as before (at least one: TOML wants it).
    trailing = 1 if old_text is None else len(old_text) - len(old_text.rstrip("\n"))
    new_text = new_text.rstrip("\n") + "\n" * max(trailing, 1)
    _check_result(snapshot.path, old_text, new_text, entry)
    return new_text


def config_diff(path: Path, old: str | None, new: str | None) -> str:
    """A unified diff of the config change (``/dev/null`` for a file that is absent)."""
    before = "/dev/null" if old is None else f"{path} (now)"
    after = "/dev/null" if new is None else f"{path} (after)"
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=before,
        tofile=after,
    )
    # Files without a final newline would run two diff lines together.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
