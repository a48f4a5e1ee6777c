"""How much memory a training job will need at its peak, and how much the machine has.

The estimate is a sum of parts, each from the model's ``config.json`` and the job's
settings, so that a reader can see which part dominates and why:

* **baseline**: the trainer process before it loads a model. On CPU this is the resident
  size of a Python that has imported torch, transformers, peft, trl and datasets; on a GPU,
  the CUDA context and cuBLAS workspace.
* **weights**: every parameter at the weights' dtype (QLoRA: 4-bit NF4 plus its scales).
* **load**: while loading, the safetensors file is memory-mapped and its pages are resident
  beside the converted tensors (CPU only; gone once training starts).
* **trainable state**: for every trainable parameter, its gradient and AdamW's two moments
  (plus the fp32 weight itself for LoRA adapters). LoRA trains only the adapters.
* **activations**: what one layer keeps per token for the backward pass, times layers and
  tokens (``batch x max_seq_len``); with gradient checkpointing, one hidden state per layer
  plus one layer's full set while it is recomputed.
* **logits**: ``tokens x vocab`` float32 copies alive at the peak (the logits, the loss's
  log-softmax, their gradients, TRL's entropy and accuracy metrics). With a vocabulary of
  49k and a 135M model this is the largest part, which is why it is counted on its own.

Where each constant comes from is written beside it; the CPU constants were measured on
this project's development machine (torch 2.13 CPU, transformers 5.25, trl 1.16, peft 0.22,
Python 3.11) and the estimate is checked against the measured peak RSS of real TRL runs in
``tests/training/test_memory.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Device",
    "Gpu",
    "MemoryEstimate",
    "ModelShape",
    "detect_device",
    "estimate_peak",
    "parse_nvidia_smi",
]

MiB = 1024**2

#: Resident size of a Python 3.11 that imported torch 2.13 (CPU), transformers 5.25,
#: peft 0.22, trl 1.16 and datasets: 494 MiB measured (``ru_maxrss`` before loading a
#: model, ten runs, all within 1 MiB).
CPU_BASELINE = 494 * MiB
#: Loading a model also loads its tokenizer, generation config and the Trainer's objects:
#: the resident size after loading, less the baseline, the weights and the mapped file,
#: was 47 to 49 MiB on SmolLM2 cuts of 2, 8 and 30 layers (a 3.5 MB tokenizer.json).
CPU_LOAD_OVERHEAD = 50 * MiB
#: CUDA context + cuBLAS workspace + the caching allocator's first blocks on a Hopper GPU
#: with torch 2.x: about 0.5 GiB, as ``nvidia-smi`` shows for a process that has run one
#: matmul (PyTorch's CUDA-semantics notes put the context at 300 MiB to 1 GiB by card).
GPU_BASELINE = 512 * MiB
#: Float32 ``tokens x vocab`` copies alive at the peak of a TRL SFT step: the logits, the
#: loss's float copy and log-softmax, the log-softmax's and the logits' gradients, and
#: TRL's entropy metric (softmax and log-softmax of the logits, under no_grad). Counting
#: the tensors gives 6; a least-squares fit over ten measured runs gives 5.3 to 5.7, so
#: the count errs a little high (docs/training.md has the runs).
LOGIT_COPIES = 6.0
#: DPO runs the policy on chosen and rejected (and the reference, without gradients): the
#: per-token parts count twice over the prompt + completion length.
DPO_FACTOR = 2.0
#: Bytes per parameter for each weights dtype; ``nf4`` is QLoRA's 4 bits plus a float32
#: scale per 64-value block (bitsandbytes' default blocksize) and double quantisation.
DTYPE_BYTES = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "nf4": 0.5 + 4 / 64 / 4}
#: Modules ``all-linear`` means for a Llama-style block (PEFT's ``all-linear`` takes every
#: linear layer but the output head).
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Method = Literal["sft-lora", "sft-qlora", "sft-full", "dpo"]


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that memory depends on (from config.json)."""

    parameters: int
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], parameters: int | None = None) -> ModelShape:
        """The shape a Hugging Face ``config.json`` describes.

        Multimodal configs keep the language model under ``text_config``. ``parameters``
        (the passport's count, from the weights' headers) is used when given; otherwise
        it is computed for a Llama-style block.

        :raises ValueError: a size is missing or not a positive integer (names the key).
        """
        text = config.get("text_config")
        cfg: Mapping[str, Any] = text if isinstance(text, Mapping) else config

        def size(key: str, default: int | None = None) -> int:
            value = cfg.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"config.json: {key} is {value!r}, expected a positive integer")
            return value

        hidden = size("hidden_size")
        heads = size("num_attention_heads")
        head_dim = cfg.get("head_dim") or hidden // heads
        shape = cls(
            parameters=0,
            layers=size("num_hidden_layers"),
            hidden_size=hidden,
            intermediate_size=size("intermediate_size", 4 * hidden),
            attention_heads=heads,
            kv_heads=size("num_key_value_heads", heads),
            head_dim=int(head_dim),
            vocab_size=size("vocab_size"),
        )
        if parameters is None:
            tied = bool(cfg.get("tie_word_embeddings", config.get("tie_word_embeddings", True)))
            parameters = shape.counted_parameters(tied=tied)
        return cls(**{**shape.__dict__, "parameters": parameters})

    @property
    def kv_dim(self) -> int:
        """Width of the key (or value) projection: fewer heads than the query with GQA."""
        return self.kv_heads * self.head_dim

    def module_dims(self) -> dict[str, tuple[int, int]]:
        """``(in, out)`` of each linear layer of one block, by its usual module name."""
        h, i, q = self.hidden_size, self.intermediate_size, self.attention_heads * self.head_dim
        return {
            "q_proj": (h, q),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def counted_parameters(self, *, tied: bool) -> int:
        """Parameters of a Llama-style model of this shape (embeddings, blocks, norms)."""
        block = sum(a * b for a, b in self.module_dims().values()) + 2 * self.hidden_size
        embeddings = self.vocab_size * self.hidden_size * (1 if tied else 2)
        return embeddings + self.layers * block + self.hidden_size

    def lora_parameters(self, rank: int, targets: Sequence[str]) -> int:
        """Trainable parameters of rank-``rank`` adapters on ``targets`` in every block."""
        dims = self.module_dims()
        return self.layers * sum(rank * sum(dims[t]) for t in targets if t in dims)

    def activation_values(self) -> int:
        """Values one block keeps per token for the backward pass.

        Counted from a Llama block's eager forward in transformers: each RMSNorm keeps
        its input, the normalised copy and the scaled output (3 hidden-wide, twice); the
        attention keeps the query, its ``rotate_half`` and rotated copies, the attention
        output and o_proj's contiguous input (5 query-wide), key and value with the
        key's ``rotate_half`` and rotated copies (4 kv-wide), and, with grouped-query
        attention, key and value repeated to every head (2 query-wide); the MLP keeps
        gate, up, the activated gate and their product (4 intermediate-wide). Flash and
        memory-efficient attention keep no ``seq x seq`` scores, only one value per head.
        A least-squares fit over ten measured runs puts the real share at 0.82 to 0.88
        of this count: it errs high, the safe side.
        """
        q = self.attention_heads * self.head_dim
        repeated = 2 * q if self.kv_heads < self.attention_heads else 0
        return (
            6 * self.hidden_size
            + 5 * q
            + 4 * self.kv_dim
            + repeated
            + 4 * self.intermediate_size
            + self.attention_heads
        )


@dataclass(frozen=True)
class MemoryEstimate:
    """An estimated peak, in bytes, and its parts (``parts`` sums to ``peak_bytes``)."""

    peak_bytes: int
    where: Literal["cpu", "gpu"]
    parts: dict[str, int] = field(default_factory=dict)
    trainable_parameters: int = 0


def estimate_peak(
    shape: ModelShape,
    *,
    method: str,
    max_seq_len: int,
    batch_size: int,
    where: Literal["cpu", "gpu"] = "cpu",
    dtype: str = "float32",
    lora_rank: int = 16,
    lora_targets: Sequence[str] = ALL_LINEAR,
    gradient_checkpointing: bool = False,
    file_bytes: int = 0,
) -> MemoryEstimate:
    """The peak resident memory (``cpu``) or GPU memory (``gpu``) of one training job.

    :param dtype: the weights' dtype as loaded (``float32``, ``bfloat16``, ``float16``);
        ``sft-qlora`` always holds the frozen weights in ``nf4``.
    :param file_bytes: size of the safetensors files (mapped while loading, on CPU).
    :raises ValueError: an unknown method or dtype, or a size that is not positive.
    """
    if method not in ("sft-lora", "sft-qlora", "sft-full", "dpo"):
        raise ValueError(f"unknown method {method!r}")
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPE_BYTES)})")
    if max_seq_len <= 0 or batch_size <= 0:
        raise ValueError(
            f"max_seq_len and batch_size must be positive: {max_seq_len}, {batch_size}"
        )
    width = DTYPE_BYTES[dtype]
    weights = shape.parameters * (DTYPE_BYTES["nf4"] if method == "sft-qlora" else width)
    # DPO here trains a LoRA adapter (the trainers' default); sft-full trains every weight.
    if method == "sft-full":
        trainable = shape.parameters
        # Gradient and both AdamW moments, in the weights' dtype (torch keeps them alike),
        # plus the step's denominator (sqrt of the second moment), made one tensor at a
        # time on CPU (torch's for-loop AdamW) and so as large as the largest tensor: the
        # embedding. Measured: without it the estimate was 9% under the peak.
        state = trainable * 3 * width + shape.vocab_size * shape.hidden_size * width
    else:
        trainable = shape.lora_parameters(lora_rank, lora_targets)
        # Adapters are float32: the weight, its gradient, and both AdamW moments.
        state = trainable * 4 * 4
    tokens = max_seq_len * batch_size * (DPO_FACTOR if method == "dpo" else 1.0)
    # Activations are in the compute dtype: the weights' (QLoRA computes in bfloat16).
    act_width = 2.0 if method == "sft-qlora" else width
    per_layer = shape.activation_values() * act_width
    if gradient_checkpointing:
        # One hidden state per layer is kept; one layer is recomputed in full at a time.
        activations = tokens * (shape.layers * shape.hidden_size * act_width + per_layer)
    else:
        activations = tokens * shape.layers * per_layer
    logits = tokens * shape.vocab_size * 4 * LOGIT_COPIES
    parts: dict[str, float]
    if where == "cpu":
        # The mapped file is resident only while loading; training usually peaks higher.
        step = max(float(file_bytes), state + activations + logits)
        parts = {
            "baseline": CPU_BASELINE + CPU_LOAD_OVERHEAD,
            "weights": weights,
            "trainable_state": state,
            "activations": activations,
            "logits": logits,
            "load": step - (state + activations + logits),
        }
    else:
        parts = {
            "baseline": GPU_BASELINE,
            "weights": weights,
            "trainable_state": state,
            "activations": activations,
            "logits": logits,
        }
    rounded = {name: int(value) for name, value in parts.items()}
    return MemoryEstimate(
        peak_bytes=sum(rounded.values()),
        where=where,
        parts=rounded,
        trainable_parameters=trainable,
    )


