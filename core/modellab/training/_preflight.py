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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from modellab._internal.files import sha256_file
from modellab.models._template import (
    TemplateError,
    read_chat_template,
)
from modellab.training._check_deploy import (
    GGUF_MODEL_TYPES,
    SGLANG_ARCHITECTURES,
    VLLM_ARCHITECTURES,
    check_deployability,
)
from modellab.training._check_rows import check_dataset
from modellab.training._check_template import TEMPLATE_FIX, check_template
from modellab.training._checks import (
    CHECKS,
    METHODS,
    ChatTemplate,
    Check,
    Verdict,
    dataset_file,
    size_text,
    special_token,
    worst,
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

_HEX64 = re.compile(r"[0-9a-f]{64}")


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
    verdict = worst([model[0], data_verdict])
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
        f"estimated peak {size_text(estimate.peak_bytes)} of {kind} for {method}, "
        f"{shape.parameters / 1e6:.0f}M parameters, {batch_size} x {seq} tokens, "
        f"{dtype} (largest part: {largest} {size_text(estimate.parts[largest])}); "
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


# --- all of them ----------------------------------------------------------------------


def _template_for(base_model_dir: Path, chat_template: Path | None) -> ChatTemplate:
    config: dict[str, Any] = {}
    try:
        loaded = json.loads((base_model_dir / "tokenizer_config.json").read_text("utf-8"))
        config = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    bos, eos = special_token(config, "bos_token"), special_token(config, "eos_token")
    if chat_template is not None:
        text = chat_template.read_text(encoding="utf-8")
        return ChatTemplate(text, str(chat_template), bos, eos)
    try:
        found = read_chat_template(base_model_dir)
    except TemplateError:
        found = None
    return ChatTemplate(found, f"the chat template of {base_model_dir}", bos, eos)


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
    dataset, rows = check_dataset(path, method, template, base_model_dir, max_seq_len)
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
        check_template(template, rows, method),
        _check_licence(passport, base_model_dir, dataset_dir, path, approval),
        memory,
        check_deployability(config, method),
    ]
