"""Run one training job: SFT (LoRA, QLoRA, full) or DPO, on TRL + PEFT or on Unsloth.

:func:`run` is what both trainers' handlers call. It writes, under ``request.output_dir``:

* ``events.jsonl``: ``start``, ``step``, ``checkpoint``, then ``done`` or ``error``;
* ``checkpoints/checkpoint-<step>/``: the Trainer's own (weights, optimizer, RNG, state),
  every ``save_steps``, the newest ``keep_checkpoints`` kept; ``resume`` goes on from the
  newest one;
* ``adapter/``: the PEFT adapter (LoRA methods and DPO), with the tokenizer and template;
* ``merged/``: full weights + tokenizer + template, when ``merge`` is true (and always for
  ``sft-full``, whose result is a whole model);
* ``README.md``: the model card.

Nothing here imports torch or transformers at module level: the offline switches
(:mod:`modellab_unsloth._offline`) must be set first, and Unsloth must be imported before
transformers and TRL to patch them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modellab.workset import TrainRequest, TrainResult, UsageError, shown
from modellab_unsloth._hparams import HyperParameters, parse
from modellab_unsloth._offline import offline_environment

if TYPE_CHECKING:
    from modellab_unsloth._events import EventLog

__all__ = ["ADAPTER_DIR", "CHECKPOINTS_DIR", "MERGED_DIR", "Engine", "latest_checkpoint", "run"]

Engine = Literal["trl", "unsloth"]

CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"

_METHODS = ("sft-lora", "sft-qlora", "sft-full", "dpo")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")

NO_GPU_FOR_UNSLOTH = (
    "the unsloth backend needs a CUDA GPU and none was found; "
    "run the same job with --backend trl (TRL + PEFT, CPU or GPU)"
)
NO_UNSLOTH_PACKAGE = (
    "the unsloth backend needs the unsloth package, which is not installed in this "
    "workset's environment; run the same job with --backend trl"
)


def latest_checkpoint(output_dir: Path) -> tuple[Path, int] | None:
    """The newest complete ``checkpoints/checkpoint-<step>`` and its step, if any.

    Complete means its ``trainer_state.json`` exists: the Trainer writes that last, so a
    folder a kill cut short is passed over.
    """
    folder = output_dir / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    found: list[tuple[int, Path]] = []
    for item in folder.iterdir():
        match = _CHECKPOINT.match(item.name)
        if match and (item / "trainer_state.json").is_file():
            found.append((int(match.group(1)), item))
    if not found:
        return None
    step, path = max(found)
    return path, step


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _check_unsloth() -> None:
    """Refuse with one line, naming ``--backend trl``, where Unsloth cannot run."""
    if not _cuda_available():
        raise UsageError(NO_GPU_FOR_UNSLOTH)
    if importlib.util.find_spec("unsloth") is None:
        raise UsageError(NO_UNSLOTH_PACKAGE)


def _check_qlora(engine: Engine) -> None:
    if not _cuda_available():
        raise UsageError(
            "sft-qlora needs a CUDA GPU (bitsandbytes 4-bit); on this machine use --method sft-lora"
        )
    if engine == "trl" and importlib.util.find_spec("bitsandbytes") is None:
        raise UsageError(
            "sft-qlora needs the bitsandbytes package, which is not installed in this "
            "workset's environment; use --method sft-lora"
        )


def _versions(engine: Engine, method: str) -> dict[str, str]:
    names = ["torch", "transformers", "peft", "trl", "accelerate", "datasets"]
    if engine == "unsloth":
        names += ["unsloth", "unsloth_zoo"]
    if method == "sft-qlora":
        names.append("bitsandbytes")
    versions: dict[str, str] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _peak_rss_bytes() -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def run(request: TrainRequest, *, engine: Engine) -> TrainResult:
    """Train as ``request`` asks, on ``engine``; write events, outputs and the card.

    Bad input (method, hyper-parameters, dataset rows, a missing GPU for Unsloth or
    QLoRA) raises :class:`UsageError` with one line; any failure is also written to
    ``events.jsonl`` as an ``error`` event before it propagates.
    """
    output_dir = Path(request.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with offline_environment():
        try:
            return _run(request, engine, output_dir)
        except BaseException as error:
            _record_error(output_dir, error)
            raise


def _record_error(output_dir: Path, error: BaseException) -> None:
    import json

    message = str(error).splitlines()[0] if str(error) else ""
    line = json.dumps({"event": "error", "message": f"{type(error).__name__}: {message}"})
    try:
        with (output_dir / "events.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:
        pass  # the error itself is what the caller needs to see


def _run(request: TrainRequest, engine: Engine, output_dir: Path) -> TrainResult:
    method = request.method
    if method not in _METHODS:
        raise UsageError(f"unknown method '{shown(method)}' (choose from {', '.join(_METHODS)})")
    if request.base_model_dir is None:
        raise UsageError(f"base model '{shown(request.base_model)}' has no local folder to train")
    if not (Path(request.base_model_dir) / "config.json").is_file():
        raise UsageError(
            f"base model '{shown(request.base_model)}': no config.json in "
            f"{shown(str(request.base_model_dir))}; training needs a safetensors model folder, "
            "not a GGUF file"
        )
    hp = parse(method, dict(request.hyperparameters))
    if engine == "unsloth":
        _check_unsloth()
        # Unsloth patches transformers and TRL as it loads: it must come first.
        importlib.import_module("unsloth")
    if method == "sft-qlora":
        _check_qlora(engine)

    from modellab_unsloth import _data
    from modellab_unsloth._events import EventLog

    rows_file = _data.dataset_file(Path(request.dataset_dir), method)
    required = ("prompt", "chosen", "rejected") if method == "dpo" else ("messages",)
    rows = _data.read_rows(rows_file, required)
    dataset_info = {
        "file": rows_file.relative_to(request.dataset_dir).as_posix(),
        "sha256": _data.sha256_file(rows_file),
        "rows": str(len(rows)),
    }

    resumed_from: int | None = None
    checkpoint: Path | None = None
    if request.resume:
        found = latest_checkpoint(output_dir)
        if found is not None:
            checkpoint, resumed_from = found

    log = EventLog(output_dir)
    device = _device_name()
    job = _Job(request, engine, hp, output_dir, device, log)
    trainer = job.build(rows, resumed_from)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.monotonic() - started

    adapter_rel, merged_rel = job.save(trainer)
    metrics = _metrics(trainer, train_seconds, job.on_cuda, job.tokens_at_start)
    versions = _versions(engine, method)
    from modellab_unsloth._card import write_card

    card = write_card(
        output_dir,
        base_model=request.base_model,
        backend=request.backend or engine,
        method=method,
        dataset=dataset_info,
        approval={
            "files_sha256": request.approval.files_sha256,
            "approved_at": request.approval.approved_at,
            "catalog_id": request.approval.catalog_id,
        },
        hyperparameters=hp.as_dict(),
        metrics=metrics,
        versions=versions,
        device=device,
        outputs={"adapter": adapter_rel, "merged": merged_rel},
    )
    log.emit("done", metrics=metrics)
    return TrainResult(
        output_dir=output_dir,
        metrics=metrics,
        adapter_dir=adapter_rel,
        merged_dir=merged_rel,
        card=card.name,
        versions=versions,
        device=device,
    )


def _quiet() -> None:
    """No progress bars: the core shows progress from events.jsonl."""
    import datasets  # type: ignore[import-untyped]
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def _without_printer(trainer: Any) -> Any:
    """Drop the callback that prints every log dict: events.jsonl carries them."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


