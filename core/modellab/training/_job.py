"""One training job, from the command's arguments to a candidate model in the lab.

In order, and nothing is trained unless every step passes:

1. **The gate**: the dataset must have been built here from an approval that still stands
   (:func:`modellab.datasets.verify_dataset`), and the rows the trainer will read must be
   the ones its manifest lists. They are copied, checked, into the run's own folder, so
   what trains is what was checked (a dataset edited afterwards cannot slip in).
2. **The base model**: an installed model (``modellab models install``) whose every file
   still has its recorded sha256.
3. **Preflight** (:mod:`modellab.training._preflight`): any ``fail`` stops here.
4. **The record**: the job, its config and lineage go into the catalog as ``running``.
5. **The trainer** the user named runs in its workset's confined child; its events are
   shown as they come, and its result is recorded. What it made becomes a *candidate*
   model with its passport (``modellab models list``).

``resume`` runs steps 1, 2 and 5 again for a run that was interrupted or failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal import jsonio
from modellab.errors import PreflightError, TrainingError, UsageError
from modellab.training._runs import FINISHED, TrainRun, create_run, find_run, new_run_id, update_run

if TYPE_CHECKING:
    from modellab.gate import ApprovedExport
    from modellab.plugins.hookspecs import TrainResult
    from modellab.settings import Settings
    from modellab.store import Catalog
    from modellab.worksets._backends import Backend

__all__ = [
    "DEFAULTS",
    "LEARNING_RATES",
    "METHODS",
    "SHIPPED_TEMPLATES",
    "JobSpec",
    "Prepared",
    "prepare",
    "resume_job",
    "start_job",
]

#: ``--method`` values.
METHODS = ("sft-lora", "sft-qlora", "sft-full", "dpo")
#: The hyper-parameters every run records, with the values used when none is given
#: (the unsloth workset's trainers take the same names; ``learning_rate`` 0 is replaced by
#: the method's own default, :data:`LEARNING_RATES`).
DEFAULTS: dict[str, Any] = {
    "max_steps": 0,  # 0: run --epochs over the dataset
    "epochs": 1.0,
    "learning_rate": 0.0,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_targets": "all-linear",
    "max_seq_len": 2048,
    "batch_size": 2,
    "grad_accum": 1,
    "seed": 42,
    "save_steps": 50,
    "merge": False,
    "dpo_beta": 0.1,
    "gradient_checkpointing": False,
}
#: What ``learning_rate`` 0 means, by method: LoRA takes a large step, full fine-tuning a
#: small one, DPO in between (the usual starting points of TRL's and PEFT's examples).
LEARNING_RATES = {"sft-lora": 2e-4, "sft-qlora": 2e-4, "sft-full": 2e-5, "dpo": 5e-5}
#: ``--chat-template NAME``: the templates Model Lab ships (``training/templates``).
SHIPPED_TEMPLATES = ("chatml-tools",)
#: Where a run lives under the lab's home: ``train/<id>/{dataset,out}``.
RUNS_FOLDER = "train"
#: The run's copy of its --chat-template, beside ``dataset/`` and ``out/``.
TEMPLATE_COPY = "chat_template.jinja"
_HOOK = "modellab_register_trainers"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the user asked for."""

    dataset_dir: Path
    base_model: str
    backend: str
    method: str
    hyperparameters: dict[str, Any]
    #: A template file to train with instead of the model's (``--chat-template``).
    chat_template: Path | None = None


