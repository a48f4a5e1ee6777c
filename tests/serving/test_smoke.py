"""The smoke test (``modellab.serving._smoke``) against real servers: llama-cpp-python with
SmolLM2 (both steps pass), and a scripted loopback server (``evals.chatserver``: stdlib
``http.server`` on a real socket) that answers the ways a broken server does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from evals import llama_server
from evals.chatserver import chat_server, text_reply, tool_reply

from modellab.serving._smoke import QUOTE_MAX, smoke_test


@pytest.mark.slow
@pytest.mark.parametrize("forced", [True, False], ids=["forced-tool-choice", "auto-as-ollama"])
def test_smoke_passes_against_llama_cpp_with_smollm2(forced: bool):
    """Both ways a recipe smoke-tests (forced tool_choice: llama.cpp, vLLM, SGLang, TGI;
    "auto": Ollama), against a real OpenAI-compatible server."""
    if not llama_server.installed():
        pytest.skip("llama-cpp-python is not installed: python3 tests/evals/llama_server.py")
    with llama_server.serve() as base_url:
        report = smoke_test(base_url, llama_server.MODEL_ALIAS, forced_tool_choice=forced)
    assert report.ok, report.reason
    assert [step.name for step in report.steps] == ["chat", "tool-call"]
    if forced:
        assert report.steps[1].detail.startswith("get_weather(city=")
        assert not any(step.warning for step in report.steps)
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def _by_step(chat: Any, tool: Any):
    """A script: the chat step's reply, then the tool step's (told apart by ``tools``)."""

    def script(body: dict[str, Any], _count: int):
        return tool if "tools" in body else chat

    return script


def test_text_that_looks_like_a_call_without_tool_calls_fails():
    call_text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    with chat_server(_by_step(text_reply("Hello"), text_reply(call_text))) as server:
        report = smoke_test(server.base_url, "m", forced_tool_choice=True)
    assert not report.ok
    assert report.steps[0].ok
    assert report.reason is not None
    assert report.reason.startswith("tool-call: the reply has text that looks like a tool call")
    assert "\n" not in report.reason  # the server's newlines are escaped: one line
    # The forced tool_choice was sent by name.
    assert server.requests[1]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


def test_a_500_fails_the_chat_step_and_skips_the_tool_step():
    with chat_server(lambda body, count: (500, {}, "engine crashed")) as server:
        report = smoke_test(server.base_url, "m", forced_tool_choice=True)
    assert not report.ok
    assert [step.name for step in report.steps] == ["chat"]
    assert report.reason == "chat: HTTP 500: engine crashed"
    assert len(server.requests) == 1


def test_non_json_fails():
    with chat_server(_by_step(text_reply("Hi"), (200, {}, "<html>proxy error</html>"))) as server:
        report = smoke_test(server.base_url, "m", forced_tool_choice=True)
    assert report.reason == "tool-call: the answer is not JSON: <html>proxy error</html>"


def test_no_server_is_a_report_not_an_exception():
    with chat_server(lambda body, count: text_reply("x")) as server:
        base_url = server.base_url
    report = smoke_test(base_url, "m", forced_tool_choice=True, timeout=5)
    assert not report.ok
    assert report.reason is not None and report.reason.startswith("chat: no answer from ")


def test_forced_tool_choice_without_a_call_fails():
    with chat_server(_by_step(text_reply("Hi"), text_reply("It is sunny."))) as server:
        report = smoke_test(server.base_url, "m", forced_tool_choice=True)
    assert report.reason == (
        "tool-call: no tool_calls in the reply to a forced tool_choice: It is sunny."
    )


def test_arguments_without_a_string_city_fail():
    reply = tool_reply("get_weather", {"town": "Paris"})
    with chat_server(_by_step(text_reply("Hi"), reply)) as server:
        report = smoke_test(server.base_url, "m", forced_tool_choice=True)
    assert report.reason is not None
    assert report.reason.startswith("tool-call: the call's arguments have no string city")


def test_ollama_style_auto_passes_with_a_call_or_warns_without():
    """Ollama's /v1 ignores tool_choice: the smoke test asks with auto, and a reply without
    a call is a warning, not a failure."""
    with chat_server(_by_step(text_reply("Hi"), tool_reply("get_weather", {"city": "Oslo"}))) as s:
        report = smoke_test(s.base_url, "qwen3", forced_tool_choice=False)
    assert report.ok
    assert s.requests[1]["tool_choice"] == "auto"
    assert report.steps[1].detail == "get_weather(city='Oslo')"
    assert not report.steps[1].warning

    with chat_server(_by_step(text_reply("Hi"), text_reply("I cannot check."))) as s:
        report = smoke_test(s.base_url, "qwen3", forced_tool_choice=False)
    assert report.ok
    assert report.steps[1].warning
    assert report.to_json()["steps"][1]["warning"] is True


def test_server_text_is_escaped_and_cut():
    hostile = "\x1b[31mred\x1b]52;c;cGF5bG9hZA==\x07" + "A" * 500
    with chat_server(lambda body, count: (503, {}, hostile)) as server:
        report = smoke_test(server.base_url, "m", forced_tool_choice=True)
    reason = report.reason
    assert reason is not None
    assert "\x1b" not in reason and "\x07" not in reason
    assert reason.startswith("chat: HTTP 503: \\x1b[31mred\\x1b]52;c;cGF5bG9hZA==\\x07AAA")
    assert len(reason) <= len("chat: HTTP 503: ") + QUOTE_MAX
