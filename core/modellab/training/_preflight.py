"""Preflight: what is checked before any training, each check a verdict and a reason.

Five checks, in this order, each with a one-line reason that names the file, row or
value it is about (the text of ``docs/training.md`` explains each):

1. ``dataset``: the rows' shape (roles, tool calls matched to results, ``tools``
   definitions, empty rows) and their length in the base model's own tokens;
2. ``chat_template``: the base model's template renders the dataset's calls and results
   faithfully, and has ``{% generation %}`` blocks for assistant-only loss;
3. ``licence``: of the base model (its passport) and of the data (the approval);
4. ``memory``: the estimated peak (:mod:`modellab.training._memory`) against the device;
5. ``deployability``: whether the result can be merged, converted to GGUF and served.

Nothing here imports torch or transformers: preflight runs in the core, before a trainer
is started, and in ``modellab train --preflight-only``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modellab._internal.files import sha256_file
from modellab._internal.term import counted, shown
from modellab.models._template import (
    TemplateError,
    read_chat_template,
    render_template,
    render_with_generation_spans,
)
from modellab.training._memory import (
    ALL_LINEAR,
    Device,
    ModelShape,
    detect_device,
    estimate_peak,
)

__all__ = [
    "CHECKS",
    "GGUF_MODEL_TYPES",
    "METHODS",
    "SGLANG_ARCHITECTURES",
    "TEMPLATE_FIX",
    "VLLM_ARCHITECTURES",
    "Check",
    "dataset_file",
    "run_preflight",
]

Verdict = Literal["pass", "warn", "fail"]
#: Every check's name, in the order :func:`run_preflight` returns them.
CHECKS = ("dataset", "chat_template", "licence", "memory", "deployability")
SFT_METHODS = ("sft-lora", "sft-qlora", "sft-full")
METHODS = (*SFT_METHODS, "dpo")
#: How many problems a check lists in its details (the reason names the first).
MAX_LISTED = 20
#: How many rows with tool calls the chat-template check renders.
MAX_RENDERED = 20
#: What preflight offers when a template drops tool calls or cannot mask the loss.
TEMPLATE_FIX = (
    "pass --chat-template FILE with a template that renders tools, tool calls and tool "
    "results and wraps the assistant's turns in {% generation %} blocks (for a ChatML "
    "model: --chat-template chatml-tools, the one Model Lab ships)"
)

#: Hugging Face ``model_type`` -> the llama.cpp architecture ``convert_hf_to_gguf.py``
#: writes for it. The right-hand names are llama.cpp's own (``MODEL_ARCH_NAMES`` in
#: gguf-py 0.19.0, which ships from the llama.cpp tree; a test checks them against the
#: installed ``gguf``); the left-hand side is the ``model_type`` of the HF classes its
#: converter registers, for the families this lab is likely to meet.
GGUF_MODEL_TYPES: dict[str, str] = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "granite": "granite",
    "granitemoe": "granitemoe", "qwen2": "qwen2", "qwen2_moe": "qwen2moe", "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe", "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3",
    "gemma3_text": "gemma3", "phi": "phi2", "phi3": "phi3", "phimoe": "phimoe",
    "starcoder2": "starcoder2", "gpt2": "gpt2", "gpt_neox": "gptneox", "gptj": "gptj",
    "falcon": "falcon", "stablelm": "stablelm", "olmo": "olmo", "olmo2": "olmo2",
    "olmoe": "olmoe", "cohere": "command-r", "cohere2": "cohere2", "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2", "internlm2": "internlm2", "smollm3": "smollm3",
    "exaone": "exaone", "glm4": "glm4", "glm4_moe": "glm4moe", "gpt_oss": "gpt-oss",
    "minicpm": "minicpm", "nemotron": "nemotron", "bloom": "bloom", "mpt": "mpt",
}  # fmt: skip
#: Architectures vLLM serves (its "List of Supported Models", text generation), for the
#: families above; not checked against a pinned release. Unknown here means "not known
#: to", and preflight says so.
VLLM_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "Qwen2ForCausalLM",
    "Qwen2MoeForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration",
    "PhiForCausalLM", "Phi3ForCausalLM", "PhiMoEForCausalLM", "Starcoder2ForCausalLM",
    "GPT2LMHeadModel", "GPTNeoXForCausalLM", "GPTJForCausalLM", "FalconForCausalLM",
    "StableLmForCausalLM", "OlmoForCausalLM", "Olmo2ForCausalLM", "OlmoeForCausalLM",
    "CohereForCausalLM", "Cohere2ForCausalLM", "DeepseekV2ForCausalLM",
    "DeepseekV3ForCausalLM", "InternLM2ForCausalLM", "GraniteForCausalLM",
    "GraniteMoeForCausalLM", "ExaoneForCausalLM", "Glm4ForCausalLM", "Glm4MoeForCausalLM",
    "GptOssForCausalLM", "SmolLM3ForCausalLM", "MiniCPMForCausalLM", "NemotronForCausalLM",
    "BloomForCausalLM", "MPTForCausalLM",
})  # fmt: skip
#: Architectures SGLang serves (its "Generative Models" list), for the same families.
SGLANG_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "Qwen2ForCausalLM",
    "Qwen2MoeForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration",
    "Phi3ForCausalLM", "PhiMoEForCausalLM", "StableLmForCausalLM", "OlmoForCausalLM",
    "Olmo2ForCausalLM", "OlmoeForCausalLM", "CohereForCausalLM", "DeepseekV2ForCausalLM",
    "DeepseekV3ForCausalLM", "InternLM2ForCausalLM", "GraniteForCausalLM",
    "GraniteMoeForCausalLM", "ExaoneForCausalLM", "Glm4ForCausalLM", "Glm4MoeForCausalLM",
    "GptOssForCausalLM", "MiniCPMForCausalLM", "GPT2LMHeadModel",
})  # fmt: skip
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: A conversation to judge a template on when the dataset has no row to offer.
_PROBE_ROW: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": "Read app.py"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "probe-1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "app.py"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "probe-1", "content": "print('probe result 7311')"},
        {"role": "assistant", "content": "It prints a line."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        }
    ],
}


@dataclass(frozen=True)
class Check:
    """One preflight verdict: ``fail`` stops the job, ``warn`` is shown and goes on."""

    name: str
    verdict: Verdict
    #: One line, naming the file, row or value the verdict is about.
    reason: str
    #: JSON-native facts behind the verdict (counts, sizes, the problems found).
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Reasons quote the dataset, the model's files and the template's own errors:
        # escaped once here (escaping is idempotent), so a reason is always one safe line.
        object.__setattr__(self, "reason", shown(self.reason))


def dataset_file(dataset_dir: Path, method: str) -> Path:
    """The file a method trains on: ``preference/train.jsonl`` for dpo, else ``trl-sft``."""
    return dataset_dir / ("preference" if method == "dpo" else "trl-sft") / "train.jsonl"


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    return "fail" if "fail" in verdicts else "warn" if "warn" in verdicts else "pass"


def _gib(size: float) -> str:
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / 1024**2:.0f} MiB"


# --- 1. dataset -----------------------------------------------------------------------


def _read_rows(path: Path) -> tuple[list[tuple[int, Any]], list[str]]:
    """``(line number, value)`` of each non-blank line, and the lines that are not JSON."""
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                problems.append(f"row {number}: empty line")
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(f"row {number}: not JSON ({exc.msg})")
    return rows, problems


def _call_problems(call: Any, where: str) -> Iterator[str]:
    if not isinstance(call, Mapping):
        yield f"{where}: a tool call is not an object"
        return
    function = call.get("function")
    if not isinstance(call.get("id"), str) or not call["id"]:
        yield f"{where}: a tool call has no id"
    if call.get("type", "function") != "function":
        yield f"{where}: tool call type is {call.get('type')!r}, expected 'function'"
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        yield f"{where}: tool call {call.get('id')!r} has no function name"
        return
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            yield f"{where}: arguments of call {call.get('id')!r} are not JSON"
            return
    if not isinstance(arguments, Mapping):
        yield f"{where}: arguments of call {call.get('id')!r} are not a JSON object"


def _message_problems(
    messages: Any, where: str, *, answered: bool, first_user: bool = True
) -> Iterator[str]:
    """Problems with one list of chat messages.

    :param answered: every call must be answered by a later ``tool`` message (a
        conversation); ``False`` for DPO completions, which are calls alone by design.
    """
    if not isinstance(messages, list) or not messages:
        yield f"{where}: empty (no messages)"
        return
    pending: dict[str, str] = {}
    seen_ids: set[str] = set()
    for index, message in enumerate(messages):
        at = f"{where} message {index}"
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            role = message.get("role") if isinstance(message, Mapping) else message
            yield f"{at}: role {role!r} is not one of {', '.join(sorted(_ROLES))}"
            continue
        role, content = message["role"], message.get("content")
        if content is not None and not isinstance(content, str):
            yield f"{at}: content is {type(content).__name__}, expected a string"
        if role == "system" and index != 0:
            yield f"{at}: a system message after the first"
        opening = (
            1 if isinstance(messages[0], Mapping) and messages[0].get("role") == "system" else 0
        )
        if first_user and index == opening and role != "user":
            yield f"{at}: the conversation starts with {role!r}, expected 'user'"
        calls = message.get("tool_calls") or []
        if role != "assistant" and calls:
            yield f"{at}: a {role} message with tool_calls"
        for call in calls if isinstance(calls, list) else [calls]:
            yield from _call_problems(call, at)
            call_id = call.get("id") if isinstance(call, Mapping) else None
            if isinstance(call_id, str) and call_id:
                if call_id in seen_ids:
                    yield f"{at}: tool call id {call_id!r} is used twice"
                seen_ids.add(call_id)
                pending[call_id] = str((call.get("function") or {}).get("name"))
        if role == "tool":
            answers = message.get("tool_call_id")
            if answers not in pending:
                yield f"{at}: tool result {answers!r} answers no earlier call"
            else:
                del pending[answers]
    if answered:
        for call_id, name in pending.items():
            yield f"{where}: call {call_id!r} ({name}) has no tool result"


def _tools_problems(tools: Any, where: str) -> Iterator[str]:
    if tools is None:
        return
    if not isinstance(tools, list):
        yield f"{where}: tools is {type(tools).__name__}, expected a list"
        return
    names: set[str] = set()
    for index, tool in enumerate(tools):
        at = f"{where} tools[{index}]"
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            yield f"{at}: type is not 'function'"
        elif not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            yield f"{at}: no function name"
        elif not isinstance(function.get("parameters"), Mapping):
            yield f"{at}: {function['name']!r} has no parameters object"
        elif function["parameters"].get("type") != "object":
            yield f"{at}: parameters of {function['name']!r} are not of type 'object'"
        else:
            if function["name"] in names:
                yield f"{at}: {function['name']!r} is defined twice"
            names.add(function["name"])


def _row_problems(row: Any, where: str, method: str) -> list[str]:
    if not isinstance(row, Mapping):
        return [f"{where}: not a JSON object"]
    problems = list(_tools_problems(row.get("tools"), where))
    if method != "dpo":
        messages = row.get("messages")
        problems += _message_problems(messages, where, answered=True)
        if isinstance(messages, list) and not any(
            isinstance(m, Mapping)
            and m.get("role") == "assistant"
            and (m.get("content") or m.get("tool_calls"))
            for m in messages
        ):
            problems.append(f"{where}: empty (no assistant message to learn from)")
        return problems
    problems += _message_problems(row.get("prompt"), f"{where} prompt", answered=True)
    for side in ("chosen", "rejected"):
        completion = row.get(side)
        problems += _message_problems(
            completion, f"{where} {side}", answered=False, first_user=False
        )
        if isinstance(completion, list) and any(
            isinstance(m, Mapping) and m.get("role") != "assistant" for m in completion
        ):
            problems.append(f"{where} {side}: holds a message that is not the assistant's")
    return problems


def _conversations(row: Mapping[str, Any], method: str) -> list[list[dict[str, Any]]]:
    """What the trainer will render of a row: one conversation, or two for a DPO pair."""
    if method != "dpo":
        return [list(row["messages"])]
    return [list(row["prompt"]) + list(row[side]) for side in ("chosen", "rejected")]


def _special_token(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if isinstance(value, Mapping):  # older tokenizer_config.json: an AddedToken object
        value = value.get("content")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _Template:
    """The chat template preflight renders with, and the tokens it is given."""

    text: str | None
    source: str
    bos: str = ""
    eos: str = ""

    def render(self, messages: list[dict[str, Any]], tools: Any) -> str:
        if self.text is None:
            raise TemplateError("no chat template")
        return render_template(
            self.text, messages, tools=tools or None, bos_token=self.bos, eos_token=self.eos
        )


def _plain(messages: list[dict[str, Any]]) -> str:
    # A fallback for counting only: roles, contents and calls, one after another.
    return "\n".join(
        f"{m.get('role')}: {m.get('content') or ''} {json.dumps(m.get('tool_calls') or '')}"
        for m in messages
    )


def _token_lengths(
    rows: list[tuple[int, Mapping[str, Any]]], method: str, template: _Template, tokenizer: Path
) -> tuple[list[int], int]:
    """Each row's length in tokens (the longest of a pair's two), and how many rows the
    template could not render (those are counted on a plain rendering)."""
    from tokenizers import Tokenizer

    encoder = Tokenizer.from_file(str(tokenizer))
    texts: list[str] = []
    unrendered = 0
    for _, row in rows:
        for messages in _conversations(row, method):
            try:
                texts.append(template.render(messages, row.get("tools")))
            except TemplateError:
                unrendered += 1
                texts.append(_plain(messages))
    lengths = [len(e.ids) for e in encoder.encode_batch(texts, add_special_tokens=False)]
    per = 2 if method == "dpo" else 1
    return [max(lengths[i : i + per]) for i in range(0, len(lengths), per)], unrendered


def _check_dataset(
    path: Path, method: str, template: _Template, base_model_dir: Path, max_seq_len: int
) -> tuple[Check, list[tuple[int, Mapping[str, Any]]]]:
    name = "dataset"
    if not path.is_file():
        return Check(
            name,
            "fail",
            f"{path}: not found (build it with 'modellab dataset "
            f"build' and the {'preference' if method == 'dpo' else 'trl-sft'} "
            "format)",
            {"file": str(path)},
        ), []
    parsed, problems = _read_rows(path)
    good: list[tuple[int, Mapping[str, Any]]] = []
    undeclared = 0
    for number, row in parsed:
        found = _row_problems(row, f"row {number}", method)
        problems += found
        if not found:
            good.append((number, row))
            declared = {t["function"]["name"] for t in row.get("tools") or []}
            called = {
                c["function"]["name"]
                for messages in _conversations(row, method)
                for m in messages
                for c in m.get("tool_calls") or []
            }
            undeclared += bool(called - declared)
    details: dict[str, Any] = {
        "file": str(path),
        "rows": len(parsed),
        "problems": problems[:MAX_LISTED],
        "problem_count": len(problems),
        "rows_calling_undeclared_tools": undeclared,
        "max_seq_len": max_seq_len,
    }
    if not parsed and not problems:
        return Check(name, "fail", f"{path}: no rows", details), []
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check(name, "fail", f"{path}: {problems[0]}{more}", details), good
    tokenizer = base_model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        rows_found = counted(len(good), "row")
        reason = f"{path}: {rows_found}; {tokenizer} not found, so lengths were not counted"
        return Check(name, "warn", reason, details), good
    lengths, unrendered = _token_lengths(good, method, template, tokenizer)
    over = [
        number for (number, _), length in zip(good, lengths, strict=True) if length > max_seq_len
    ]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    details.update(
        longest_tokens=lengths[longest],
        longest_row=good[longest][0],
        over_long=len(over),
        over_long_rows=over[:MAX_LISTED],
        counted_with=str(tokenizer),
        rendered_with=template.source,
        rows_not_rendered=unrendered,
    )
    summary = (
        f"{path}: {counted(len(good), 'row')}, longest {lengths[longest]} tokens "
        f"(row {good[longest][0]})"
    )
    if unrendered:
        summary += f" ({unrendered} rendered as plain text: the chat template refused them)"
    if undeclared:
        summary += f"; {undeclared} rows call a tool their tools list does not define"
    if len(over) == len(good):
        reason = f"{summary}: every row exceeds --max-seq-len {max_seq_len}"
        return Check(name, "fail", reason, details), good
    if over:
        reason = (
            f"{summary}: {len(over)} of {len(good)} rows exceed --max-seq-len {max_seq_len} "
            "and will be truncated"
        )
        return Check(name, "warn", reason, details), good
    verdict: Verdict = "warn" if undeclared else "pass"
    return Check(name, verdict, f"{summary}, all within --max-seq-len {max_seq_len}", details), good


# --- 2. chat template -----------------------------------------------------------------


def _samples(
    rows: list[tuple[int, Mapping[str, Any]]], method: str
) -> list[tuple[str, list[dict[str, Any]], Any]]:
    """The conversations to render: up to :data:`MAX_RENDERED` rows with tool calls (else
    the first row; a probe when there is none), each with what it is and its tools."""
    picked: list[tuple[str, list[dict[str, Any]], Any]] = []
    for number, row in rows:
        messages = _conversations(row, method)[0]
        if any(m.get("tool_calls") for m in messages):
            picked.append((f"row {number}", messages, row.get("tools")))
            if len(picked) == MAX_RENDERED:
                break
    if not picked and rows:
        number, row = rows[0]
        picked.append((f"row {number}", _conversations(row, method)[0], row.get("tools")))
    if not picked:
        probe = "a probe conversation (the dataset has no usable row)"
        picked.append((probe, _PROBE_ROW["messages"], _PROBE_ROW["tools"]))
    return picked


def _argument_forms(arguments: Any) -> tuple[list[str], str | None]:
    """How a call's arguments may appear in a faithful rendering, and the escaped form
    that shows a JSON string was encoded again (``"{\\"path\\": ...}"``)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    parsed = json.loads(raw)
    forms = [raw] + [
        json.dumps(parsed, ensure_ascii=ascii_, separators=sep, sort_keys=keys)
        for ascii_ in (False, True)
        for sep in ((", ", ": "), (",", ":"))
        for keys in (False, True)
    ]
    return forms, json.dumps(raw)[1:-1] if isinstance(arguments, str) else None


