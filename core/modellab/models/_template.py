"""Chat templates: render them sandboxed, and find out what they support by rendering them.

A chat template is Jinja code that came with a model, so it is untrusted: it runs in
jinja2's ``ImmutableSandboxedEnvironment`` with the options and helpers Hugging Face
``transformers`` gives it (``trim_blocks``, ``lstrip_blocks``, ``loopcontrols``, a
``tojson`` that does not escape HTML, ``raise_exception``, ``strftime_now`` and the
``{% generation %}`` tag), so a template renders here as it does at training time.

What a template supports is judged by rendering probes, never by reading its source for
keywords alone: a template "supports tools" when rendering with a ``tools`` list differs
from rendering without and the tool's name appears.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "TemplateError",
    "TemplateFeatures",
    "read_chat_template",
    "render_template",
    "render_with_generation_spans",
    "template_features",
]

#: Private-use characters that mark where a ``{% generation %}`` body starts and ends while
#: rendering for spans; removed from the text before it is returned.
_OPEN = "\ue000"
_CLOSE = "\ue001"
#: ``{% generation %}`` with any whitespace control.
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


class TemplateError(ValueError):
    """A chat template that cannot be compiled or rendered; the message is one line."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


class _Generation(jinja2.ext.Extension):
    """``{% generation %}…{% endgeneration %}``: renders its body.

    transformers uses the tag to find the assistant's tokens for assistant-only loss;
    jinja2 does not know it, so without this extension such templates do not compile.
    When the environment's ``mark_generation`` global is true the body is wrapped in two
    private-use markers, which :func:`render_with_generation_spans` turns into offsets.
    """

    tags = {"generation"}  # noqa: RUF012 (jinja2 declares it a mutable set)

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_render", [jinja2.nodes.Name("_modellab_mark", "load")])
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, mark: object, caller: Any) -> str:
        body = str(caller())
        return f"{_OPEN}{body}{_CLOSE}" if mark is True else body


def _raise_exception(message: object) -> None:
    # The template's own refusal ("Conversation roles must alternate …"): a TemplateError.
    raise TemplateError(f"the chat template refused the input: {_one_line(message)}")


def _tojson(
    value: object,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Like transformers: plain JSON, not jinja2's HTML-escaped one (it would change the text).
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


#: What one rendering may spend: ``range`` items over all calls, and the length of a string
#: or list made by ``*``. A hostile template must not hang or exhaust the machine; real ones
#: stay far below (they loop over the messages).
_RANGE_BUDGET = 1_000_000
_MAX_PRODUCT = 1_000_000
_budget: ContextVar[list[int]] = ContextVar("_budget")


def _budgeted_range(*args: int) -> range:
    items = range(*args)
    budget = _budget.get(None)
    if budget is not None:
        budget[0] -= len(items)
        if budget[0] < 0:
            raise TemplateError(f"chat template: loops over more than {_RANGE_BUDGET} items")
    return items


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded (jinja2 leaves them to Python)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise TemplateError(f"chat template: exponent {right} is too large")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(count, int)
                    and len(sequence) * count > _MAX_PRODUCT
                ):
                    raise TemplateError("chat template: '*' would make too long a value")
        return super().call_binop(context, operator, left, right)


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_Generation, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["range"] = _budgeted_range
    return env


@lru_cache(maxsize=32)
def _compile(template: str) -> jinja2.Template:
    """The compiled template (cached: probes render the same template many times)."""
    try:
        return _environment().from_string(template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"chat template line {exc.lineno}: {_one_line(exc.message or exc)}"
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"chat template: {_one_line(exc)}") from None


def _render(template: str, context: dict[str, Any]) -> str:
    compiled = _compile(template)
    token = _budget.set([_RANGE_BUDGET])
    try:
        return compiled.render(**context)
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:  # includes the sandbox's SecurityError
        raise TemplateError(f"chat template: {_one_line(exc)}") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
        # A template that assumes a shape the messages do not have (``None | trim``, …).
        raise TemplateError(f"chat template: {type(exc).__name__}: {_one_line(exc)}") from None
    except RecursionError:
        raise TemplateError("chat template: recursion too deep") from None
    finally:
        _budget.reset(token)


