"""Chat templates: sandboxed rendering like transformers, and features found by rendering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modellab.models import (
    TemplateError,
    read_chat_template,
    render_template,
    render_with_generation_spans,
    template_features,
)


@pytest.fixture
def templates(corpus: Path) -> Path:
    folder = corpus / "chat-templates-trl"
    if not folder.is_dir():
        pytest.skip(f"chat templates not found at {folder}")
    return folder


def _read(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


#: What each template supports, as the corpus README measured it (tools / reasoning columns).
EXPECTED = {
    "qwen2_5.jinja": (True, False),
    "qwen3.jinja": (True, True),
    "qwen3_instruct_2507.jinja": (True, False),
    "qwen3_training.jinja": (True, True),
    "llama3.jinja": (False, False),
    "llama3_1.jinja": (True, False),
    "glm4moe.jinja": (True, True),
    "gptoss.jinja": (True, True),
    "gemma3.jinja": (False, False),
    "phi3.jinja": (False, False),
    "deepseek_r1_distill.jinja": (False, True),
}


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_tools_and_reasoning_match_the_measured_table(
    templates: Path, name: str, expected: tuple[bool, bool]
) -> None:
    features = template_features(_read(templates, name))
    assert (features.tools, features.reasoning) == expected


def test_a_template_with_tools_and_one_without_are_told_apart(templates: Path) -> None:
    qwen = template_features(_read(templates, "qwen2_5.jinja"))
    llama3 = template_features(_read(templates, "llama3.jinja"))
    assert qwen.tools and qwen.tool_calls and qwen.tool_results
    assert not llama3.tools and not llama3.tool_calls
    # DeepSeek-V3 renders tool calls but never the tools list.
    deepseek = template_features(_read(templates, "deepseekv3.jinja"))
    assert deepseek.tool_calls and not deepseek.tools
    # The R1 distill drops tool calls entirely.
    assert not template_features(_read(templates, "deepseek_r1_distill.jinja")).tool_calls


def test_generation_blocks_are_recognised_and_rendered(templates: Path) -> None:
    training = _read(templates, "qwen3_training.jinja")
    assert template_features(training).generation_blocks
    assert not template_features(_read(templates, "qwen3.jinja")).generation_blocks
    messages = [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "hi there"},
    ]
    text, spans = render_with_generation_spans(training, messages)
    assert "\ue000" not in text and "\ue001" not in text
    assert len(spans) == 1
    start, end = spans[0]
    assert "hi there" in text[start:end]
    assert "Say hi." not in text[start:end]
    # Plain rendering gives the same text, without markers.
    assert render_template(training, messages) == text


def test_renders_like_transformers(templates: Path) -> None:
    chat_utils = pytest.importorskip("transformers.utils.chat_template_utils")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief <b>&</b>."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "get", "arguments": {"city": "Oslo"}}}
            ],
        },
        {"role": "tool", "content": '{"temp": 3}'},
    ]
    tools = [{"type": "function", "function": {"name": "get", "parameters": {"type": "object"}}}]
    for name in ("qwen2_5.jinja", "llama3_1.jinja", "qwen3_training.jinja"):
        template = _read(templates, name)
        ours = render_template(
            template, messages, tools=tools, add_generation_prompt=True, date_string="1 Jan 2026"
        )
        theirs, _ = chat_utils.render_jinja_template(
            conversations=[messages],
            tools=tools,
            chat_template=template,
            add_generation_prompt=True,
            date_string="1 Jan 2026",
        )
        assert ours == theirs[0], name


def test_tojson_does_not_escape_html() -> None:
    text = render_template("{{ messages[0] | tojson }}", [{"role": "user", "content": "<a&b>"}])
    assert json.loads(text) == {"role": "user", "content": "<a&b>"}
    assert "<a&b>" in text


def test_a_broken_template_raises_a_one_line_template_error() -> None:
    with pytest.raises(TemplateError) as info:
        render_template("line one\n{% for m in messages %}\n{{ m.content }", [])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("chat template line ")
    assert isinstance(info.value, ValueError)
    with pytest.raises(TemplateError):
        template_features("{% if %}")


def test_raise_exception_in_a_template_is_a_template_error(templates: Path) -> None:
    gemma = _read(templates, "gemma3.jinja")
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(TemplateError, match="refused the input: Conversation roles must alternate"):
        render_template(gemma, bad)


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    hostile = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(TemplateError):
        render_template(hostile, [])
    with pytest.raises(TemplateError):
        render_template("{% set x = messages.append(1) %}", [])


def test_strftime_now_and_extra_variables() -> None:
    text = render_template("{{ strftime_now('%Y') }} {{ who }}", [], who="me")
    year, who = text.split()
    assert year.isdigit() and len(year) == 4
    assert who == "me"


def test_read_chat_template_prefers_the_jinja_file(tmp_path: Path) -> None:
    assert read_chat_template(tmp_path) is None
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": "from-config"}))
    assert read_chat_template(tmp_path) == "from-config"
    (tmp_path / "chat_template.jinja").write_text("from-file", encoding="utf-8")
    assert read_chat_template(tmp_path) == "from-file"


def test_read_chat_template_named_list_and_bad_json(tmp_path: Path) -> None:
    config = tmp_path / "tokenizer_config.json"
    config.write_text(
        json.dumps(
            {
                "chat_template": [
                    {"name": "tool_use", "template": "tools"},
                    {"name": "default", "template": "plain"},
                ]
            }
        )
    )
    assert read_chat_template(tmp_path) == "plain"
    config.write_text("{not json")
    with pytest.raises(TemplateError, match=r"tokenizer_config\.json: not valid JSON"):
        read_chat_template(tmp_path)


def test_read_chat_template_of_a_gguf(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    from models.conftest import write_tiny_gguf

    path = write_tiny_gguf(tmp_path / "m.gguf", template="{{ bos_token }}")
    assert read_chat_template(path) == "{{ bos_token }}"
    assert read_chat_template(tmp_path) == "{{ bos_token }}"
    assert read_chat_template(write_tiny_gguf(tmp_path / "n" / "n.gguf")) is None


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "loops over more than",
        ),
        ("{{ 'a' * 1000000000 }}", "too long a value"),
        ("{{ [1] * 1000000000 }}", "too long a value"),
        ("{{ 2 ** 100000 ** 2 }}", "too large"),
    ],
)
def test_hostile_templates_cannot_hang_or_exhaust_memory(hostile: str, reason: str) -> None:
    with pytest.raises(TemplateError, match=reason):
        render_template(hostile, [])
    assert template_features(hostile).tools is False  # a probe that fails: not supported