def _unfaithful(text: str, messages: list[dict[str, Any]], tools: Any) -> list[str]:
    missing: list[str] = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call["function"]
            if function["name"] not in text:
                missing.append(f"the name of call {call['id']!r} ({function['name']})")
                continue
            forms, escaped = _argument_forms(function.get("arguments", "{}"))
            values = json.loads(forms[0])
            if escaped and escaped in text and escaped != forms[0]:
                missing.append(
                    f"the arguments of call {call['id']!r} (written as an "
                    "escaped string, encoded twice)"
                )
            elif not any(form in text for form in forms) and not all(
                key in text and (str(value) in text or json.dumps(value) in text)
                for key, value in values.items()
            ):
                missing.append(f"the arguments of call {call['id']!r}")
        if message.get("role") == "tool" and (message.get("content") or "") not in text:
            missing.append(f"the result of call {message.get('tool_call_id')!r}")
    for tool in tools or []:
        if tool["function"]["name"] not in text:
            missing.append(f"the definition of tool {tool['function']['name']!r}")
    return missing


def _check_template(
    template: _Template, rows: list[tuple[int, Mapping[str, Any]]], method: str
) -> Check:
    name = "chat_template"
    details: dict[str, Any] = {"source": template.source}
    if template.text is None:
        return Check(
            name,
            "fail",
            f"{template.source}: no chat template; {TEMPLATE_FIX}",
            {**details, "fix": TEMPLATE_FIX},
        )
    samples = _samples(rows, method)
    details["rendered"] = [which for which, _, _ in samples]
    rendered: list[tuple[str, list[dict[str, Any]], str, list[tuple[int, int]]]] = []
    for which, messages, tools in samples:
        try:
            text, spans = render_with_generation_spans(
                template.text,
                messages,
                tools=tools or None,
                bos_token=template.bos,
                eos_token=template.eos,
            )
        except TemplateError as exc:
            reason = f"{template.source}: rendering {which} failed: {exc}; {TEMPLATE_FIX}"
            return Check(name, "fail", reason, {**details, "fix": TEMPLATE_FIX})
        missing = _unfaithful(text, messages, tools)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            reason = (
                f"{template.source}: rendering {which} drops {missing[0]}{more}; the model "
                f"would not learn its calls; {TEMPLATE_FIX}"
            )
            details["missing"] = missing[:MAX_LISTED]
            return Check(name, "fail", reason, {**details, "fix": TEMPLATE_FIX})
        rendered.append((which, messages, text, spans))
    which = samples[0][0] if len(samples) == 1 else f"{len(samples)} rows"
    details.update(missing=[], generation_blocks=all(spans for *_, spans in rendered))
    if method == "dpo":
        note = (
            ""
            if details["generation_blocks"]
            else " (DPO scores whole completions: no loss mask is needed)"
        )
        return Check(
            name,
            "pass",
            f"{template.source}: renders {which}'s tool calls and results faithfully{note}",
            details,
        )
    if not details["generation_blocks"]:
        reason = (
            f"{template.source}: renders {which} faithfully but has no {{% generation %}} "
            "blocks, so the loss covers prompts and tool results too; " + TEMPLATE_FIX
        )
        return Check(name, "warn", reason, {**details, "fix": TEMPLATE_FIX})
    for where, messages, text, spans in rendered:
        if any(
            m.get("role") == "assistant"
            and m.get("content")
            and not any(m["content"] in text[a:b] for a, b in spans)
            for m in messages
        ):
            reason = (
                f"{template.source}: its {{% generation %}} blocks in {where} leave out "
                "assistant text, which would not be trained on; " + TEMPLATE_FIX
            )
            return Check(name, "warn", reason, {**details, "fix": TEMPLATE_FIX})
    return Check(
        name,
        "pass",
        f"{template.source}: renders {which}'s tool calls and "
        "results faithfully; {% generation %} blocks mask the loss to the "
        "assistant",
        details,
    )