def template_path(value: str) -> Path:
    """``--chat-template``: a shipped template's name, or a file."""
    if value in SHIPPED_TEMPLATES:
        return Path(__file__).parent / "templates" / f"{value}.jinja"
    path = Path(value).expanduser()
    if not path.is_file():
        shipped = ", ".join(SHIPPED_TEMPLATES)
        raise UsageError(f"--chat-template {value}: no such file (or shipped name: {shipped})")
    return path.resolve()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A job that passed the gate and the model check, with its preflight verdicts."""

    spec: JobSpec
    approved: ApprovedExport
    rows_file: str
    rows_sha256: str
    manifest_sha256: str
    model_dir: Path
    passport: dict[str, Any]
    model_files_sha256: str
    checks: list[Any]
    template_sha256: str | None = None

    @property
    def failed(self) -> list[Any]:
        """The checks whose verdict is ``fail``."""
        return [c for c in self.checks if c.verdict == "fail"]


def rows_file_for(method: str) -> str:
    """The dataset file a method trains on, relative to the dataset folder."""
    return "preference/train.jsonl" if method == "dpo" else "trl-sft/train.jsonl"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked_rows(dataset_dir: Path, rows_file: str) -> tuple[bytes, str, bytes]:
    """(rows, their sha256, the manifest's bytes): the rows are the ones the manifest lists.

    The manifest itself was checked by :func:`verify_dataset` (this catalog's audit log
    names its sha256), so its ``files`` are trusted; the rows are read once, here.
    """
    from modellab.datasets._build import DATASET_MANIFEST

    manifest_bytes = (dataset_dir / DATASET_MANIFEST).read_bytes()
    manifest = jsonio.loads(manifest_bytes)
    listed = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    expected = listed.get(rows_file) if isinstance(listed, dict) else None
    fmt = rows_file.split("/")[0]
    if expected is None:
        raise UsageError(
            f"{dataset_dir}: this dataset has no {rows_file}",
            hint=f"build it with --format {fmt}: modellab dataset build EXPORT --format {fmt}",
        )
    try:
        rows = (dataset_dir / rows_file).read_bytes()
    except OSError as exc:
        raise UsageError(f"{dataset_dir / rows_file}: cannot read ({exc.strerror})") from None
    actual = _sha256(rows)
    if actual != expected:
        from modellab.errors import StaleApprovalError

        raise StaleApprovalError(
            dataset_dir,
            f"{rows_file} changed after the dataset was built (sha256 {actual[:12]}, "
            f"the manifest lists {str(expected)[:12]})",
            hint="build the dataset again: modellab dataset build EXPORT --out DIR",
        )
    return rows, actual, manifest_bytes


def _files_sha256(files: dict[str, str]) -> str:
    """One sha256 over a model's files and their sha256s (sorted by path)."""
    text = "".join(f"{path}\0{digest}\n" for path, digest in sorted(files.items()))
    return _sha256(text.encode())


def prepare(settings: Settings, catalog: Catalog, spec: JobSpec) -> Prepared:
    """Steps 1-3: gate, base model, preflight. Raises on the first two; returns verdicts."""
    from modellab.datasets import verify_dataset
    from modellab.models import open_installed
    from modellab.training._preflight import run_preflight

    if spec.method not in METHODS:
        raise UsageError(f"unknown --method {spec.method!r} (one of: {', '.join(METHODS)})")
    approved = verify_dataset(spec.dataset_dir, catalog=catalog)
    rows_file = rows_file_for(spec.method)
    rows, rows_sha256, manifest_bytes = _checked_rows(spec.dataset_dir, rows_file)
    del rows
    model = open_installed(catalog, settings, spec.base_model)
    model.verify()
    passport = model.passport.model_dump(mode="json")
    if passport.get("format") != "hf":
        raise UsageError(
            f"model {spec.base_model!r} is a {passport.get('format')} file; training needs "
            "a Hugging Face folder (safetensors weights, tokenizer, chat template)",
            hint="install the model's safetensors folder: modellab models install FOLDER",
        )
    hyper = spec.hyperparameters
    checks = run_preflight(
        dataset_dir=spec.dataset_dir,
        method=spec.method,
        base_model_dir=model.path,
        passport=passport,
        approval=approved.record(),
        max_seq_len=int(hyper["max_seq_len"]),
        batch_size=int(hyper["batch_size"]),
        chat_template=spec.chat_template,
        options={key: hyper[key] for key in ("lora_r", "lora_targets", "gradient_checkpointing")},
    )
    return Prepared(
        spec=spec,
        approved=approved,
        rows_file=rows_file,
        rows_sha256=rows_sha256,
        manifest_sha256=_sha256(manifest_bytes),
        model_dir=model.path,
        passport=passport,
        model_files_sha256=_files_sha256(dict(model.files)),
        checks=checks,
        template_sha256=None
        if spec.chat_template is None
        else _sha256(spec.chat_template.read_bytes()),
    )


def _stage_dataset(prepared: Prepared, target: Path) -> None:
    """Copy the checked rows and the manifest into the run's own dataset folder."""
    from modellab._internal.files import atomic_write_bytes
    from modellab.datasets._build import DATASET_MANIFEST

    rows, sha256, manifest = _checked_rows(prepared.spec.dataset_dir, prepared.rows_file)
    if sha256 != prepared.rows_sha256:
        raise TrainingError(f"{prepared.rows_file} changed during preflight; nothing was trained")
    (target / prepared.rows_file).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target / prepared.rows_file, rows)
    atomic_write_bytes(target / DATASET_MANIFEST, manifest)
    if prepared.spec.chat_template is not None:
        data = prepared.spec.chat_template.read_bytes()
        if _sha256(data) != prepared.template_sha256:
            raise TrainingError("the --chat-template file changed during preflight")
        atomic_write_bytes(target.parent / TEMPLATE_COPY, data)


