"""Preflight: every check with a passing and a failing case, on real files.

Datasets are built for real (sessions imported, exported, redacted, approved, then
``modellab dataset build``); the base model is a folder with a real ``config.json`` and a
real byte-level BPE ``tokenizer.json`` (trained here with ``tokenizers``, so the test
needs no download and no torch); templates are the real ones in
``../shared/corpus/chat-templates-trl`` and the ChatML + tools template of the tiny models.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tiny_models import CHATML_TOOLS_TEMPLATE

from factories import assistant, exported, result, saved_session, user
from modellab.cli import main
from modellab.models import render_template
from modellab.training._memory import Device, Gpu, detect_device, parse_nvidia_smi
from modellab.training._preflight import (
    CHECKS,
    GGUF_MODEL_TYPES,
    run_preflight,
)

GiB = 1024**3
ROOMY = Device(ram_total_bytes=64 * GiB, ram_available_bytes=60 * GiB)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"
#: SmolLM2-135M's shape: what the memory check sizes.
SMOLLM2 = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "num_hidden_layers": 30,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
_CORPUS = [
    "<|im_start|>system\nYou are CodeWhale.<|im_end|>",
    "<|im_start|>user\nRun the tests and fix the failing one.<|im_end|>",
    '<tool_call>\n{"name": "bash", "arguments": {"command": "pytest -q"}}\n</tool_call>',
    "<tool_response>\n1 failed, 3 passed\n</tool_response>",
    "Fixed the add function in app.py; the tests pass now.",
]


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(
        _CORPUS,
        trainers.BpeTrainer(
            vocab_size=350,
            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    bpe.save(str(path))


def model_folder(path: Path, *, template: str | None = CHATML_TOOLS_TEMPLATE, **config) -> Path:
    """A base model folder as the store installs it, less the weights preflight never reads."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({**SMOLLM2, **config}))
    _tokenizer(path / "tokenizer.json")
    (path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}))
    if template is not None:
        (path / "chat_template.jinja").write_text(template)
    return path


@pytest.fixture
def model(tmp_path) -> Path:
    return model_folder(tmp_path / "model")