def _device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    return "cpu"


def _metrics(
    trainer: Any, train_seconds: float, on_cuda: bool, tokens_at_start: int
) -> dict[str, float]:
    state = trainer.state
    losses = [float(e["loss"]) for e in state.log_history if "loss" in e]
    summary: dict[str, Any] = next(
        (e for e in reversed(state.log_history) if "train_runtime" in e), {}
    )
    tokens = int(state.num_input_tokens_seen or 0)
    runtime = float(summary.get("train_runtime") or train_seconds)
    metrics: dict[str, float] = {
        "steps": float(state.global_step),
        "tokens": float(tokens),
        "train_seconds": round(train_seconds, 3),
        "peak_rss_bytes": float(_peak_rss_bytes()),
    }
    if losses:
        metrics["loss_first"] = losses[0]
        metrics["loss_last"] = losses[-1]
    # The Trainer's own runtime covers only this process's steps; tokens counted across a
    # resume would overstate the rate, so use this session's share when resumed.
    session_tokens = tokens - tokens_at_start
    metrics["tokens_per_s"] = round(session_tokens / runtime, 3) if runtime > 0 else 0.0
    if on_cuda:
        import torch

        metrics["peak_vram_bytes"] = float(torch.cuda.max_memory_allocated())
    return metrics