def _workset_version(catalog: Catalog, backend: Backend) -> dict[str, str]:
    found = catalog.query("SELECT version FROM workset_installs WHERE name = ?", (backend.workset,))
    return {"workset": backend.workset, "version": str(found[0][0]) if found else ""}


def _lineage(prepared: Prepared, backend: dict[str, str]) -> dict[str, Any]:
    spec = prepared.spec
    return {
        "approval": prepared.approved.record(),
        "dataset": {
            "dir": str(spec.dataset_dir),
            "manifest_sha256": prepared.manifest_sha256,
            "rows_file": prepared.rows_file,
            "rows_sha256": prepared.rows_sha256,
        },
        "base_model": {
            "name": spec.base_model,
            "files_sha256": prepared.model_files_sha256,
            "license": prepared.passport.get("license"),
        },
        "backend": {"name": spec.backend, **backend},
        "seed": spec.hyperparameters["seed"],
        "chat_template": None
        if spec.chat_template is None
        else {"source": str(spec.chat_template), "sha256": prepared.template_sha256},
    }


def start_job(
    settings: Settings,
    catalog: Catalog,
    prepared: Prepared,
    *,
    on_event: Callable[[dict[str, Any]], None],
) -> tuple[TrainRun, TrainResult]:
    """Steps 4-5 for a prepared job that passed preflight."""
    if prepared.failed:
        names = ", ".join(c.name for c in prepared.failed)
        raise PreflightError(f"preflight failed ({names}); nothing was trained")
    from modellab.worksets._backends import find_named

    spec = prepared.spec
    # Once: listing backends starts each registering workset's child.
    backend = find_named(settings, _HOOK, spec.backend)
    run_id = new_run_id()
    run_dir = settings.home / RUNS_FOLDER / run_id
    dataset_copy, output_dir = run_dir / "dataset", run_dir / "out"
    output_dir.mkdir(parents=True)
    _stage_dataset(prepared, dataset_copy)
    run = create_run(
        catalog,
        run_id=run_id,
        backend=spec.backend,
        method=spec.method,
        base_model=spec.base_model,
        dataset_dir=spec.dataset_dir,
        output_dir=output_dir,
        config=dict(spec.hyperparameters),
        lineage=_lineage(prepared, _workset_version(catalog, backend)),
        preflight=[_check_json(c) for c in prepared.checks],
    )
    return run, _train(
        settings, catalog, run, backend, prepared.model_dir, dataset_copy, False, on_event
    )


def _check_json(check: Any) -> dict[str, Any]:
    return {"check": check.name, "verdict": check.verdict, "reason": check.reason}