@dataclass(frozen=True)
class Gpu:
    """One GPU as ``nvidia-smi`` reports it."""

    name: str
    memory_total_bytes: int
    memory_used_bytes: int

    @property
    def memory_free_bytes(self) -> int:
        """What another process may still allocate."""
        return max(0, self.memory_total_bytes - self.memory_used_bytes)


@dataclass(frozen=True)
class Device:
    """The machine a job would run on: its RAM and its GPUs (none on a CPU machine)."""

    ram_total_bytes: int
    ram_available_bytes: int
    gpus: tuple[Gpu, ...] = ()

    def describe(self) -> str:
        """One line: ``cpu, 24.0 GiB RAM (20.1 GiB available)`` or the first GPU's name."""
        ram = (
            f"{self.ram_total_bytes / 1024**3:.1f} GiB RAM "
            f"({self.ram_available_bytes / 1024**3:.1f} GiB available)"
        )
        if not self.gpus:
            return f"cpu, {ram}"
        gpu = self.gpus[0]
        return (
            f"{gpu.name}, {gpu.memory_total_bytes / 1024**3:.1f} GiB "
            f"({gpu.memory_free_bytes / 1024**3:.1f} GiB free); {ram}"
        )


def _meminfo(path: Path = Path("/proc/meminfo")) -> tuple[int, int] | None:
    try:
        text = path.read_text(encoding="ascii")
    except OSError:
        return None
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        number = rest.split()
        if number and number[0].isdigit():
            values[key] = int(number[0]) * 1024  # meminfo counts kB
    if "MemTotal" not in values:
        return None
    return values["MemTotal"], values.get("MemAvailable", values.get("MemFree", 0))


