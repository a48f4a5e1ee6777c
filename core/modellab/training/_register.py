"""What a finished run made, registered as a candidate model with its passport."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modellab.plugins.hookspecs import TrainResult
    from modellab.settings import Settings
    from modellab.store import Catalog
    from modellab.training._runs import TrainRun

__all__ = ["candidate_name", "register_result"]


def candidate_name(run: TrainRun) -> str:
    """``smollm2-sft-lora-3f9a1c``: the base, the method and the run's random tail."""
    return f"{run.base_model}-{run.method}-{run.id.rsplit('-', 1)[-1]}"


def register_result(
    settings: Settings, catalog: Catalog, run: TrainRun, result: TrainResult
) -> str | None:
    """Install the run's merged model (or its adapter) as a candidate; its name, or
    ``None`` when the trainer wrote neither.

    The trainer writes only under the run's output folder, and the result's paths are
    relative to it: a path that leads out of it is refused, never followed.
    """
    from modellab.errors import TrainingError
    from modellab.models import register_candidate

    out = Path(run.output_dir).resolve()
    chosen = result.merged_dir or result.adapter_dir
    if chosen is None:
        return None
    folder = (out / chosen).resolve()
    if not folder.is_relative_to(out) or not folder.is_dir():
        raise TrainingError(f"run {run.id}: the trainer named {chosen!r}, not a folder it wrote")
    extra: dict[str, Any] = {
        "train_run": run.id,
        "method": run.method,
        "backend": run.backend,
        "weights": "merged" if result.merged_dir else "adapter",
        "metrics": dict(result.metrics),
        "approval_files_sha256": run.lineage.get("approval", {}).get("files_sha256"),
    }
    model = register_candidate(
        catalog,
        settings,
        name=candidate_name(run),
        folder=folder,
        parent=run.base_model,
        train_run=run.id,
        extra_passport=extra,
    )
    return str(model.name)