# --- 3. licence and provenance --------------------------------------------------------


def _provenance(
    dataset_dir: Path, path: Path, approval: Mapping[str, Any] | None
) -> tuple[Verdict, str, dict[str, Any]]:
    if approval is None:
        return (
            "fail",
            (
                f"{dataset_dir}: no approval record; build the dataset from an "
                "export approved with 'modellab redact approve'"
            ),
            {},
        )
    fingerprint = approval.get("files_sha256")
    if not isinstance(fingerprint, str) or not _HEX64.fullmatch(fingerprint):
        return "fail", f"the approval record names no files_sha256 (got {fingerprint!r})", {}
    facts = {"files_sha256": fingerprint, "approved_at": approval.get("approved_at")}
    manifest_file = dataset_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "fail", f"{manifest_file}: missing or not JSON; rebuild the dataset", facts
    manifest = manifest if isinstance(manifest, dict) else {}
    built_from = (manifest.get("approval") or {}).get("files_sha256")
    if built_from != fingerprint:
        return (
            "fail",
            (
                f"{manifest_file}: built from approval {str(built_from)[:12]}, not "
                f"{fingerprint[:12]}"
            ),
            facts,
        )
    relative = path.relative_to(dataset_dir).as_posix()
    recorded = (manifest.get("files") or {}).get(relative)
    if path.is_file() and recorded is not None and recorded != sha256_file(path):
        return "fail", f"{path}: changed since the dataset was built (sha256 differs)", facts
    return "pass", f"data approved {approval.get('approved_at')} ({fingerprint[:12]})", facts