def _sessions() -> list[dict[str, Any]]:
    """A session that edits and tests (two calls, each answered), one that only talks, and
    one whose failed edit is retried on the same file and passes: a preference pair."""

    def edit(call_id: str, *, error: bool = False, old: str = "a") -> list[dict[str, Any]]:
        arguments = {"path": "util.py", "edits": [{"oldText": old, "newText": "b"}]}
        text = "Error: oldText not found in util.py" if error else "Replaced 1 block."
        return [assistant("", (call_id, "edit", arguments)), result(call_id, text, error=error)]

    tests = [
        assistant("Running the tests.", ("t1", "bash", {"command": "pytest -q"})),
        result("t1", "4 passed in 0.2s"),
    ]
    return [
        saved_session(
            [user("Fix add() in util.py"), *edit("e1"), *tests, assistant("Fixed.")],
            session_id="work",
        ),
        saved_session(
            [user("What does util.py do?"), assistant("It adds numbers.")], session_id="talk"
        ),
        saved_session(
            [
                user("Rename the helper in util.py"),
                *edit("p1", error=True),
                *edit("p2", old="helper"),
                assistant("Renamed."),
            ],
            session_id="pair",
        ),
    ]


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def dataset(tmp_path, capsys) -> tuple[Path, dict[str, Any]]:
    """A dataset built from an approved export, in both formats; and its approval."""
    export = exported(tmp_path, _sessions())
    out = tmp_path / "ds"
    capsys.readouterr()
    command = ["dataset", "build", str(export), "--out", str(out), "--from", "all"]
    command += ["--test-fraction", "0", "--format", "trl-sft", "--format", "preference"]
    assert main([*command, "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    return out, manifest["approval"]


def preflight(dataset, model, method="sft-lora", **overrides) -> dict[str, Any]:
    """Every check, by name."""
    out, approval = dataset
    arguments: dict[str, Any] = {
        "dataset_dir": out, "method": method, "base_model_dir": model,
        "passport": {"license": "apache-2.0", "parameter_count": 134_515_008},
        "approval": approval, "max_seq_len": 4096, "batch_size": 2, "device": ROOMY,
    }  # fmt: skip
    arguments.update(overrides)
    checks = run_preflight(**arguments)
    assert [c.name for c in checks] == list(CHECKS)
    for check in checks:
        assert "\n" not in check.reason and check.reason
        json.dumps(check.details)  # JSON-native: the catalog stores them
    return {c.name: c for c in checks}


def rewrite(path: Path, edit) -> None:
    """Apply ``edit`` to the first row of a JSONL file."""
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    edit(row)
    lines[0] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


def corpus_template(shared: Path, name: str) -> Path:
    return shared / "corpus" / "chat-templates-trl" / name


# --- 1. dataset -----------------------------------------------------------------------


def test_dataset_passes_with_real_token_counts(dataset, model):
    check = preflight(dataset, model)["dataset"]
    assert check.verdict == "pass", check.reason
    train = rows(dataset[0] / "trl-sft" / "train.jsonl")
    # The count is the base model's tokenizer on the template's rendering of each row.
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    lengths = [
        len(tokenizer.encode(render_template(CHATML_TOOLS_TEMPLATE, r["messages"],
            tools=r["tools"] or None, eos_token="<|im_end|>"), add_special_tokens=False).ids)
        for r in train
    ]  # fmt: skip
    assert check.details["longest_tokens"] == max(lengths) > 20
    assert check.details["over_long"] == 0 and check.details["rows"] == len(train)
    assert f"longest {max(lengths)} tokens" in check.reason


def test_some_over_long_rows_warn_and_all_fail(dataset, model):
    longest = preflight(dataset, model)["dataset"].details["longest_tokens"]
    some = preflight(dataset, model, max_seq_len=longest - 1)["dataset"]
    assert some.verdict == "warn"
    assert some.details["over_long"] >= 1 and "will be truncated" in some.reason
    every = preflight(dataset, model, max_seq_len=4)["dataset"]
    assert every.verdict == "fail" and "every row exceeds --max-seq-len 4" in every.reason


def _drop_result(row):
    row["messages"] = [m for m in row["messages"] if m["role"] != "tool"]


def _orphan_result(row):
    row["messages"].append({"role": "tool", "tool_call_id": "nobody", "content": "x"})


def _bad_tool_schema(row):
    row["tools"] = [{"type": "function", "function": {"name": "bash"}}]


def _bad_role(row):
    row["messages"][1]["role"] = "robot"


def _assistant_first(row):
    row["messages"] = [m for m in row["messages"] if m["role"] != "user"]


def _empty(row):
    row["messages"] = []


def _arguments_not_json(row):
    call = next(m for m in row["messages"] if m.get("tool_calls"))["tool_calls"][0]
    call["function"]["arguments"] = "{not json"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_drop_result, r"call '[^']+' \(\w+\) has no tool result"),
        (_orphan_result, r"tool result 'nobody' answers no earlier call"),
        (_bad_tool_schema, r"tools\[0\]: 'bash' has no parameters object"),
        (_bad_role, r"message 1: role 'robot' is not one of"),
        (_assistant_first, r"starts with 'assistant', expected 'user'"),
        (_empty, r"empty \(no messages\)"),
        (_arguments_not_json, r"arguments of call '[^']+' are not JSON"),
    ],
)
def test_structural_errors_fail_naming_the_row(dataset, model, edit, expected):
    rewrite(dataset[0] / "trl-sft" / "train.jsonl", edit)
    check = preflight(dataset, model)["dataset"]
    assert check.verdict == "fail"
    assert re.search(r"train\.jsonl: row 1[ :]", check.reason), check.reason
    assert re.search(expected, check.reason), check.reason


def test_text_from_the_dataset_is_escaped_in_the_reason(dataset, model):
    def hostile(row):
        row["messages"][1]["role"] = "robot\x1b[2J\u202e\nfake line"

    rewrite(dataset[0] / "trl-sft" / "train.jsonl", hostile)
    check = preflight(dataset, model)["dataset"]
    assert check.verdict == "fail"
    assert not any(c in check.reason for c in "\x1b\u202e\n"), check.reason


def test_a_line_that_is_not_json_fails(dataset, model):
    path = dataset[0] / "trl-sft" / "train.jsonl"
    path.write_text(path.read_text() + "{oops\n")
    check = preflight(dataset, model)["dataset"]
    assert check.verdict == "fail" and "not JSON" in check.reason


def test_dpo_rows_pass_and_a_broken_pair_fails(dataset, model):
    path = dataset[0] / "preference" / "train.jsonl"
    assert rows(path), "the sessions made no preference pair"
    assert preflight(dataset, model, method="dpo")["dataset"].verdict == "pass"

    def user_in_chosen(row):
        row["chosen"].append({"role": "user", "content": "hi"})

    rewrite(path, user_in_chosen)
    check = preflight(dataset, model, method="dpo")["dataset"]
    assert check.verdict == "fail" and "row 1 chosen" in check.reason


# --- 2. chat template -----------------------------------------------------------------


