"""Which tool-call and reasoning parsers a model needs, read from its chat template.

The template decides how a model writes a tool call, so the parser is chosen from the
markers it emits (SGLang's ``--tool-call-parser auto`` shows that this is decidable); the
architecture named in the model's config is the fallback when there is no template. The
table follows shared/research/evals-serving-passport.md §2.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Family", "chatml", "detect", "has_tool_support"]


@dataclass(frozen=True)
class Family:
    """A model family as the servers' parsers know it."""

    #: Short name for notes: ``hermes``, ``llama3``, ``gpt-oss``...
    name: str
    #: vLLM's ``--tool-call-parser``.
    vllm_tools: str
    #: SGLang's ``--tool-call-parser``.
    sglang_tools: str
    #: Why: ``the chat template emits <tool_call>``.
    reason: str
    #: vLLM's ``--reasoning-parser``, when the model thinks before it answers.
    vllm_reasoning: str | None = None
    #: SGLang's ``--reasoning-parser``.
    sglang_reasoning: str | None = None
    #: Why the reasoning parser was chosen.
    reasoning_reason: str = ""
    #: False when the template renders no tools: the parser is a guess.
    template_has_tools: bool = True


#: A template "uses tools" when it reads the request's ``tools`` or a message's
#: ``tool_calls`` (as a variable, not inside a quoted string it prints).
_TOOL_USE = re.compile(r"\b(?:tools|tool_calls)\b")


def has_tool_support(template: str | None) -> bool:
    """Whether ``template`` renders tools or tool calls at all."""
    return template is not None and _TOOL_USE.search(template) is not None


def chatml(template: str | None) -> bool:
    """Whether ``template`` is ChatML (``<|im_start|>role``)."""
    return template is not None and "<|im_start|>" in template


#: DeepSeek's tool-call opener, written with full-width bars and a lower block ("▁").
_DEEPSEEK_CALLS = "<\uff5ctool\u2581calls\u2581begin\uff5c>"


def _thinks(template: str) -> bool:
    return "<think>" in template or "enable_thinking" in template


def _from_template(template: str) -> Family | None:
    """The family whose tool-call markers ``template`` emits; ``None`` when it emits none.

    Order matters: GLM-4.5 also writes ``<tool_call>`` (with ``<arg_key>`` inside), and
    Qwen3-Coder's ``<function=`` sits inside ``<tool_call>`` too, so both come before Hermes.
    """
    thinks = _thinks(template)
    if "<|channel|>" in template:
        return Family(
            name="gpt-oss",
            vllm_tools="openai",
            sglang_tools="gpt-oss",
            reason="the chat template is harmony (<|channel|>)",
            vllm_reasoning="openai_gptoss",
            sglang_reasoning="gpt-oss",
            reasoning_reason="harmony writes its analysis channel first",
        )
    if _DEEPSEEK_CALLS in template:
        return Family(
            name="deepseek",
            vllm_tools="deepseek_v3",
            sglang_tools="deepseekv3",
            reason=f"the chat template emits {_DEEPSEEK_CALLS}",
            vllm_reasoning="deepseek_r1" if thinks else None,
            sglang_reasoning="deepseek-r1" if thinks else None,
            reasoning_reason="the chat template opens a <think> block" if thinks else "",
        )
    if "<arg_key>" in template:
        return Family(
            name="glm45",
            vllm_tools="glm45",
            sglang_tools="glm45",
            reason="the chat template emits <tool_call> with <arg_key>/<arg_value>",
            vllm_reasoning="glm45" if thinks else None,
            sglang_reasoning="glm45" if thinks else None,
            reasoning_reason="the chat template has <think> / enable_thinking" if thinks else "",
        )
    if "<function=" in template:
        return Family(
            name="qwen3-coder",
            vllm_tools="qwen3_coder",
            sglang_tools="qwen3_coder",
            reason="the chat template emits <function=...><parameter=...>",
        )
    if "[TOOL_CALLS]" in template:
        mistral_thinks = "[THINK]" in template
        return Family(
            name="mistral",
            vllm_tools="mistral",
            sglang_tools="mistral",
            reason="the chat template emits [TOOL_CALLS]",
            vllm_reasoning="mistral" if mistral_thinks else None,
            sglang_reasoning="mistral" if mistral_thinks else None,
            reasoning_reason="the chat template has [THINK]" if mistral_thinks else "",
        )
    if "<|python_tag|>" in template or "ipython" in template:
        return Family(
            name="llama3",
            vllm_tools="llama3_json",
            sglang_tools="llama3",
            reason="the chat template has <|python_tag|> / the ipython role",
        )
    if "<tool_call>" in template:
        return Family(
            name="hermes",
            vllm_tools="hermes",
            # Qwen3's SGLang parser is ``qwen``; Qwen2.5's, ``qwen25`` (both read <tool_call>).
            sglang_tools="qwen" if thinks else "qwen25",
            reason="the chat template emits <tool_call>",
            vllm_reasoning="qwen3" if thinks else None,
            sglang_reasoning="qwen3" if thinks else None,
            reasoning_reason="the chat template has <think> / enable_thinking" if thinks else "",
        )
    return None