def _cgroup_room() -> int | None:
    # A container's limit can be far below the host's RAM that /proc/meminfo shows.
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return None
        used = int((base / "memory.current").read_text(encoding="ascii").strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def _sysconf_ram() -> tuple[int, int]:
    page = os.sysconf("SC_PAGE_SIZE")
    total = os.sysconf("SC_PHYS_PAGES") * page
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * page
    except (ValueError, OSError):  # not every platform names it
        available = total
    return total, available


def parse_nvidia_smi(text: str) -> tuple[Gpu, ...]:
    """GPUs from ``nvidia-smi --query-gpu=name,memory.total,memory.used
    --format=csv,noheader,nounits`` (MiB); lines that do not parse are skipped."""
    gpus: list[Gpu] = []
    for line in text.splitlines():
        # The name may hold commas; the two numbers are always the last two cells.
        cells = line.rsplit(",", 2)
        if len(cells) < 3:
            continue
        try:
            total, used = int(float(cells[1])), int(float(cells[2]))
        except ValueError:
            continue
        gpus.append(Gpu(cells[0].strip(), total * MiB, used * MiB))
    return tuple(gpus)


def _gpus() -> tuple[Gpu, ...]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    query = "--query-gpu=name,memory.total,memory.used"
    try:
        done = subprocess.run(
            [smi, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else ()


def detect_device() -> Device:
    """RAM (``/proc/meminfo``, else ``os.sysconf``; a cgroup limit lowers what is
    available) and NVIDIA GPUs (``nvidia-smi``, when on ``PATH``). Imports no torch."""
    ram = _meminfo() or _sysconf_ram()
    room = _cgroup_room()
    available = ram[1] if room is None else min(ram[1], room)
    return Device(ram_total_bytes=ram[0], ram_available_bytes=available, gpus=_gpus())
