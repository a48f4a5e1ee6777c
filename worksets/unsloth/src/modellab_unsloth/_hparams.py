"""Hyper-parameters: the request's flat dict, checked, with defaults per method."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from modellab.workset import UsageError, shown

__all__ = ["HyperParameters", "parse"]

_DEFAULT_LR = {"sft-lora": 2e-4, "sft-qlora": 2e-4, "sft-full": 2e-5, "dpo": 5e-5}


@dataclass(frozen=True)
class HyperParameters:
    """Every setting a job takes. ``max_steps`` 0 means: run ``epochs`` over the data."""

    max_steps: int = 0
    epochs: float = 1.0
    learning_rate: float = 0.0  # 0: the method's default (_DEFAULT_LR)
    lr_scheduler: str = "linear"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    #: ``all-linear`` or a comma-separated list of module names (``q_proj,v_proj``).
    lora_targets: str = "all-linear"
    max_seq_len: int = 2048
    batch_size: int = 2
    grad_accum: int = 1
    seed: int = 42
    save_steps: int = 50
    #: How many checkpoints to keep (the oldest are deleted).
    keep_checkpoints: int = 3
    merge: bool = False
    dpo_beta: float = 0.1
    gradient_checkpointing: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Every field, defaults included: what the model card and lineage record."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_POSITIVE = {
    "lora_r",
    "lora_alpha",
    "max_seq_len",
    "batch_size",
    "grad_accum",
    "save_steps",
    "keep_checkpoints",
}
_NON_NEGATIVE = {
    "max_steps",
    "warmup_steps",
    "weight_decay",
    "lora_dropout",
    "seed",
    "learning_rate",
}


def _coerce(name: str, value: object, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str and isinstance(value, str):
        return value
    raise UsageError(f"hyper-parameter {name}: expected {kind.__name__}, got {shown(repr(value))}")


def parse(method: str, raw: dict[str, Any]) -> HyperParameters:
    """Check ``raw`` against :class:`HyperParameters`; fill the method's defaults.

    Raises :class:`UsageError` (one line, naming the key and value) for an unknown key, a
    value of the wrong type or out of range.
    """
    known = {f.name: f for f in fields(HyperParameters)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise UsageError(
                f"unknown hyper-parameter '{shown(name)}' (known: {', '.join(sorted(known))})"
            )
        kind = {"int": int, "float": float, "bool": bool, "str": str}[str(known[name].type)]
        values[name] = _coerce(name, value, kind)
    for name in _POSITIVE & values.keys():
        if values[name] <= 0:
            raise UsageError(f"hyper-parameter {name} must be positive, got {values[name]}")
    for name in _NON_NEGATIVE & values.keys():
        if values[name] < 0:
            raise UsageError(f"hyper-parameter {name} must not be negative, got {values[name]}")
    if values.get("epochs", 1.0) <= 0:
        raise UsageError(f"hyper-parameter epochs must be positive, got {values['epochs']}")
    if not values.get("learning_rate"):
        values["learning_rate"] = _DEFAULT_LR[method]
    if values.get("dpo_beta", 0.1) <= 0:
        raise UsageError(f"hyper-parameter dpo_beta must be positive, got {values['dpo_beta']}")
    return HyperParameters(**values)