#: Architecture (``config.json`` ``model_type`` / GGUF ``general.architecture``, lower case)
#: to family, for a model without a template. Longest prefix first.
_BY_ARCHITECTURE: tuple[tuple[str, Family], ...] = (
    ("qwen3_moe", Family("hermes", "hermes", "qwen", "", "qwen3", "qwen3")),
    ("qwen3", Family("hermes", "hermes", "qwen", "", "qwen3", "qwen3")),
    ("qwen2", Family("hermes", "hermes", "qwen25", "")),
    ("llama", Family("llama3", "llama3_json", "llama3", "")),
    ("mistral", Family("mistral", "mistral", "mistral", "")),
    ("deepseek", Family("deepseek", "deepseek_v3", "deepseekv3", "")),
    ("gpt_oss", Family("gpt-oss", "openai", "gpt-oss", "", "openai_gptoss", "gpt-oss")),
    ("gpt-oss", Family("gpt-oss", "openai", "gpt-oss", "", "openai_gptoss", "gpt-oss")),
    ("gptoss", Family("gpt-oss", "openai", "gpt-oss", "", "openai_gptoss", "gpt-oss")),
    ("glm4_moe", Family("glm45", "glm45", "glm45", "", "glm45", "glm45")),
)

#: What a template without tool markers gets: vLLM refuses ``--enable-auto-tool-choice``
#: without a parser, and Hermes is the most common format small models are tuned to.
_FALLBACK = Family(
    name="hermes",
    vllm_tools="hermes",
    sglang_tools="qwen25",
    reason="the model's chat template has no tool support, so Hermes (<tool_call>) is a guess",
    template_has_tools=False,
)

#: A template that renders tools in a format no parser here knows.
_UNKNOWN_FORMAT = Family(
    name="hermes",
    vllm_tools="hermes",
    sglang_tools="qwen25",
    reason="the chat template renders tools in a format with no known parser: Hermes is a guess",
)


def detect(template: str | None, architecture: str | None) -> Family:
    """The family of a model, from its chat template first and its architecture second.

    A template that renders no tool-call markers wins over the architecture (SmolLM2 is a
    ``llama`` with a template that knows no tools): the answer is the Hermes guess, marked
    ``template_has_tools=False``.
    """
    if template is not None:
        found = _from_template(template)
        if found is not None:
            return found
        if not has_tool_support(template):
            return _FALLBACK
    arch = (architecture or "").lower()
    for prefix, family in _BY_ARCHITECTURE:
        if arch.startswith(prefix):
            why = f"the architecture is {prefix}"
            if template is None:
                why += " (no chat template given)"
            return Family(
                name=family.name,
                vllm_tools=family.vllm_tools,
                sglang_tools=family.sglang_tools,
                reason=why,
                vllm_reasoning=family.vllm_reasoning,
                sglang_reasoning=family.sglang_reasoning,
                reasoning_reason=why if family.vllm_reasoning else "",
            )
    if has_tool_support(template):
        return _UNKNOWN_FORMAT
    return _FALLBACK
