"""Choosing the model: explicit endpoints, CodeWhale providers, ``current`` and keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from modellab.errors import EvalError
from modellab.evals import endpoint_from_args

CONFIG = """\
# my CodeWhale config
provider = "local-coder"
default_text_model = "coder-7b-ft"

[providers.local-coder]
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"
model = "coder-7b"
auth_mode = "none"
context_window = 32768

[providers.hosted]
base_url = "https://llm.example.com/v1"
model = "big-model"
api_key_env = "HOSTED_KEY"

[providers.nvidia_nim]
base_url = "https://nim.example.com/v1"
model = "nim-model"
api_key = "nvapi-literal"

[providers.leaky]
base_url = "http://llm.example.com/v1"
model = "m"
api_key = "sk-leak"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def _resolve(config: Path, env: dict[str, str] | None = None, **kwargs: str | None):
    args: dict[str, str | None] = {
        "model": None,
        "base_url": None,
        "provider": None,
        "api_key_env": None,
        "label": None,
    }
    args.update(kwargs)
    return endpoint_from_args(config_path=config, env=env or {}, **args)  # type: ignore[arg-type]


def test_current_is_the_provider_and_default_model(config: Path) -> None:
    endpoint = _resolve(config, provider="current")
    assert endpoint.base_url == "http://127.0.0.1:8000/v1"
    assert endpoint.model == "coder-7b-ft"  # default_text_model wins over the table's model
    assert endpoint.api_key is None and endpoint.context_window == 32768
    assert endpoint.label == "current (local-coder)"


def test_codewhale_environment_overrides_apply_to_current(config: Path) -> None:
    env = {"CODEWHALE_PROVIDER": "hosted", "CODEWHALE_MODEL": "other", "HOSTED_KEY": "k1"}
    endpoint = _resolve(config, env, provider="current")
    assert (endpoint.base_url, endpoint.model, endpoint.api_key) == (
        "https://llm.example.com/v1",
        "other",
        "k1",
    )
    assert endpoint.key_source == "env HOSTED_KEY"
    assert "k1" not in repr(endpoint)


def test_provider_tables_builtins_and_hyphenated_ids(config: Path) -> None:
    nim = _resolve(config, provider="nvidia-nim")
    assert nim.model == "nim-model" and nim.api_key == "nvapi-literal"
    vllm = _resolve(config, {"VLLM_MODEL": "served", "VLLM_API_KEY": "v"}, provider="vllm")
    assert (vllm.base_url, vllm.model, vllm.api_key) == ("http://localhost:8000/v1", "served", "v")


def test_bad_choices_name_what_is_wrong(config: Path, tmp_path: Path) -> None:
    with pytest.raises(EvalError, match=r"no \[providers.nope\] table"):
        _resolve(config, provider="nope")
    with pytest.raises(EvalError, match="plain http"):
        _resolve(config, provider="leaky")
    with pytest.raises(EvalError, match="needs --model"):
        _resolve(config, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(EvalError, match="not an http"):
        _resolve(config, base_url="ftp://x", model="m")
    with pytest.raises(EvalError, match="LAB_KEY"):
        _resolve(config, base_url="https://x/v1", model="m", api_key_env="LAB_KEY")
    broken = tmp_path / "broken.toml"
    broken.write_text("provider = \n")
    with pytest.raises(EvalError, match=r"broken\.toml"):
        _resolve(broken, provider="current")
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing\n")
    with pytest.raises(EvalError, match=r"config\.toml does not exist"):
        _resolve(tmp_path / "missing" / "config.toml", provider="current")
    with pytest.raises(EvalError, match="no 'provider' set"):
        _resolve(empty, provider="current")
    with pytest.raises(EvalError, match="no model chosen"):
        _resolve(config)


def test_recorded_and_explicit(config: Path) -> None:
    assert _resolve(config, model="recorded").recorded
    explicit = _resolve(config, {"K": "s"}, base_url="https://h/v1", model="m", api_key_env="K")
    assert explicit.chat_url == "https://h/v1/chat/completions" and explicit.api_key == "s"
