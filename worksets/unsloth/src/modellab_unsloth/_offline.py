"""Telemetry off, network off, caches in the private tmp: set before any ML library loads.

Most of these libraries read their switches once, at import (``huggingface_hub`` freezes
``HF_HUB_OFFLINE`` into a constant), so :func:`offline_environment` must run before the
first ``import torch`` / ``transformers`` / ``trl`` / ``unsloth``. In the confined child that
is always true: the handler is the first thing that imports them. The kernel cuts the
child's network too (``network_egress = []``); these switches make the libraries not try,
instead of failing or hanging on a timeout.

Caches go under ``tempfile.gettempdir()``: the confined child may write only its output
folder, its data folder and a private tmp.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["CACHE_VARIABLES", "SWITCHES", "cache_root", "offline_environment"]

#: Phone-home and network switches, forced to these values.
SWITCHES: dict[str, str] = {
    # huggingface_hub, transformers, datasets: never reach the Hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # Trainer integrations that report (report_to="none" too).
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "COMET_MODE": "disabled",
    "MLFLOW_TRACKING_URI": "",
    "CLEARML_OFF_LINE_MODE": "1",
    "NEPTUNE_MODE": "offline",
    # TRL prints notices about experimental features; nothing to fetch, keep logs clean.
    "TRL_EXPERIMENTAL_SILENCE": "1",
    # Unsloth: its statistics ping downloads a file from the Hub on every model load.
    "UNSLOTH_DISABLE_STATISTICS": "1",
    # Gradio (pulled in by some stacks) reports analytics by default.
    "GRADIO_ANALYTICS_ENABLED": "False",
    # tokenizers warns (and can deadlock) when a process forks after it used threads.
    "TOKENIZERS_PARALLELISM": "false",
}

#: Cache folders, each pointed at a folder under :func:`cache_root`.
CACHE_VARIABLES: dict[str, str] = {
    "HF_HOME": "hf",
    "HF_HUB_CACHE": "hf/hub",
    "HF_DATASETS_CACHE": "hf/datasets",
    "HF_XET_CACHE": "hf/xet",
    "TRITON_CACHE_DIR": "triton",
    "TORCHINDUCTOR_CACHE_DIR": "inductor",
    "TORCH_HOME": "torch",
    "PYTORCH_KERNEL_CACHE_PATH": "torch/kernels",
    "CUDA_CACHE_PATH": "cuda",
    "XDG_CACHE_HOME": "xdg",
    "MPLCONFIGDIR": "matplotlib",
    # Unsloth writes generated modules into ./unsloth_compiled_cache unless told.
    "UNSLOTH_COMPILE_LOCATION": "unsloth_compiled_cache",
}


def cache_root() -> Path:
    """The folder every cache goes under: ``<tmp>/modellab-unsloth-cache``."""
    return Path(tempfile.gettempdir()) / "modellab-unsloth-cache"


@contextlib.contextmanager
def offline_environment() -> Iterator[dict[str, str]]:
    """Set :data:`SWITCHES` and :data:`CACHE_VARIABLES` for the block; restore on exit.

    Restoring matters when a trainer runs inside a longer-lived process (the tests call
    the handler in-process); the confined child exits after one call anyway. Yields the
    variables it set.
    """
    root = cache_root()
    wanted = dict(SWITCHES)
    for name, sub in CACHE_VARIABLES.items():
        wanted[name] = str(root / sub)
    saved = {name: os.environ.get(name) for name in wanted}
    for name, value in wanted.items():
        if name in CACHE_VARIABLES:
            Path(value).mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ[name] = value
    try:
        yield wanted
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
