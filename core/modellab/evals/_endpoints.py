"""Which model an eval talks to: an explicit endpoint, a CodeWhale provider, or the trace.

* ``--base-url URL --model NAME``: any OpenAI-compatible chat endpoint.
* ``--provider NAME``: a provider from CodeWhale's ``config.toml`` (``[providers.<name>]``
  or a built-in one such as ``vllm`` or ``ollama``).
* ``current``: the provider and model CodeWhale uses now, including its
  ``CODEWHALE_PROVIDER``/``CODEWHALE_MODEL``/``CODEWHALE_BASE_URL`` overrides.
* ``recorded``: no model at all; the recorded actions, which must score 100%.

API keys come from the environment or from CodeWhale's config. They live only in the
:class:`Endpoint` in memory (hidden from ``repr``), are sent only as a bearer token to the
endpoint they belong to, and are never logged or stored.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modellab.errors import EvalError

__all__ = ["RECORDED", "Endpoint", "endpoint_from_args", "is_loopback"]

#: The label of the built-in model that answers with the recorded actions.
RECORDED = "recorded"

#: CodeWhale's built-in providers: default base URL and the environment variables it reads
#: for the URL, the model and the key (codewhale-format.md §6).
_BUILTIN: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "vllm": ("http://localhost:8000/v1", ("VLLM_BASE_URL",), ("VLLM_MODEL",), ("VLLM_API_KEY",)),
    "sglang": ("http://localhost:30000/v1", ("SGLANG_BASE_URL",), ("SGLANG_MODEL",), ()),
    "ollama": ("http://localhost:11434/v1", ("OLLAMA_BASE_URL",), ("OLLAMA_MODEL",), ()),
    "openai": (
        "https://api.openai.com/v1",
        ("OPENAI_BASE_URL",),
        ("OPENAI_MODEL",),
        ("OPENAI_API_KEY",),
    ),
    "huggingface": (
        "https://router.huggingface.co/v1",
        ("HUGGINGFACE_BASE_URL", "HF_BASE_URL"),
        ("HUGGINGFACE_MODEL", "HF_MODEL"),
        ("HUGGINGFACE_API_KEY", "HF_TOKEN"),
    ),
    "openrouter": ("https://openrouter.ai/api/v1", (), (), ("OPENROUTER_API_KEY",)),
    "deepseek": (
        "https://api.deepseek.com/v1",
        ("DEEPSEEK_BASE_URL",),
        ("DEEPSEEK_MODEL",),
        ("DEEPSEEK_API_KEY",),
    ),
}
_ALIASES = {"hf": "huggingface", "hugging-face": "huggingface"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A model to evaluate: where it is served and under which name."""

    #: What reports call it: ``recorded``, a provider name, or the model name.
    label: str
    model: str
    #: The OpenAI-compatible base URL (ending before ``/chat/completions``); ``None`` for
    #: the recorded model.
    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    #: Where the key came from (``env OPENAI_API_KEY``), for messages; never the key.
    key_source: str | None = None
    context_window: int | None = None

    @property
    def recorded(self) -> bool:
        """True for the model that answers with the recorded actions."""
        return self.base_url is None

    @property
    def chat_url(self) -> str:
        """The chat-completions URL."""
        if self.base_url is None:
            raise EvalError("the recorded model has no URL")
        return self.base_url.rstrip("/") + "/chat/completions"