def _check_licence(
    passport: Mapping[str, Any] | None,
    base_model_dir: Path,
    dataset_dir: Path,
    path: Path,
    approval: Mapping[str, Any] | None,
) -> Check:
    licence = None if passport is None else passport.get("license", passport.get("licence"))
    if isinstance(licence, str) and licence.strip() and licence.strip().lower() != "unknown":
        model: tuple[Verdict, str] = ("pass", f"base model licence {licence}")
    else:
        model = (
            "warn",
            f"base model licence unknown ({base_model_dir}): read the model's "
            "terms before sharing what you train, and record them in its README.md "
            "front matter (license: ID), then reinstall it",
        )
    data_verdict, data_reason, facts = _provenance(dataset_dir, path, approval)
    verdict = _worst([model[0], data_verdict])
    # The failing part first: it is the one to act on.
    parts = [data_reason, model[1]] if data_verdict == "fail" else [model[1], data_reason]
    details = {"license": licence, "data": data_verdict, **facts}
    return Check("licence", verdict, "; ".join(parts), details)


# --- 4. memory ------------------------------------------------------------------------


def _read_config(base_model_dir: Path) -> dict[str, Any] | str:
    path = base_model_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path}: not found (a GGUF cannot be fine-tuned; install the HF folder)"
    except (OSError, ValueError) as exc:
        return f"{path}: not readable JSON ({type(exc).__name__})"
    return config if isinstance(config, dict) else f"{path}: not a JSON object"