def _context(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
    extra: dict[str, object],
    mark: bool,
) -> dict[str, Any]:
    context: dict[str, Any] = dict(extra)
    context.update(
        messages=messages,
        tools=tools,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
        _modellab_mark=mark,
    )
    return context


def render_template(
    template: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
    bos_token: str = "",
    eos_token: str = "",
    **extra: object,
) -> str:
    """Render a chat template as transformers' ``apply_chat_template`` would (as text).

    :param extra: further template variables (``enable_thinking=False``,
        ``reasoning_effort="low"``, …).
    :raises TemplateError: the template does not compile, refuses the input
        (``raise_exception``), or fails on it; the message is one line.
    """
    context = _context(
        messages, tools, add_generation_prompt, bos_token, eos_token, extra, mark=False
    )
    return _render(template, context)


def render_with_generation_spans(
    template: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
    bos_token: str = "",
    eos_token: str = "",
    **extra: object,
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the ``[start, end)`` character spans of its generation blocks.

    The spans are what assistant-only loss trains on; a template without
    ``{% generation %}`` gives none. Text that already holds the marker characters
    (U+E000, U+E001) cannot be told apart from markers, so it raises :class:`TemplateError`.
    """
    context = _context(
        messages, tools, add_generation_prompt, bos_token, eos_token, extra, mark=True
    )
    marked = _render(template, context)
    spans: list[tuple[int, int]] = []
    out: list[str] = []
    length = 0
    start: int | None = None
    for piece in re.split(f"([{_OPEN}{_CLOSE}])", marked):
        if piece == _OPEN:
            if start is not None:
                raise TemplateError("chat template: nested {% generation %} blocks")
            start = length
        elif piece == _CLOSE:
            if start is None:
                raise TemplateError("chat template: the input holds U+E001")
            spans.append((start, length))
            start = None
        else:
            out.append(piece)
            length += len(piece)
    if start is not None:
        raise TemplateError("chat template: the input holds U+E000")
    return "".join(out), spans


@dataclass(frozen=True)
class TemplateFeatures:
    """What a chat template supports, found by rendering probe conversations."""

    #: Rendering with ``tools`` differs from rendering without, and the tool's name appears.
    tools: bool
    #: An assistant message's ``tool_calls`` (name and arguments) appear in the output.
    tool_calls: bool
    #: A ``role: tool`` message's content appears.
    tool_results: bool
    #: An assistant ``reasoning_content``/``thinking`` field appears, or the template
    #: mentions ``<think>``.
    reasoning: bool
    #: ``{% generation %}`` … ``{% endgeneration %}`` present (assistant-only loss masking).
    generation_blocks: bool

    def as_dict(self) -> dict[str, bool]:
        """The features as a JSON-able mapping."""
        return {
            "tools": self.tools,
            "tool_calls": self.tool_calls,
            "tool_results": self.tool_results,
            "reasoning": self.reasoning,
            "generation_blocks": self.generation_blocks,
        }


# Probe values: unlikely strings, so finding one in the output means the template put it
# there from the input.
_TOOL_NAME = "mlprobe_lookup_weather"
_CALL_ARG = "mlprobe_argument_value_73"
_RESULT = "mlprobe_tool_result_41"
_THOUGHT = "mlprobe_reasoning_trace_19"
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": _TOOL_NAME,
        "description": "Probe tool.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "A city."}},
            "required": ["city"],
        },
    },
}


def _call(arguments: object) -> dict[str, Any]:
    return {
        "id": "call_mlprobe_1",
        "type": "function",
        "function": {"name": _TOOL_NAME, "arguments": arguments},
    }


def _try(template: str, messages: list[dict[str, Any]], **kwargs: Any) -> str | None:
    """The rendering, or ``None`` when the template refuses or fails on this probe."""
    try:
        return render_template(template, messages, **kwargs)
    except TemplateError:
        return None


def _renders_tools(template: str) -> bool:
    user = [{"role": "user", "content": "Hello."}]
    with_tools = _try(template, user, tools=[_PROBE_TOOL], add_generation_prompt=True)
    without = _try(template, user, add_generation_prompt=True)
    return with_tools is not None and with_tools != without and _TOOL_NAME in with_tools


def _call_messages(arguments: object) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [_call(arguments)]},
    ]


def _renders_tool_calls(template: str) -> bool:
    # Templates disagree on whether arguments are a mapping or a JSON string: try both.
    for arguments in ({"city": _CALL_ARG}, json.dumps({"city": _CALL_ARG})):
        text = _try(template, _call_messages(arguments), tools=[_PROBE_TOOL])
        if text is not None and _TOOL_NAME in text and _CALL_ARG in text:
            return True
    return False


def _renders_tool_results(template: str) -> bool:
    for arguments in ({"city": _CALL_ARG}, json.dumps({"city": _CALL_ARG})):
        messages = [
            *_call_messages(arguments),
            {
                "role": "tool",
                "tool_call_id": "call_mlprobe_1",
                "name": _TOOL_NAME,
                "content": _RESULT,
            },
        ]
        text = _try(template, messages, tools=[_PROBE_TOOL], add_generation_prompt=True)
        if text is not None and _RESULT in text:
            return True
    return False


def _renders_reasoning(template: str) -> bool:
    if "<think>" in template:
        return True
    for field in ("reasoning_content", "thinking"):
        messages = [
            {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": "Because.", field: _THOUGHT},
        ]
        text = _try(template, messages)
        if text is not None and _THOUGHT in text:
            return True
    return False


def template_features(template: str) -> TemplateFeatures:
    """What ``template`` supports, by rendering probe conversations through it.

    A probe the template refuses or fails on counts as "not supported".

    :raises TemplateError: the template does not compile.
    """
    _compile(template)
    return TemplateFeatures(
        tools=_renders_tools(template),
        tool_calls=_renders_tool_calls(template),
        tool_results=_renders_tool_results(template),
        reasoning=_renders_reasoning(template),
        generation_blocks=_GENERATION_TAG.search(template) is not None,
    )


def read_chat_template(model_dir: Path) -> str | None:
    """The chat template of a Hugging Face model folder, or ``None`` when it has none.

    ``chat_template.jinja`` wins (transformers 4.43+ writes it); otherwise the
    ``chat_template`` of ``tokenizer_config.json``, a string or a list of named templates
    (the one named ``default``, else the first). For a GGUF model (``model_dir`` is a
    ``.gguf`` file, or a folder holding exactly one and no tokenizer config) it is the
    file's ``tokenizer.chat_template``.

    :raises TemplateError: ``tokenizer_config.json`` is not JSON or not UTF-8.
    :raises ModelFormatError: the GGUF file's header is damaged.
    """
    if model_dir.is_file() and model_dir.suffix.lower() == ".gguf":
        return _gguf_template(model_dir)
    jinja_file = model_dir / "chat_template.jinja"
    if jinja_file.is_file():
        try:
            return jinja_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{jinja_file}: not UTF-8 ({exc.reason})") from None
    config_file = model_dir / "tokenizer_config.json"
    if not config_file.is_file():
        ggufs = sorted(model_dir.glob("*.gguf"))
        return _gguf_template(ggufs[0]) if len(ggufs) == 1 else None
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{config_file}: not valid JSON ({_one_line(exc)})") from None
    if not isinstance(config, dict):
        return None
    value = config.get("chat_template")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        named = [item for item in value if isinstance(item, dict)]
        for item in named:
            if item.get("name") == "default" and isinstance(item.get("template"), str):
                return str(item["template"])
        for item in named:
            if isinstance(item.get("template"), str):
                return str(item["template"])
    return None


def _gguf_template(path: Path) -> str | None:
    from modellab.models._gguf import read_gguf

    return read_gguf(path).text("tokenizer.chat_template")