class _Job:
    """Builds the model, data and Trainer for one request, and saves what it made."""

    def __init__(
        self,
        request: TrainRequest,
        engine: Engine,
        hp: HyperParameters,
        output_dir: Path,
        device: str,
        log: EventLog,
    ) -> None:
        self.request = request
        self.engine = engine
        self.hp = hp
        self.output_dir = output_dir
        self.device = device
        self.log = log
        self.method = request.method
        self.base_dir = Path(str(request.base_model_dir))
        self.on_cuda = device != "cpu"
        self.tokenizer: Any = None
        self.callback: Any = None

    @property
    def tokens_at_start(self) -> int:
        """Tokens the run had seen before this process's first step (0 unless resumed)."""
        return int(self.callback.tokens_at_start) if self.callback is not None else 0

    # -- model ---------------------------------------------------------------------------

    def _dtype(self) -> Any:
        import torch

        if self.on_cuda:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # bf16 matmuls on a CPU are slow and its LoRA updates lose precision: train in fp32.
        return torch.float32

    def _lora_config(self) -> Any:
        from peft import LoraConfig

        names = self.hp.lora_targets
        targets: str | list[str] = names
        if names != "all-linear":
            targets = [t.strip() for t in names.split(",") if t.strip()]
        return LoraConfig(
            r=self.hp.lora_r,
            lora_alpha=self.hp.lora_alpha,
            lora_dropout=self.hp.lora_dropout,
            target_modules=targets,
            bias="none",
            task_type="CAUSAL_LM",
        )

    def _load_trl(self) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.base_dir, local_files_only=True)
        kwargs: dict[str, Any] = {"dtype": self._dtype(), "local_files_only": True}
        if self.method == "sft-qlora":
            import torch
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=self._dtype() if self.on_cuda else torch.float32,
            )
        model = AutoModelForCausalLM.from_pretrained(self.base_dir, **kwargs)
        if self.method == "sft-qlora":
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
                model, use_gradient_checkpointing=self.hp.gradient_checkpointing
            )
        return model, tokenizer

    def _load_unsloth(self) -> tuple[Any, Any]:
        fast_language_model = importlib.import_module("unsloth").FastLanguageModel

        model, tokenizer = fast_language_model.from_pretrained(
            model_name=str(self.base_dir),
            max_seq_length=self.hp.max_seq_len,
            dtype=None,
            load_in_4bit=self.method == "sft-qlora",
            full_finetuning=self.method == "sft-full",
        )
        if self.method != "sft-full":
            names = self.hp.lora_targets
            if names == "all-linear":
                targets = [
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "o_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                ]
            else:
                targets = [t.strip() for t in names.split(",") if t.strip()]
            model = fast_language_model.get_peft_model(
                model,
                r=self.hp.lora_r,
                lora_alpha=self.hp.lora_alpha,
                lora_dropout=self.hp.lora_dropout,
                target_modules=targets,
                bias="none",
                use_gradient_checkpointing="unsloth" if self.hp.gradient_checkpointing else False,
                random_state=self.hp.seed,
            )
        # FastLanguageModel may hand back a processor-like wrapper; the template is the
        # folder's own either way.
        return model, tokenizer

    # -- trainer -------------------------------------------------------------------------

    def _common_args(self) -> dict[str, Any]:
        hp = self.hp
        args: dict[str, Any] = {
            "output_dir": str(self.output_dir / CHECKPOINTS_DIR),
            "per_device_train_batch_size": hp.batch_size,
            "gradient_accumulation_steps": hp.grad_accum,
            "learning_rate": hp.learning_rate,
            "lr_scheduler_type": hp.lr_scheduler,
            "warmup_steps": hp.warmup_steps,
            "weight_decay": hp.weight_decay,
            "num_train_epochs": hp.epochs,
            "max_steps": hp.max_steps if hp.max_steps > 0 else -1,
            "logging_steps": 1,
            "save_strategy": "steps",
            "save_steps": hp.save_steps,
            "save_total_limit": hp.keep_checkpoints,
            "seed": hp.seed,
            "data_seed": hp.seed,
            "report_to": "none",
            "disable_tqdm": True,
            "include_num_input_tokens_seen": "non_padding",
            "dataloader_num_workers": 0,
            "use_cpu": not self.on_cuda,
            "max_length": hp.max_seq_len,
        }
        # TRL's configs default to checkpointing on (slower, less memory); ours is opt-in.
        args["activation_checkpointing"] = hp.gradient_checkpointing
        if self.on_cuda:
            import torch

            args["bf16"] = bool(torch.cuda.is_bf16_supported())
            args["fp16"] = not args["bf16"]
        return args

    def build(self, rows: list[dict[str, Any]], resumed_from: int | None) -> Any:
        """Load the model, tokenize ``rows`` and return a ready Trainer."""
        from datasets import Dataset

        from modellab_unsloth import _data
        from modellab_unsloth._events import ProgressCallback

        _quiet()
        model, tokenizer = self._load_unsloth() if self.engine == "unsloth" else self._load_trl()
        self.tokenizer = tokenizer
        text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        if self.request.chat_template is not None:
            # The user's --chat-template replaces the model's own (preflight judged it); it
            # is saved with the adapter and the merged model, so they render as trained.
            template = Path(self.request.chat_template).read_text(encoding="utf-8")
            tokenizer.chat_template = text_tokenizer.chat_template = template
        if text_tokenizer.pad_token is None:
            text_tokenizer.pad_token = text_tokenizer.eos_token
        callback = ProgressCallback(
            self.log, method=self.method, device=self.device, resumed_from=resumed_from
        )
        self.callback = callback
        peft_config = None
        if self.engine == "trl" and self.method != "sft-full":
            peft_config = self._lora_config()

        if self.method == "dpo":
            from trl.trainer.dpo_config import DPOConfig
            from trl.trainer.dpo_trainer import DPOTrainer

            if self.engine == "unsloth":
                importlib.import_module("unsloth").PatchDPOTrainer()
            texts = _data.preference_texts(rows, text_tokenizer)
            dpo_config = DPOConfig(**self._common_args(), beta=self.hp.dpo_beta)
            dpo_trainer = DPOTrainer(
                model=model,
                args=dpo_config,
                train_dataset=Dataset.from_list(texts),
                processing_class=text_tokenizer,
                peft_config=peft_config,
                callbacks=[callback],
            )
            return _without_printer(dpo_trainer)

        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer

        examples = _data.sft_examples(rows, text_tokenizer, self.hp.max_seq_len)
        config = SFTConfig(**self._common_args(), packing=False)
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(examples.rows),
            processing_class=text_tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
        return _without_printer(trainer)

    # -- outputs -------------------------------------------------------------------------

    def _replace(self, built: Path, name: str) -> str:
        final = self.output_dir / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(built, final)
        return name

    def _fresh(self, name: str) -> Path:
        temporary = self.output_dir / f".{name}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        return temporary

    def save(self, trainer: Any) -> tuple[str | None, str | None]:
        """Write ``adapter/`` (and ``merged/``); return their paths relative to the run."""
        tokenizer = getattr(self.tokenizer, "tokenizer", self.tokenizer)
        model = trainer.model
        if self.method == "sft-full":
            built = self._fresh(MERGED_DIR)
            model.save_pretrained(built)
            tokenizer.save_pretrained(built)
            return None, self._replace(built, MERGED_DIR)
        built = self._fresh(ADAPTER_DIR)
        model.save_pretrained(built)
        tokenizer.save_pretrained(built)
        adapter = self._replace(built, ADAPTER_DIR)
        merged = None
        if self.hp.merge:
            merged = self._merge(self.output_dir / adapter, tokenizer)
        return adapter, merged

    def _merge(self, adapter_dir: Path, tokenizer: Any) -> str:
        """Fold the adapter into a fresh, unquantized copy of the base weights."""
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(
            self.base_dir, dtype="auto", local_files_only=True
        )
        merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
        built = self._fresh(MERGED_DIR)
        merged.save_pretrained(built)
        tokenizer.save_pretrained(built)
        return self._replace(built, MERGED_DIR)