def _targets(value: object) -> tuple[str, ...]:
    """LoRA target modules as the trainers take them: ``all-linear`` or names."""
    if isinstance(value, str) and value.strip() not in ("", "all-linear"):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    if isinstance(value, list | tuple) and value:
        return tuple(str(name) for name in value)
    return ALL_LINEAR


def _check_memory(
    config: dict[str, Any] | str,
    passport: Mapping[str, Any] | None,
    base_model_dir: Path,
    *,
    method: str,
    max_seq_len: int,
    batch_size: int,
    device: Device,
    options: Mapping[str, Any],
    longest: int | None,
) -> Check:
    name = "memory"
    if isinstance(config, str):
        return Check(name, "fail", f"cannot estimate: {config}", {})
    count = None if passport is None else passport.get("parameter_count")
    try:
        shape = ModelShape.from_config(config, count if isinstance(count, int) else None)
    except ValueError as exc:
        return Check(name, "fail", f"cannot estimate from {base_model_dir}/{exc}", {})
    gpu = device.gpus[0] if device.gpus else None
    if method == "sft-qlora" and gpu is None:
        return Check(
            name,
            "fail",
            "sft-qlora needs a CUDA GPU (bitsandbytes 4-bit) and "
            f"none was found ({device.describe()}); use --method sft-lora",
            {},
        )
    where: Literal["cpu", "gpu"] = "gpu" if gpu else "cpu"
    dtype = str(options.get("dtype") or ("bfloat16" if gpu else "float32"))
    file_bytes = sum(f.stat().st_size for f in base_model_dir.glob("*.safetensors"))
    # The collator pads a batch to its longest row, not to --max-seq-len: with the rows'
    # real lengths known, the worst batch holds the longest row (truncated) and its like.
    seq = min(max_seq_len, longest) if longest else max_seq_len
    estimate = estimate_peak(
        shape,
        method=method,
        max_seq_len=seq,
        batch_size=batch_size,
        where=where,
        dtype=dtype,
        lora_rank=int(options.get("lora_r", 16)),
        lora_targets=_targets(options.get("lora_targets")),
        gradient_checkpointing=bool(options.get("gradient_checkpointing", False)),
        file_bytes=file_bytes,
    )
    room = gpu.memory_free_bytes if gpu else device.ram_available_bytes
    kind = "GPU memory" if gpu else "RAM"
    largest = max(estimate.parts, key=estimate.parts.__getitem__)
    reason = (
        f"estimated peak {_gib(estimate.peak_bytes)} of {kind} for {method}, "
        f"{shape.parameters / 1e6:.0f}M parameters, {batch_size} x {seq} tokens, "
        f"{dtype} (largest part: {largest} {_gib(estimate.parts[largest])}); "
        f"machine: {device.describe()}"
    )
    details = {
        "peak_bytes": estimate.peak_bytes,
        "available_bytes": room,
        "where": where,
        "dtype": dtype,
        "sequence_tokens": seq,
        "parts": estimate.parts,
        "trainable_parameters": estimate.trainable_parameters,
    }
    if estimate.peak_bytes > room:
        return Check(
            name,
            "fail",
            reason + "; lower --max-seq-len or the batch size, or use sft-lora",
            details,
        )
    if estimate.peak_bytes > 0.8 * room:
        return Check(name, "warn", reason + " (over 80%)", details)
    return Check(name, "pass", reason, details)