def test_a_template_with_tools_and_generation_blocks_passes(dataset, model):
    check = preflight(dataset, model)["chat_template"]
    assert check.verdict == "pass", check.reason
    assert check.details["generation_blocks"] is True and check.details["missing"] == []


def test_a_template_that_drops_tool_calls_fails_and_offers_the_fix(dataset, tmp_path, shared):
    llama3 = corpus_template(shared, "llama3.jinja").read_text()
    check = preflight(dataset, model_folder(tmp_path / "m", template=llama3))["chat_template"]
    assert check.verdict == "fail"
    assert "drops the name of call" in check.reason or "drops the arguments" in check.reason
    assert "--chat-template FILE" in check.reason and check.details["fix"]


def test_arguments_encoded_twice_are_not_faithful(dataset, tmp_path, shared):
    # Qwen2.5's template pipes arguments through tojson: a JSON string comes out escaped.
    qwen = corpus_template(shared, "qwen2_5.jinja").read_text()
    check = preflight(dataset, model_folder(tmp_path / "m", template=qwen))["chat_template"]
    assert check.verdict == "fail" and "encoded twice" in check.reason


def test_no_generation_blocks_warns_for_sft_and_passes_for_dpo(dataset, tmp_path, shared):
    qwen3 = corpus_template(shared, "qwen3.jinja").read_text()
    folder = model_folder(tmp_path / "m", template=qwen3)
    sft = preflight(dataset, folder)["chat_template"]
    assert sft.verdict == "warn" and "no {% generation %} blocks" in sft.reason
    dpo = preflight(dataset, folder, method="dpo")["chat_template"]
    assert dpo.verdict == "pass" and "no loss mask is needed" in dpo.reason


def test_the_training_variant_of_a_real_template_passes(dataset, tmp_path, shared):
    training = corpus_template(shared, "qwen3_training.jinja")
    check = preflight(dataset, model_folder(tmp_path / "m", template=None),
                      chat_template=training)["chat_template"]  # fmt: skip
    assert check.verdict == "pass", check.reason
    assert check.details["source"] == str(training)


def test_a_model_without_a_template_fails(dataset, tmp_path):
    check = preflight(dataset, model_folder(tmp_path / "m", template=None))["chat_template"]
    assert check.verdict == "fail" and "no chat template" in check.reason


def test_the_shipped_template_preflight_offers_as_the_fix_passes(dataset, tmp_path):
    from modellab.training._job import template_path
    from modellab.training._preflight import TEMPLATE_FIX

    assert "--chat-template chatml-tools" in TEMPLATE_FIX
    fix = template_path("chatml-tools")
    assert f"`{fix.relative_to(DOCS.parents[1]).as_posix()}`" in DOCS.read_text()
    folder = model_folder(tmp_path / "m", template="{{ messages[0].content }}")
    assert preflight(dataset, folder)["chat_template"].verdict == "fail"
    check = preflight(dataset, folder, chat_template=fix)["chat_template"]
    assert check.verdict == "pass", check.reason


# --- 3. licence and provenance --------------------------------------------------------


def test_a_known_licence_and_a_standing_approval_pass(dataset, model):
    check = preflight(dataset, model)["licence"]
    assert check.verdict == "pass", check.reason
    assert "apache-2.0" in check.reason and dataset[1]["files_sha256"][:12] in check.reason


def test_an_unknown_licence_warns_with_the_fix(dataset, model):
    check = preflight(dataset, model, passport={"license": None})["licence"]
    assert check.verdict == "warn" and "licence unknown" in check.reason
    assert "license: ID" in check.reason


def test_no_approval_fails(dataset, model):
    check = preflight(dataset, model, approval=None)["licence"]
    assert check.verdict == "fail" and "no approval record" in check.reason


def test_another_approval_or_an_edited_dataset_fails(dataset, model):
    other = {**dataset[1], "files_sha256": "ab" * 32}
    check = preflight(dataset, model, approval=other)["licence"]
    assert check.verdict == "fail" and "not abababababab" in check.reason
    path = dataset[0] / "trl-sft" / "train.jsonl"
    path.write_text(path.read_text().replace("CodeWhale", "CodeWhalf", 1))
    check = preflight(dataset, model)["licence"]
    assert check.verdict == "fail" and "changed since the dataset was built" in check.reason


# --- 4. memory ------------------------------------------------------------------------