def resume_job(
    settings: Settings, catalog: Catalog, ref: str, *, on_event: Callable[[dict[str, Any]], None]
) -> tuple[TrainRun, TrainResult]:
    """Go on with an interrupted or failed run from its newest checkpoint."""
    from modellab.gate import verify_built_from
    from modellab.models import open_installed

    run = find_run(catalog, ref)
    if run.status == "running":
        raise UsageError(f"training run {run.id} is still running (pid {run.pid})")
    if run.status in FINISHED:
        raise UsageError(f"training run {run.id} has {run.status}; there is nothing to resume")
    # The approval must still stand, and the rows and the model be the ones recorded.
    verify_built_from(
        run.lineage.get("approval"),
        catalog,
        built=Path(run.dataset_dir),
        kind="training run",
        rebuild="build the dataset again and start a new run",
    )
    run_dir = Path(run.output_dir).parent
    recorded = run.lineage.get("dataset", {})
    rows = (run_dir / "dataset" / str(recorded.get("rows_file"))).read_bytes()
    if _sha256(rows) != recorded.get("rows_sha256"):
        raise TrainingError(f"run {run.id}: its copy of the dataset changed; start a new run")
    model = open_installed(catalog, settings, run.base_model)
    model.verify()
    if _files_sha256(dict(model.files)) != run.lineage.get("base_model", {}).get("files_sha256"):
        raise TrainingError(
            f"run {run.id}: model {run.base_model!r} is not the one it started with",
            hint="start a new run",
        )
    from modellab.worksets._backends import find_named

    backend = find_named(settings, _HOOK, run.backend)
    update_run(catalog, run.id, status="running", error=None, running_here=True)
    run = find_run(catalog, run.id)
    return run, _train(
        settings, catalog, run, backend, model.path, run_dir / "dataset", True, on_event
    )


@contextlib.contextmanager
def _cancellable() -> Iterator[None]:
    """SIGTERM (``modellab train cancel``) stops the run as Ctrl-C does."""

    def stop(_signum: int, _frame: object) -> None:
        raise _Cancelled()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Cancelled(BaseException):
    """Raised in the main thread by SIGTERM."""


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux's ``/proc/PID/task/*/children``)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in children.read_text().split():
                    found.append(int(child))
                    pending.append(int(child))
    return found


def _stop_trainer() -> None:
    """Stop the trainer's child processes: SIGTERM, then SIGKILL after 10 s."""
    children = _descendants(os.getpid())
    for pid in children:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in children):
        time.sleep(0.1)
    for pid in children:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _train(
    settings: Settings,
    catalog: Catalog,
    run: TrainRun,
    backend: Backend,
    model_dir: Path,
    dataset_dir: Path,
    resume: bool,
    on_event: Callable[[dict[str, Any]], None],
) -> TrainResult:
    """Call the trainer in its child, show its events, record how it ended."""
    from modellab.plugins.hookspecs import ApprovalRecord, TrainRequest, TrainResult
    from modellab.training._events import EventTail
    from modellab.worksets._hooks import call_backend

    output_dir = Path(run.output_dir)
    template = output_dir.parent / TEMPLATE_COPY
    request = TrainRequest(
        backend=run.backend,
        method=run.method,
        base_model=run.base_model,
        base_model_dir=model_dir,
        dataset_dir=dataset_dir,
        approval=ApprovalRecord.model_validate(run.lineage["approval"]),
        output_dir=output_dir,
        hyperparameters=run.config,
        resume=resume,
        chat_template=template if template.is_file() else None,
    )
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            assert backend.target is not None
            outcome["result"] = call_backend(
                backend.target, settings, _HOOK, run.backend, request, TrainResult
            )
        except BaseException as exc:  # carried to the main thread, raised there
            outcome["error"] = exc

    tail = EventTail(output_dir / "events.jsonl", from_end=resume)
    worker = threading.Thread(target=work, name="modellab-trainer", daemon=True)
    try:
        with _cancellable():
            worker.start()
            while worker.is_alive():
                worker.join(0.5)
                for event in tail.read():
                    on_event(event)
            for event in tail.read():
                on_event(event)
    except (_Cancelled, KeyboardInterrupt) as exc:
        _stop_trainer()
        worker.join(15)
        cancelled = isinstance(exc, _Cancelled)
        update_run(
            catalog,
            run.id,
            status="cancelled" if cancelled else "failed",
            error="cancelled" if cancelled else "interrupted (Ctrl-C)",
        )
        if cancelled:
            raise TrainingError(f"training run {run.id} was cancelled") from None
        raise
    if "error" in outcome:
        error = outcome["error"]
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        update_run(catalog, run.id, status="failed", error=message)
        if isinstance(error, UsageError):
            raise error
        raise TrainingError(
            f"training run {run.id} failed: {message}",
            hint=f"after fixing the cause: modellab train --resume {run.id}",
        ) from None
    result: TrainResult = outcome["result"]
    update_run(
        catalog,
        run.id,
        status="succeeded",
        metrics=dict(result.metrics),
        result=result.model_dump(mode="json"),
    )
    return result
