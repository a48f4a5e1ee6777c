"""The smoke test a started server must pass: one chat completion, then one tool call.

A server that is up can still be useless to an agent: a parser that does not match the
model's template gives a reply whose text *looks* like a call (``<tool_call>{"name": ...``)
with no ``tool_calls``. The test asks for ``get_weather(city)`` (forced where the server
honours ``tool_choice``, ``auto`` where it does not, as on Ollama) and fails loudly on that.

Server faults (refused connections, 4xx/5xx, non-JSON, wrong shapes) are reported, never
raised: each step has ``ok``, ``seconds`` and a one-line ``detail``, in which every piece of
server text is escaped (:func:`modellab._internal.term.shown`) and cut to 200 characters.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from modellab._internal.term import shown

__all__ = ["SmokeReport", "SmokeStep", "smoke_test"]

#: Server text quoted in a detail is cut to this many characters.
QUOTE_MAX = 200

#: The one tool of the tool step.
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name."}},
            "required": ["city"],
        },
    },
}

#: Text that means the model wrote a call the server did not parse into ``tool_calls``.
_CALL_LOOKALIKES = ("<tool_call>", '{"name":', '{"name" :', "<function=", "[TOOL_CALLS]")


@dataclass(frozen=True)
class SmokeStep:
    """One request of the smoke test."""

    #: ``chat`` or ``tool-call``.
    name: str
    ok: bool
    seconds: float
    #: One line: what came back, or why the step failed.
    detail: str
    #: Passed, but not cleanly (the model did not call the tool where that was optional).
    warning: bool = False

    def to_json(self) -> dict[str, Any]:
        """The step as plain JSON."""
        return {
            "name": self.name,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class SmokeReport:
    """The steps of one smoke test, in order."""

    base_url: str
    model: str
    forced_tool_choice: bool
    steps: tuple[SmokeStep, ...]

    @property
    def ok(self) -> bool:
        """True when every step passed (warnings included)."""
        return bool(self.steps) and all(step.ok for step in self.steps)

    @property
    def reason(self) -> str | None:
        """``STEP: DETAIL`` of the first failed step; ``None`` when all passed."""
        for step in self.steps:
            if not step.ok:
                return f"{step.name}: {step.detail}"
        return None

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON (what the catalog keeps for the server)."""
        return {
            "ok": self.ok,
            "model": self.model,
            "forced_tool_choice": self.forced_tool_choice,
            "steps": [step.to_json() for step in self.steps],
        }


def _quote(text: object) -> str:
    """Server text as a detail may hold it: escaped, on one line, at most 200 characters."""
    safe = shown(text)
    return safe if len(safe) <= QUOTE_MAX else safe[: QUOTE_MAX - 1] + "…"


class _Fault(Exception):
    """A step's failure, with its one-line detail."""


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body``; the answer's JSON object, or :class:`_Fault` saying what was wrong."""
    try:
        response = client.post(url, json=body)
    except httpx.HTTPError as error:
        raise _Fault(f"no answer from {url}: {type(error).__name__}: {_quote(error)}") from None
    if response.status_code >= 400:
        raise _Fault(f"HTTP {response.status_code}: {_quote(response.text)}")
    try:
        answer = response.json()
    except ValueError:
        raise _Fault(f"the answer is not JSON: {_quote(response.text)}") from None
    if not isinstance(answer, dict):
        raise _Fault(f"the answer is not a JSON object: {_quote(response.text)}")
    return answer


def _message(answer: dict[str, Any]) -> dict[str, Any]:
    """The first choice's message, or :class:`_Fault`."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Fault(f"the answer has no choices: {_quote(json.dumps(answer)[:400])}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise _Fault(f"the first choice has no message: {_quote(json.dumps(choices[0])[:400])}")
    return message


def _chat(client: httpx.Client, base_url: str, model: str) -> str:
    message = _message(
        _post(
            client,
            f"{base_url}/chat/completions",
            {
                "model": model,
                "messages": [{"role": "user", "content": "Say hello in one word."}],
                "max_tokens": 8,
                "temperature": 0,
            },
        )
    )
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    return f"answered: {_quote(text)}" if text else "answered (no text)"


def _tool_call(client: httpx.Client, base_url: str, model: str, forced: bool) -> tuple[str, bool]:
    """The tool step: ``(detail, warning)``, or :class:`_Fault`."""
    choice: Any = {"type": "function", "function": {"name": "get_weather"}} if forced else "auto"
    message = _message(
        _post(
            client,
            f"{base_url}/chat/completions",
            {
                "model": model,
                "messages": [
                    {"role": "user", "content": "What is the weather in Paris? Use the tool."}
                ],
                "tools": [WEATHER_TOOL],
                "tool_choice": choice,
                "max_tokens": 64,
                "temperature": 0,
            },
        )
    )
    calls = message.get("tool_calls")
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    if not calls:
        if any(marker in text for marker in _CALL_LOOKALIKES):
            raise _Fault(
                "the reply has text that looks like a tool call but no tool_calls (is the "
                f"tool-call parser the model's?): {_quote(text)}"
            )
        if forced:
            raise _Fault(f"no tool_calls in the reply to a forced tool_choice: {_quote(text)}")
        return f"the model answered without calling get_weather: {_quote(text)}", True
    if not isinstance(calls, list) or not isinstance(calls[0], dict):
        raise _Fault(f"tool_calls is not a list of objects: {_quote(json.dumps(calls)[:400])}")
    function = calls[0].get("function")
    if not isinstance(function, dict):
        raise _Fault(f"the tool call has no function: {_quote(json.dumps(calls[0])[:400])}")
    name = function.get("name")
    if name != "get_weather":
        raise _Fault(f"the call is to '{_quote(name)}', not get_weather")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise _Fault(f"the call's arguments are not JSON: {_quote(arguments)}") from None
    if not isinstance(arguments, dict) or not isinstance(arguments.get("city"), str):
        raise _Fault(f"the call's arguments have no string city: {_quote(json.dumps(arguments))}")
    city = _quote(arguments["city"])
    return f"get_weather(city='{city}')", False


def smoke_test(
    base_url: str, model: str, *, forced_tool_choice: bool, timeout: float = 60
) -> SmokeReport:
    """Ask the server at ``base_url`` (``http://HOST:PORT/v1``) for one chat completion and
    one tool call to ``get_weather``.

    :param model: the ``model`` name the server answers to.
    :param forced_tool_choice: force the call by name; ``False`` (Ollama) asks with
        ``auto``, and a reply without a call is then a warning, not a failure.
    :param timeout: seconds each request may take.
    :returns: the report; server faults are in it (a failed step), never raised. The tool
        step is not run when the chat step failed.
    """
    base = base_url.rstrip("/")
    steps: list[SmokeStep] = []
    # trust_env=False: the server is local; a proxy from the environment must not see it.
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        started = time.perf_counter()
        try:
            detail = _chat(client, base, model)
            steps.append(SmokeStep("chat", True, time.perf_counter() - started, detail))
        except _Fault as fault:
            steps.append(SmokeStep("chat", False, time.perf_counter() - started, str(fault)))
        if steps[0].ok:
            started = time.perf_counter()
            try:
                detail, warning = _tool_call(client, base, model, forced_tool_choice)
                seconds = time.perf_counter() - started
                steps.append(SmokeStep("tool-call", True, seconds, detail, warning))
            except _Fault as fault:
                seconds = time.perf_counter() - started
                steps.append(SmokeStep("tool-call", False, seconds, str(fault)))
    return SmokeReport(
        base_url=base, model=model, forced_tool_choice=forced_tool_choice, steps=tuple(steps)
    )
