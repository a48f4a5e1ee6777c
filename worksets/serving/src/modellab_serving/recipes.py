"""Launch plans: one recipe per serving stack, from a :class:`ServeRequest` to a
:class:`ServeResult` that the core starts, confines and probes.

=============  ==================================  ==============  ===============
backend        started as                          readiness       tool calls
=============  ==================================  ==============  ===============
``llama.cpp``  ``python -m llama_cpp.server``      ``/v1/models``  chat format
``vllm``       ``vllm serve`` (module or program)  ``/health``     parser flags
``sglang``     ``sglang.launch_server`` / program  ``/health``     parser flags
``tgi``        ``text-generation-launcher``        ``/health``     grammar (none)
``ollama``     ``ollama serve``                    ``/api/version``  no tool_choice
=============  ==================================  ==============  ===============

Parsers are chosen from the chat template (:mod:`modellab_serving._families`); a stack that
is not installed here is :class:`StackMissing`, naming what is missing
(:mod:`modellab_serving._stacks`). Nothing here starts a server or touches the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from modellab.workset import ServeRequest, ServeResult
from modellab_serving._families import Family, chatml, detect, has_tool_support
from modellab_serving._stacks import Found, Machine, Stack, StackMissing, find

__all__ = ["BACKENDS", "STACKS", "Machine", "StackMissing", "plan", "provider_block"]

#: Every stack this workset plans for, by the name the user types (``--backend NAME``).
STACKS: dict[str, Stack] = {
    "llama.cpp": Stack(
        name="llama.cpp",
        module="llama_cpp.server",
        module_args=(),
        program=None,
        program_args=(),
        install="`pip install 'llama-cpp-python[server]==0.3.36'` into it; reinstalling the "
        "serving workset does that",
        needs_gpu=False,
    ),
    "vllm": Stack(
        name="vllm",
        # ``vllm`` is a console script for this module's ``main``.
        module="vllm.entrypoints.cli.main",
        module_args=("serve",),
        program="vllm",
        program_args=("serve",),
        install="`pip install vllm==0.33.*` in an environment on PATH, on a machine with an "
        "NVIDIA GPU",
        needs_gpu=True,
    ),
    "sglang": Stack(
        name="sglang",
        module="sglang.launch_server",
        module_args=(),
        program="sglang",
        program_args=("serve",),
        install="`pip install sglang==0.5.23` in an environment on PATH, on a machine with an "
        "NVIDIA GPU",
        needs_gpu=True,
    ),
    "tgi": Stack(
        name="tgi",
        module=None,
        module_args=(),
        program="text-generation-launcher",
        program_args=(),
        install="build text-generation-launcher 3.3.x from "
        "github.com/huggingface/text-generation-inference and put it on PATH; Model Lab starts "
        "a program, not TGI's Docker image (TGI is in maintenance mode: prefer vllm or sglang)",
        needs_gpu=True,
    ),
    "ollama": Stack(
        name="ollama",
        module=None,
        module_args=(),
        program="ollama",
        program_args=("serve",),
        install="https://ollama.com/download puts `ollama` on PATH (the PyPI `ollama` package "
        "is only a client)",
        needs_gpu=False,
    ),
}

#: The backend names, in the order the workset registers them.
BACKENDS: tuple[str, ...] = tuple(STACKS)

#: ``ServeResult.notes`` holds lines of at most this many characters.
_NOTE_MAX = 300
#: GPU stacks load for minutes; CPU ones for seconds.
_GPU_READY_S = 900.0
#: vLLM's accepted ``--max-lora-rank`` values; its default is 16.
_VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: An ``--option`` key: a flag name, nothing that could start a second argument.
_OPTION_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: Options that would move the server off the planned address or model: the plan sets them.
_RESERVED = frozenset(
    {
        "host",
        "hostname",
        "port",
        "model",
        "model-path",
        "model-id",
        "model-alias",
        "served-model-name",
        "config-file",
        "uds",
    }
)


def _note(text: str) -> str:
    return text if len(text) <= _NOTE_MAX else text[: _NOTE_MAX - 1] + "…"


def _options(request: ServeRequest) -> list[str]:
    """``--option KEY=VALUE`` as flags: ``--KEY VALUE``; ``True`` is a bare ``--KEY``,
    ``False`` leaves the flag out."""
    args: list[str] = []
    for key, value in sorted(request.options.items()):
        if not _OPTION_KEY.match(key):
            raise ValueError(f"option {key!r} is not a flag name (letters, digits, - and _)")
        if key.lower().replace("_", "-") in _RESERVED:
            raise ValueError(f"option {key!r} is set by the plan; it cannot be overridden")
        if value is False:
            continue
        args.append(f"--{key}")
        if value is not True:
            args.append(str(value))
    return args


def _abs(path: Path) -> str:
    return str(path.absolute())


def _weights(request: ServeRequest) -> tuple[Path, Path | None]:
    """The safetensors folder to serve and the adapter on top of it (GPU stacks)."""
    if request.merged_dir is not None:
        return request.merged_dir, None
    if request.model_dir is None:
        raise ValueError(f"{request.backend} needs a model folder: the request names none")
    if request.gguf_file is not None:
        raise ValueError(
            f"{request.backend} serves safetensors folders, and this model is a GGUF "
            "file: serve it with llama.cpp or ollama"
        )
    return request.model_dir, request.adapter_dir


def _parser_notes(family: Family, tools: str, reasoning: str | None) -> list[str]:
    """Which parsers were chosen and why (``tools``/``reasoning``: the stack's names)."""
    notes = [f"tool-call parser {tools}: {family.reason}"]
    if reasoning:
        notes.append(f"reasoning parser {reasoning}: {family.reasoning_reason}")
    if not family.template_has_tools:
        notes.append(
            "the model's chat template has no tool support: expect few or no tool calls "
            "unless the model was trained on Hermes-style <tool_call> output"
        )
    return notes


def _lora_rank(adapter: Path) -> int | None:
    """The PEFT adapter's rank ``r`` (``adapter_config.json``), if it says."""
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rank = config.get("r") if isinstance(config, dict) else None
    return rank if isinstance(rank, int) and rank > 0 else None


def _llama_cpp(
    request: ServeRequest, found: Found, gguf: Path | None, lora: Path | None
) -> ServeResult:
    model_file = gguf
    if model_file is None and request.model_dir is not None and request.gguf_file:
        model_file = request.model_dir / request.gguf_file
    if model_file is None:
        raise ValueError(
            "llama.cpp serves GGUF files: the request names no GGUF file and none was "
            "converted from its weights"
        )
    if request.adapter_dir is not None and request.merged_dir is None and lora is None:
        raise ValueError("llama.cpp needs the candidate's adapter converted to GGUF first")
    argv = [
        *found.argv,
        "--model",
        _abs(model_file),
        "--host",
        request.host,
        "--port",
        str(request.port),
        "--n_ctx",
        str(request.context_length),
        "--model_alias",
        request.model,
    ]
    reads = [_abs(model_file)]
    notes: list[str] = []
    if request.threads is not None:
        argv += ["--n_threads", str(request.threads)]
    if lora is not None:
        argv += ["--lora_path", _abs(lora)]
        reads.append(_abs(lora))
        notes.append("the adapter is applied to the base GGUF at load (--lora_path)")
    template = request.chat_template
    if chatml(template):
        # llama-cpp-python's own ChatML tool prompt, with a grammar: forced and auto tool
        # calls both come back as tool_calls with JSON arguments, from any ChatML model.
        # A template's own tool rendering gives neither a grammar nor, for "auto", a parser.
        argv += ["--chat_format", "chatml-function-calling"]
        why = "renders tools, but" if has_tool_support(template) else "has no tool support;"
        notes.append(
            f"chat format chatml-function-calling: the chat template is ChatML and {why} "
            "llama.cpp's own ChatML tool prompt constrains calls to JSON"
        )
    elif has_tool_support(template):
        notes.append("chat format: the GGUF's own template, which renders tools")
    elif template is None:
        notes.append("chat format: the GGUF's own template (none was given to check for tools)")
    else:
        notes.append(
            "chat format: the GGUF's own template, which has no tool support: only a forced "
            "tool_choice gives tool calls (by grammar)"
        )
    argv += _options(request)
    return ServeResult(
        argv=argv,
        env={},
        health_path="/v1/models",
        health_check="model-listed",
        served_model=request.model,
        reads=[*reads, *found.reads],
        notes=[_note(n) for n in notes],
    )


def _vllm(request: ServeRequest, found: Found, gguf: Path | None, lora: Path | None) -> ServeResult:
    weights, adapter = _weights(request)
    family = detect(request.chat_template, request.architecture)
    # With an adapter, the adapter takes the requested name: vLLM answers a name that is
    # both a served model and a LoRA with the base, so the base must be called otherwise.
    base_name = f"{request.model}-base" if adapter is not None else request.model
    argv = [
        *found.argv,
        _abs(weights),
        "--host",
        request.host,
        "--port",
        str(request.port),
        "--served-model-name",
        base_name,
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        family.vllm_tools,
    ]
    if family.vllm_reasoning:
        argv += ["--reasoning-parser", family.vllm_reasoning]
    argv += ["--max-model-len", str(request.context_length)]
    reads = [_abs(weights)]
    notes = _parser_notes(family, family.vllm_tools, family.vllm_reasoning)
    if family.name == "llama3":
        notes.append(
            "vLLM's docs pair llama3_json with its tool_chat_template_llama3.1_json.jinja; "
            "the model's own template is used (--option chat-template=FILE to change it)"
        )
    if adapter is not None:
        argv += ["--enable-lora", "--lora-modules", f"{request.model}={_abs(adapter)}"]
        rank = _lora_rank(adapter)
        if rank is not None and rank > 16:
            allowed = [r for r in _VLLM_LORA_RANKS if r >= rank]
            argv += ["--max-lora-rank", str(allowed[0] if allowed else rank)]
        reads.append(_abs(adapter))
        notes.append(f"the adapter answers as {request.model}; the base as {base_name}")
    argv += _options(request)
    return _gpu_server(
        argv,
        {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"},
        request.model,
        [*reads, *found.reads],
        notes,
    )


def _gpu_server(
    argv: list[str], env: dict[str, str], served: str, reads: list[str], notes: list[str]
) -> ServeResult:
    """The plan of a GPU server (vLLM, SGLang, TGI): probed at ``/health``, given minutes."""
    return ServeResult(
        argv=argv,
        env=env,
        health_path="/health",
        health_check="ok",
        served_model=served,
        reads=reads,
        ready_timeout_s=_GPU_READY_S,
        notes=[_note(n) for n in notes],
    )


#: SGLang selects a LoRA with ``model: "<served-name>:<adapter>"``.
_SGLANG_ADAPTER = "adapter"


def _sglang(
    request: ServeRequest, found: Found, gguf: Path | None, lora: Path | None
) -> ServeResult:
    weights, adapter = _weights(request)
    family = detect(request.chat_template, request.architecture)
    argv = [
        *found.argv,
        "--model-path",
        _abs(weights),
        "--host",
        request.host,
        "--port",
        str(request.port),
        "--served-model-name",
        request.model,
        "--tool-call-parser",
        family.sglang_tools,
    ]
    if family.sglang_reasoning:
        argv += ["--reasoning-parser", family.sglang_reasoning]
    argv += ["--context-length", str(request.context_length)]
    reads = [_abs(weights)]
    notes = _parser_notes(family, family.sglang_tools, family.sglang_reasoning)
    served = request.model
    if adapter is not None:
        argv += ["--enable-lora", "--lora-paths", f"{_SGLANG_ADAPTER}={_abs(adapter)}"]
        reads.append(_abs(adapter))
        served = f"{request.model}:{_SGLANG_ADAPTER}"
        notes.append(f"the adapter answers as {served} (SGLang's base:adapter names)")
    argv += _options(request)
    # SGLang documents no usage-stats switch; offline Hub access keeps it off the network.
    return _gpu_server(argv, {"HF_HUB_OFFLINE": "1"}, served, [*reads, *found.reads], notes)


#: The note every TGI plan carries.
TGI_MAINTENANCE = (
    "TGI is in maintenance mode upstream (since 2025-12-11): prefer vllm or sglang for new work"
)


def _tgi(request: ServeRequest, found: Found, gguf: Path | None, lora: Path | None) -> ServeResult:
    weights, adapter = _weights(request)
    argv = [
        *found.argv,
        "--model-id",
        _abs(weights),
        "--hostname",
        request.host,
        "--port",
        str(request.port),
        "--max-total-tokens",
        str(request.context_length),
        # TGI reports usage by default.
        "--usage-stats",
        "off",
    ]
    reads = [_abs(weights)]
    notes = [
        TGI_MAINTENANCE,
        "tool calls: TGI needs no parser; it enforces tool_choice with a grammar",
    ]
    # On /v1/chat/completions TGI reads ``model`` as an adapter id, unless it is ``tgi``.
    served = "tgi"
    if adapter is not None:
        argv += ["--lora-adapters", f"{request.model}={_abs(adapter)}"]
        reads.append(_abs(adapter))
        served = request.model
        notes.append(f"the adapter answers as {request.model}; the base as tgi")
    argv += _options(request)
    return _gpu_server(argv, {"HF_HUB_OFFLINE": "1"}, served, [*reads, *found.reads], notes)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def modelfile(source: Path, adapter: Path | None) -> str:
    """An Ollama ``Modelfile``: ``FROM`` the weights (a GGUF or a safetensors folder),
    ``ADAPTER`` on top when there is one."""
    text = f"FROM {_abs(source)}\n"
    if adapter is not None:
        text += f"ADAPTER {_abs(adapter)}\n"
    return text


def _ollama(
    request: ServeRequest, found: Found, gguf: Path | None, lora: Path | None
) -> ServeResult:
    if request.options:
        raise ValueError("ollama takes no --option: it is configured by environment")
    source = gguf
    if source is None and request.model_dir is not None and request.gguf_file:
        source = request.model_dir / request.gguf_file
    if source is None:
        source = request.merged_dir or request.model_dir
    if source is None:
        raise ValueError("ollama needs a model: the request names no folder or GGUF file")
    adapter = lora
    if adapter is None and request.merged_dir is None:
        adapter = request.adapter_dir
    # Model Lab cannot run `ollama create` before the server is up (the core starts it),
    # so the plan writes the Modelfile and tells the user the one command left.
    store = request.work_dir / "ollama-models"
    request.work_dir.mkdir(parents=True, exist_ok=True)
    path = request.work_dir / "Modelfile"
    text = modelfile(source, adapter)
    path.write_text(text, encoding="utf-8")
    address = _host_port(request.host, request.port)
    notes = [
        f"once the server is up, create the model: OLLAMA_HOST={address} ollama create "
        f"{request.model} -f {_abs(path)}",
        *(f"Modelfile: {line}" for line in text.splitlines()),
        "ollama's /v1 API ignores tool_choice: the smoke test asks with tool_choice auto",
        f"ollama keeps created models in {_abs(store)} (OLLAMA_MODELS): `ollama create` "
        "needs the server to write there",
    ]
    reads = [_abs(source), _abs(request.work_dir)]
    if adapter is not None:
        reads.append(_abs(adapter))
    return ServeResult(
        argv=list(found.argv),
        env={
            "OLLAMA_HOST": address,
            "OLLAMA_CONTEXT_LENGTH": str(request.context_length),
            "OLLAMA_MODELS": _abs(store),
        },
        health_path="/api/version",
        health_check="ok",
        served_model=request.model,
        reads=[*reads, *found.reads],
        forced_tool_choice=False,
        ready_timeout_s=60.0,
        notes=[_note(n) for n in notes],
    )


_Recipe = Callable[[ServeRequest, Found, Path | None, Path | None], ServeResult]

_RECIPES: dict[str, _Recipe] = {
    "llama.cpp": _llama_cpp,
    "vllm": _vllm,
    "sglang": _sglang,
    "tgi": _tgi,
    "ollama": _ollama,
}


def plan(
    request: ServeRequest,
    *,
    gguf: Path | None = None,
    lora: Path | None = None,
    machine: Machine | None = None,
) -> ServeResult:
    """The launch plan that serves ``request.model`` with ``request.backend``.

    :param gguf: a GGUF converted from the model's weights (llama.cpp, Ollama); without
        it, llama.cpp serves ``request.model_dir / request.gguf_file``.
    :param lora: the candidate's adapter converted to GGUF (llama.cpp, Ollama).
    :param machine: what is installed here; the defaults look at this machine.
    :raises StackMissing: the stack is not installed here, or needs a GPU there is not;
        the message names what is missing and how to get it.
    :raises ValueError: the request cannot be served by this backend (a GGUF for vLLM, an
        unconverted adapter for llama.cpp, an option the plan sets itself).
    """
    recipe = _RECIPES.get(request.backend)
    if recipe is None:
        known = ", ".join(BACKENDS)
        raise ValueError(f"no serving recipe for backend {request.backend!r} (known: {known})")
    found = find(STACKS[request.backend], machine or Machine())
    return recipe(request, found, gguf, lora)


def provider_block(base_url: str, model: str, context_window: int) -> dict[str, object]:
    """CodeWhale's ``[providers.<name>]`` table for a local server: OpenAI-compatible, no
    key (the server listens on this machine)."""
    return {
        "kind": "openai-compatible",
        "base_url": base_url,
        "model": model,
        "context_window": context_window,
        "auth_mode": "none",
    }
