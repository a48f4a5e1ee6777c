"""The pluggy entry point (``modellab.worksets``: ``unsloth``).

Importing this module is cheap: no torch, no transformers. The training code is imported
only when the core calls a trainer's handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modellab.workset import hookimpl

if TYPE_CHECKING:
    from modellab.workset import BackendDescriptor, TrainRequest, TrainResult

__all__ = ["METHODS", "UnslothPlugin", "plugin", "train_trl", "train_unsloth"]

#: What both trainers accept (``--method``).
METHODS = ("sft-lora", "sft-qlora", "sft-full", "dpo")


def train_trl(request: TrainRequest) -> TrainResult:
    """The ``trl`` trainer: TRL + PEFT on the CPU, or on a CUDA GPU when there is one."""
    from modellab_unsloth.trainer import run

    return run(request, engine="trl")


def train_unsloth(request: TrainRequest) -> TrainResult:
    """The ``unsloth`` trainer: Unsloth's FastLanguageModel, CUDA GPUs only."""
    from modellab_unsloth.trainer import run

    return run(request, engine="unsloth")


class UnslothPlugin:
    """Implements ``modellab_register_trainers``."""

    @hookimpl
    def modellab_register_trainers(
        self,
        register: Callable[[BackendDescriptor, Callable[[TrainRequest], TrainResult]], None],
    ) -> None:
        """Register ``trl`` and ``unsloth``."""
        from modellab.workset import BackendDescriptor

        register(
            BackendDescriptor(
                name="trl",
                summary="TRL + PEFT: LoRA, QLoRA (CUDA), full SFT and DPO, on a CPU or a GPU",
                accepts=list(METHODS),
            ),
            train_trl,
        )
        register(
            BackendDescriptor(
                name="unsloth",
                summary="Unsloth on a CUDA GPU: LoRA, QLoRA, full SFT and DPO, faster and leaner",
                accepts=list(METHODS),
            ),
            train_unsloth,
        )


#: The object the entry point names; the core registers it with its plugin manager.
plugin = UnslothPlugin()
