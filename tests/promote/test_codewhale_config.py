"""Editing CodeWhale's config.toml: only our keys change, everything else stays as written."""

from __future__ import annotations

import difflib
import tomllib

import pytest

from modellab.errors import ConfigFileError, UsageError
from modellab.promote import ProviderEntry, default_provider_name
from modellab.promote._codewhale_config import known_context_window, read_config, render_config

USER_CONFIG = """\
# My CodeWhale setup -- hand written, please keep my notes.
provider = "deepseek"   # the usual one
reasoning_effort = "high"

[tui]
status_items = ["mode", "model", "cost"]  # what I like to see

# Local models I try out.
[providers.ollama]
base_url = "http://localhost:11434/v1"
model = "qwen3:8b"

[providers.openrouter]
api_key_env = "OPENROUTER_API_KEY"   # never the key itself
model = "moonshotai/kimi-k2"

[notifications]
quiet = true
"""

ENTRY = ProviderEntry(
    name="modellab-ft", base_url="http://127.0.0.1:8000/v1", model="ft-7b", context_window=32768
)


def rendered(tmp_path, text, entry=ENTRY):
    path = tmp_path / "config.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return render_config(read_config(path), entry)


def changed_lines(old, new):
    """(removed, added) lines of a line diff."""
    diff = list(difflib.ndiff(old.splitlines(), new.splitlines()))
    removed = [line[2:] for line in diff if line.startswith("- ")]
    added = [line[2:] for line in diff if line.startswith("+ ")]
    return removed, added


def test_comments_order_and_other_providers_survive_exactly(tmp_path):
    new = rendered(tmp_path, USER_CONFIG)
    removed, added = changed_lines(USER_CONFIG, new)
    assert removed == ['provider = "deepseek"   # the usual one']
    assert added == [
        'provider = "modellab-ft"   # the usual one',
        'default_text_model = "ft-7b"',
        "[providers.modellab-ft]",
        'kind = "openai-compatible"',
        'base_url = "http://127.0.0.1:8000/v1"',
        'model = "ft-7b"',
        "context_window = 32768",
        'auth_mode = "none"',
        "",
    ]
    # Byte for byte: the user's text with exactly those lines changed, in those places.
    expected = (
        USER_CONFIG.replace('"deepseek"   # the usual one', '"modellab-ft"   # the usual one')
        .replace('"high"\n', '"high"\ndefault_text_model = "ft-7b"\n')
        .replace("[notifications]", "\n".join(added[2:]) + "\n[notifications]")
    )
    assert new == expected
    config = tomllib.loads(new)
    assert config["provider"] == "modellab-ft"
    assert config["providers"]["openrouter"]["api_key_env"] == "OPENROUTER_API_KEY"
    assert config["notifications"] == {"quiet": True}


def test_a_config_from_nothing(tmp_path):
    new = rendered(tmp_path, None)
    assert new == (
        'provider = "modellab-ft"\n'
        'default_text_model = "ft-7b"\n'
        "\n"
        "[providers.modellab-ft]\n"
        'kind = "openai-compatible"\n'
        'base_url = "http://127.0.0.1:8000/v1"\n'
        'model = "ft-7b"\n'
        "context_window = 32768\n"
        'auth_mode = "none"\n'
    )


def test_new_top_level_keys_go_before_the_first_table(tmp_path):
    new = rendered(tmp_path, "# only tables here\n[tui]\nstatus_items = []\n")
    config = tomllib.loads(new)
    assert config["default_text_model"] == "ft-7b"
    assert config["tui"] == {"status_items": []}
    assert new.startswith('# only tables here\nprovider = "modellab-ft"\n')


def test_an_existing_table_keeps_the_users_own_keys(tmp_path):
    text = (
        'provider = "modellab-ft"\n\n'
        "[providers.modellab-ft]\n"
        'base_url = "http://127.0.0.1:9000/v1"  # old port\n'
        'api_key_env = "OLD_KEY"\n'
        'reasoning_stream_style = "inline_tags"   # my model thinks\n'
        'model = "ft-6b"\n'
    )
    new = rendered(tmp_path, text)
    table = tomllib.loads(new)["providers"]["modellab-ft"]
    assert table["reasoning_stream_style"] == "inline_tags"
    assert table["auth_mode"] == "none" and "api_key_env" not in table
    assert 'reasoning_stream_style = "inline_tags"   # my model thinks' in new
    assert 'base_url = "http://127.0.0.1:8000/v1"  # old port' in new


def test_api_key_env_instead_of_no_auth(tmp_path):
    entry = ProviderEntry(
        name="remote",
        base_url="https://gpu.example.org/v1",
        model="ft",
        context_window=8192,
        api_key_env="FT_API_KEY",
    )
    table = tomllib.loads(rendered(tmp_path, USER_CONFIG, entry))["providers"]["remote"]
    assert table["api_key_env"] == "FT_API_KEY" and "auth_mode" not in table


def test_an_inline_providers_table(tmp_path):
    text = 'providers = { ollama = { model = "qwen3:8b" } }\n'
    config = tomllib.loads(rendered(tmp_path, text))
    assert config["providers"]["ollama"] == {"model": "qwen3:8b"}
    assert config["providers"]["modellab-ft"]["context_window"] == 32768


def test_invalid_toml_names_the_file_and_line(tmp_path):
    with pytest.raises(ConfigFileError) as caught:
        rendered(tmp_path, 'provider = "x"\n\n[tui\nquiet = true\n')
    assert caught.value.line == 3
    assert caught.value.message.startswith(f"{tmp_path / 'config.toml'}:3: not valid TOML")


def test_providers_that_is_not_a_table(tmp_path):
    with pytest.raises(ConfigFileError, match="'providers' is not a table"):
        rendered(tmp_path, 'providers = "nope"\n')


def test_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'provider = "x"\nmodel = "\xff"\n')
    with pytest.raises(ConfigFileError, match=r"config.toml:2: not UTF-8"):
        read_config(path)


def test_remote_endpoints_need_a_key_variable():
    with pytest.raises(UsageError, match="needs an API key"):
        ProviderEntry(name="x", base_url="https://gpu.example.org/v1", model="m", context_window=1)
    with pytest.raises(UsageError, match="--provider-name"):
        ProviderEntry(name="a b", base_url="http://localhost:1/v1", model="m", context_window=1)


def test_provider_names_from_model_names():
    # Loopback URLs need no key (this one is [::1]); the name is a bare TOML key.
    entry = ProviderEntry(name="x", base_url="http://[::1]:8000/v1", model="m", context_window=1)
    assert entry.table()["auth_mode"] == "none"
    assert default_provider_name("Qwen/Qwen2.5-Coder-7B") == "modellab-qwen-qwen2-5-coder-7b"
    assert default_provider_name("///") == "modellab-model"


def test_context_window_is_known_only_from_an_exact_match(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[providers.vllm]\nbase_url = "http://127.0.0.1:8000/v1/"\nmodel = "ft-7b"\n'
        "context_window = 16384\n",
        encoding="utf-8",
    )
    snapshot = read_config(path)
    assert known_context_window(snapshot, "http://127.0.0.1:8000/v1", "ft-7b") == 16384
    assert known_context_window(snapshot, "http://127.0.0.1:8000/v1", "ft-7b-32k") is None
    assert known_context_window(snapshot, "http://127.0.0.1:9000/v1", "ft-7b") is None