def is_loopback(url: str) -> bool:
    """True when ``url`` points at this machine (``localhost`` or a loopback address)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, where: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EvalError(f"{where}: {url!r} is not an http(s) URL")
    return url


def _refuse_plain_http_key(endpoint: Endpoint) -> Endpoint:
    url = endpoint.base_url
    if endpoint.api_key and url and url.startswith("http://") and not is_loopback(url):
        raise EvalError(
            f"{endpoint.label}: refusing to send an API key over plain http to {url}",
            hint="use https, or a loopback address for a local server",
        )
    return endpoint


def _load_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise EvalError(
            f"{path}: CodeWhale's config.toml does not exist",
            hint="pass --base-url and --model, or set CODEWHALE_CONFIG_PATH",
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EvalError(f"{path}: cannot read CodeWhale's config: {exc}") from None


def _provider_table(config: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    providers = config.get("providers")
    if not isinstance(providers, dict):
        return None
    # Table keys use underscores where provider ids use hyphens (nvidia_nim / nvidia-nim).
    for key in (name, name.replace("-", "_"), _ALIASES.get(name, name)):
        table = providers.get(key)
        if isinstance(table, dict):
            return table
    return None


def _first_env(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        if env.get(name):
            return name, env[name]
    return None


def _provider_endpoint(
    config: Mapping[str, Any],
    config_path: Path,
    provider: str,
    env: Mapping[str, str],
    *,
    model_override: str | None = None,
    base_url_override: str | None = None,
) -> Endpoint:
    canonical = _ALIASES.get(provider, provider)
    table = _provider_table(config, provider) or {}
    builtin = _BUILTIN.get(canonical)
    if not table and builtin is None:
        raise EvalError(
            f"{config_path}: no [providers.{provider}] table, and {provider!r} is not a "
            f"built-in provider ({', '.join(sorted(_BUILTIN))})"
        )
    url_env = _first_env(env, builtin[1]) if builtin else None
    base_url = (
        base_url_override
        or table.get("base_url")
        or (url_env[1] if url_env else None)
        or (builtin[0] if builtin else None)
    )
    if not isinstance(base_url, str):
        raise EvalError(f"{config_path}: [providers.{provider}] field 'base_url' is missing")
    model_env = _first_env(env, builtin[2]) if builtin else None
    model = model_override or table.get("model") or (model_env[1] if model_env else None)
    if not isinstance(model, str) or not model:
        raise EvalError(
            f"{config_path}: no model for provider {provider!r} (field 'model' of "
            f"[providers.{provider}], or 'default_text_model')"
        )
    key, source = _provider_key(table, builtin, env, provider)
    window = table.get("context_window")
    endpoint = Endpoint(
        label=provider,
        model=model,
        base_url=_check_url(base_url, f"{config_path}: [providers.{provider}] base_url"),
        api_key=key,
        key_source=source,
        context_window=window if isinstance(window, int) else None,
    )
    return _refuse_plain_http_key(endpoint)


def _provider_key(
    table: Mapping[str, Any],
    builtin: tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None,
    env: Mapping[str, str],
    provider: str,
) -> tuple[str | None, str | None]:
    if table.get("auth_mode") == "none":
        return None, None
    if isinstance(table.get("api_key"), str) and table["api_key"]:
        return table["api_key"], f"config [providers.{provider}] api_key"
    names: tuple[str, ...] = ()
    if isinstance(table.get("api_key_env"), str):
        names = (table["api_key_env"],)
    elif builtin is not None:
        names = builtin[3]
    found = _first_env(env, names)
    return (found[1], f"env {found[0]}") if found else (None, None)


def current_endpoint(config_path: Path, env: Mapping[str, str]) -> Endpoint:
    """The provider and model CodeWhale uses now."""
    config = _load_config(config_path) if config_path.exists() else {}
    provider = env.get("CODEWHALE_PROVIDER") or config.get("provider")
    if not config_path.exists() and not provider:
        raise EvalError(
            f"{config_path}: CodeWhale's config.toml does not exist, so there is no current "
            "model to compare with",
            hint="set CODEWHALE_CONFIG_PATH or CODEWHALE_HOME, or name the baseline with "
            "--baseline-base-url/--baseline-model",
        )
    if not isinstance(provider, str) or not provider:
        raise EvalError(
            f"{config_path}: no 'provider' set, so there is no current model to compare with",
            hint="set provider and default_text_model in CodeWhale's config, or use --against "
            "with --baseline-base-url/--baseline-model",
        )
    model = env.get("CODEWHALE_MODEL") or config.get("default_text_model")
    return _provider_endpoint(
        config,
        config_path,
        provider,
        env,
        model_override=model if isinstance(model, str) else None,
        base_url_override=env.get("CODEWHALE_BASE_URL"),
    )


def endpoint_from_args(
    *,
    model: str | None,
    base_url: str | None,
    provider: str | None,
    api_key_env: str | None,
    label: str | None,
    config_path: Path,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Resolve the model the user named on the command line.

    Exactly one way must be used: ``--model recorded``, ``--base-url`` with ``--model``,
    ``--provider NAME``, or ``--provider current``.
    """
    env = os.environ if env is None else env
    if base_url is not None:
        if provider is not None:
            raise EvalError("give --base-url or --provider, not both")
        if not model:
            raise EvalError("--base-url needs --model (the name the server serves)")
        key = None
        source = None
        if api_key_env:
            if not env.get(api_key_env):
                raise EvalError(f"--api-key-env {api_key_env}: that variable is not set")
            key, source = env[api_key_env], f"env {api_key_env}"
        endpoint = Endpoint(
            label=label or model,
            model=model,
            base_url=_check_url(base_url, "--base-url"),
            api_key=key,
            key_source=source,
        )
        return _refuse_plain_http_key(endpoint)
    if provider == "current":
        found = current_endpoint(config_path, env)
        return replace(found, label=label or f"current ({found.label})")
    if provider is not None:
        config = _load_config(config_path) if config_path.exists() else {}
        found = _provider_endpoint(config, config_path, provider, env, model_override=model)
        return found if label is None else replace(found, label=label)
    if model == RECORDED:
        return Endpoint(label=label or RECORDED, model=RECORDED, base_url=None)
    raise EvalError(
        "no model chosen",
        hint="use --model recorded, --base-url URL --model NAME, --provider NAME or "
        "--provider current",
    )