# --- 5. deployability -----------------------------------------------------------------


def _check_deployability(config: dict[str, Any] | str, method: str) -> Check:
    name = "deployability"
    if isinstance(config, str):
        return Check(name, "fail", config, {})
    architectures = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    model_type = config.get("model_type")
    details: dict[str, Any] = {"architectures": architectures, "model_type": model_type}
    if architectures and not any(
        a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))
        for a in architectures
    ):
        return Check(
            name,
            "fail",
            f"config.json: {', '.join(architectures)} is not a "
            "causal language model; it cannot be fine-tuned for chat",
            details,
        )
    gguf = GGUF_MODEL_TYPES.get(str(model_type))
    vllm = sorted(set(architectures) & VLLM_ARCHITECTURES)
    sglang = sorted(set(architectures) & SGLANG_ARCHITECTURES)
    details.update(gguf_arch=gguf, vllm=bool(vllm), sglang=bool(sglang))
    merge = (
        "the LoRA adapter merges into the base weights"
        if method != "sft-full"
        else ("the full weights are saved")
    )
    servers = [s for s, ok in (("vLLM", vllm), ("SGLang", sglang)) if ok]
    served = f"; served by {' and '.join(servers)}" if servers else ""
    if gguf is None:
        reason = (
            f"config.json: model_type {model_type!r} ({', '.join(architectures) or 'none'}) "
            "is not on the list llama.cpp's convert_hf_to_gguf.py is known to convert"
            f"{served or '; nor on the vLLM/SGLang lists'}: unknown whether it can be served"
        )
        return Check(name, "warn", reason, details)
    reason = (
        f"{model_type}: {merge}, converts to GGUF (llama.cpp arch {gguf}) for the llama.cpp "
        f"server{served}"
    )
    return Check(name, "pass", reason, details)