def test_memory_passes_on_a_roomy_machine(dataset, model):
    checks = preflight(dataset, model)
    check = checks["memory"]
    assert check.verdict == "pass", check.reason
    parts = check.details["parts"]
    assert sum(parts.values()) == check.details["peak_bytes"]
    assert parts["weights"] == 134_515_008 * 4  # float32 on a CPU
    # Batches are padded to their longest row, not to --max-seq-len.
    longest = checks["dataset"].details["longest_tokens"]
    assert check.details["sequence_tokens"] == longest < 4096
    assert f"2 x {longest} tokens" in check.reason
    short = preflight(dataset, model, max_seq_len=16)["memory"]
    assert short.details["sequence_tokens"] == 16
    assert short.details["parts"]["logits"] < parts["logits"]


def test_memory_follows_the_jobs_lora_settings(dataset, model):
    every = preflight(dataset, model, options={"lora_targets": "all-linear"})["memory"]
    two = preflight(dataset, model, options={"lora_targets": "q_proj,v_proj", "lora_r": 8})
    assert every.details["trainable_parameters"] == 30 * 16 * (576 * 9 + 192 * 2 + 1536 * 3)
    assert two["memory"].details["trainable_parameters"] == 30 * 8 * (576 * 2 + 576 + 192)


def test_memory_warns_above_80_percent_and_fails_above_the_room(dataset, model):
    peak = preflight(dataset, model)["memory"].details["peak_bytes"]
    tight = Device(ram_total_bytes=peak * 2, ram_available_bytes=int(peak / 0.9))
    check = preflight(dataset, model, device=tight)["memory"]
    assert check.verdict == "warn" and "over 80%" in check.reason
    small = Device(ram_total_bytes=peak, ram_available_bytes=peak // 2)
    check = preflight(dataset, model, device=small)["memory"]
    assert check.verdict == "fail" and "lower --max-seq-len" in check.reason


def test_memory_on_a_gpu_counts_its_free_memory(dataset, model):
    h100 = Device(64 * GiB, 60 * GiB, (Gpu("NVIDIA H100 80GB HBM3", 80 * GiB, 2 * GiB),))
    check = preflight(dataset, model, device=h100)["memory"]
    assert check.verdict == "pass" and check.details["where"] == "gpu"
    assert check.details["available_bytes"] == 78 * GiB and "H100" in check.reason
    assert check.details["dtype"] == "bfloat16"


def test_qlora_without_a_gpu_fails(dataset, model):
    check = preflight(dataset, model, method="sft-qlora")["memory"]
    assert check.verdict == "fail" and "--method sft-lora" in check.reason


def test_the_device_is_found_without_torch():
    device = detect_device()
    assert 0 < device.ram_available_bytes <= device.ram_total_bytes
    text = "NVIDIA H100 80GB HBM3, 81559, 4\nNVIDIA A, B, 1024, 512\ngarbage\n"
    gpus = parse_nvidia_smi(text)
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA A, B"]
    assert gpus[0].memory_free_bytes == (81559 - 4) * 1024**2


# --- 5. deployability -----------------------------------------------------------------


def test_a_llama_model_is_deployable(dataset, model):
    check = preflight(dataset, model)["deployability"]
    assert check.verdict == "pass", check.reason
    assert check.details["gguf_arch"] == "llama" and check.details["vllm"] is True


def test_an_unknown_architecture_warns(dataset, tmp_path):
    folder = model_folder(tmp_path / "m", model_type="fancynet",
                          architectures=["FancyNetForCausalLM"])  # fmt: skip
    check = preflight(dataset, folder)["deployability"]
    assert check.verdict == "warn" and "'fancynet'" in check.reason


def test_an_encoder_or_a_folder_without_config_fails(dataset, tmp_path):
    bert = model_folder(tmp_path / "bert", model_type="bert", architectures=["BertForMaskedLM"])
    check = preflight(dataset, bert)["deployability"]
    assert check.verdict == "fail" and "not a causal language model" in check.reason
    bare = model_folder(tmp_path / "bare")
    (bare / "config.json").unlink()
    checks = preflight(dataset, bare)
    assert checks["deployability"].verdict == "fail" and "config.json: not found" in (
        checks["deployability"].reason
    )
    assert checks["memory"].verdict == "fail"


def test_the_gguf_architectures_are_llama_cpps_own():
    gguf = pytest.importorskip("gguf", reason="gguf (gguf-py from llama.cpp) not installed")
    known = set(gguf.constants.MODEL_ARCH_NAMES.values())
    assert set(GGUF_MODEL_TYPES.values()) <= known, set(GGUF_MODEL_TYPES.values()) - known


def test_an_unknown_method_is_refused(dataset, model):
    with pytest.raises(ValueError, match="unknown method 'sft-magic'"):
        preflight(dataset, model, method="sft-magic")