# --- all of them ----------------------------------------------------------------------


def _template_for(base_model_dir: Path, chat_template: Path | None) -> _Template:
    config: dict[str, Any] = {}
    try:
        loaded = json.loads((base_model_dir / "tokenizer_config.json").read_text("utf-8"))
        config = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    bos, eos = _special_token(config, "bos_token"), _special_token(config, "eos_token")
    if chat_template is not None:
        text = chat_template.read_text(encoding="utf-8")
        return _Template(text, str(chat_template), bos, eos)
    try:
        found = read_chat_template(base_model_dir)
    except TemplateError:
        found = None
    return _Template(found, f"the chat template of {base_model_dir}", bos, eos)


def run_preflight(
    *,
    dataset_dir: Path,
    method: str,
    base_model_dir: Path,
    passport: dict[str, Any] | None,
    approval: dict[str, Any] | None,
    max_seq_len: int,
    batch_size: int,
    device: Device | None = None,
    chat_template: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[Check]:
    """Every check of :data:`CHECKS`, in order; none raises for bad input, each says why.

    :param passport: the installed base model's passport (``license``,
        ``parameter_count``), or ``None`` when there is none.
    :param approval: the approval record the dataset was built from
        (:meth:`modellab.gate.ApprovedExport.record`), or ``None``.
    :param device: the machine to judge memory against; found with
        :func:`~modellab.training._memory.detect_device` when not given.
    :param chat_template: a template file that replaces the model's (``--chat-template``).
    :param options: the job's hyper-parameters that memory depends on: ``lora_r``,
        ``lora_targets`` (``all-linear``, or module names as a list or comma-separated),
        ``gradient_checkpointing``, ``dtype``; the trainers' defaults otherwise.
    :raises ValueError: ``method`` is not one of :data:`METHODS`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    path = dataset_file(dataset_dir, method)
    template = _template_for(base_model_dir, chat_template)
    dataset, rows = _check_dataset(path, method, template, base_model_dir, max_seq_len)
    config = _read_config(base_model_dir)
    memory = _check_memory(
        config,
        passport,
        base_model_dir,
        method=method,
        max_seq_len=max_seq_len,
        batch_size=batch_size,
        device=device or detect_device(),
        options=options or {},
        longest=dataset.details.get("longest_tokens"),
    )
    return [
        dataset,
        _check_template(template, rows, method),
        _check_licence(passport, base_model_dir, dataset_dir, path, approval),
        memory,
        _check_deployability(config, method),
    ]
