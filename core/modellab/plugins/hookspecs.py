"""Every hook Model Lab calls. Worksets and built-ins implement them; the core calls them.

Backends are registered by name: a register-hook hands ``register`` a *descriptor* (name,
summary, what it accepts) and a *handler*; the work itself is then a call by that name with
a typed request model, answered with a typed result model. Every descriptor, request and
result is a pydantic model of plain data, so each call can cross a process boundary as JSON
(every workset answers in a child process: :mod:`modellab.worksets._child`). Fields typed
:data:`InputPath` / :data:`OutputPath` are the paths a call may read / write: the child's
file policy is built from them.

The table of hooks (:mod:`modellab.plugins._table`) is derived from this module: the
manifest check, the process boundary and the docs all read it.

Each docstring follows one shape: what the hook is for; *Called by*; the arguments; what
it returns and how results combine; what an implementation must not do; the version added.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import pluggy
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.sources import Importer

__all__ = [
    "PROJECT_NAME",
    "ApprovalRecord",
    "BackendDescriptor",
    "CaseToGrade",
    "GradeAnswer",
    "GradeRequest",
    "GradeResult",
    "GraderDescriptor",
    "InputPath",
    "OutputPath",
    "PathRole",
    "RemoteFinetuneRequest",
    "RemoteFinetuneResult",
    "ServeRequest",
    "ServeResult",
    "TrainRequest",
    "TrainResult",
    "hookimpl",
    "hookspec",
    "modellab_register_graders",
    "modellab_register_importers",
    "modellab_register_remote_backends",
    "modellab_register_servers",
    "modellab_register_trainers",
    "modellab_run_command",
    "request_paths",
]

PROJECT_NAME = "modellab"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorator for hook implementations in built-ins and worksets.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class PathRole:
    """Marks a request field as a path the call reads (``input``) or writes (``output``)."""

    __slots__ = ("role",)

    def __init__(self, role: Literal["input", "output"]) -> None:
        self.role = role

    def __repr__(self) -> str:
        return f"PathRole({self.role!r})"


#: A path the call may read (and nothing under it may be written).
InputPath = Annotated[Path, PathRole("input")]
#: A folder the call may write into (the core creates it, empty or not, before the call).
OutputPath = Annotated[Path, PathRole("output")]

_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
#: A scalar setting: hyper-parameters and options are flat and JSON-native.
Scalar = str | int | float | bool


class _Data(BaseModel):
    """Plain data: frozen, unknown fields refused, JSON round-trips."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _roles(metadata: list[Any], annotation: Any) -> list[str]:
    """The :class:`PathRole` of a field: on the field itself (``InputPath``), or inside an
    optional one (``InputPath | None``), where pydantic leaves it in the union's member."""
    roles: list[str] = [m.role for m in metadata if isinstance(m, PathRole)]
    for member in get_args(annotation):
        roles += [m.role for m in getattr(member, "__metadata__", ()) if isinstance(m, PathRole)]
    return roles


def request_paths(request: BaseModel) -> tuple[list[Path], list[Path]]:
    """The paths ``request`` lets its call read and write: fields marked by
    :class:`PathRole`, in it and in the models it holds."""
    reads: list[Path] = []
    writes: list[Path] = []
    for name, field in type(request).model_fields.items():
        value = getattr(request, name)
        if isinstance(value, BaseModel):
            inner_reads, inner_writes = request_paths(value)
            reads += inner_reads
            writes += inner_writes
            continue
        roles = _roles(field.metadata, field.annotation)
        if not roles or value is None:
            continue
        (reads if roles[0] == "input" else writes).append(Path(value))
    return reads, writes


class ApprovalRecord(_Data):
    """The approval the data of a call was built from, as the gate records it
    (:meth:`modellab.gate.ApprovedExport.record`): the core checks it is still standing
    before it builds the request, and a backend that sends data sends only ``files``."""

    #: The approved export folder: readable by the call.
    export_dir: InputPath
    approved_at: str
    catalog_id: str
    #: One sha256 over every approved file and its sha256.
    files_sha256: str
    #: sha256 of every approved file, by its path relative to ``export_dir``.
    files: dict[str, str]


class BackendDescriptor(_Data):
    """A trainer, server or remote backend, as its workset registers it."""

    #: What the user types to choose it (``--backend NAME``); unique across worksets.
    name: Annotated[str, Field(pattern=_NAME)]
    #: One line: what it does.
    summary: Annotated[str, Field(min_length=1, max_length=200)]
    #: What it accepts: methods (``lora``), model families or formats, free words.
    accepts: Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=50)] = []


class GraderDescriptor(_Data):
    """A grader, as its workset registers it."""

    name: Annotated[str, Field(pattern=_NAME)]
    summary: Annotated[str, Field(min_length=1, max_length=200)]


class TrainRequest(_Data):
    """A local fine-tuning job, named to one trainer (``modellab train --backend NAME``).

    The core builds it only after the gate, the model store and preflight have passed:
    ``dataset_dir`` was built from the standing approval in ``approval``, and
    ``base_model_dir`` is an installed model whose files still match their hashes.
    """

    backend: str
    #: ``sft-lora``, ``sft-qlora``, ``sft-full`` or ``dpo``.
    method: str
    #: The installed model's name in the lab.
    base_model: str
    #: The installed model's folder: safetensors weights, tokenizer, chat template.
    base_model_dir: InputPath | None = None
    #: The dataset folder, built from an approved export: ``trl-sft/train.jsonl`` for the
    #: SFT methods, ``preference/train.jsonl`` for ``dpo``.
    dataset_dir: InputPath
    #: The approval the dataset was built from.
    approval: ApprovalRecord
    #: The run folder: ``events.jsonl`` (progress, a JSON object a line), ``checkpoints/``,
    #: ``adapter/``, ``merged/`` (when asked), ``README.md`` (the model card).
    output_dir: OutputPath
    #: ``max_steps``, ``epochs``, ``learning_rate``, ``lora_r``, ``lora_alpha``,
    #: ``max_seq_len``, ``batch_size``, ``grad_accum``, ``seed``, ``save_steps``, ``merge``,
    #: ``dpo_beta``: flat, JSON-native.
    hyperparameters: dict[str, Scalar] = {}
    #: Go on from the newest checkpoint under ``output_dir/checkpoints``.
    resume: bool = False
    #: A chat template file to train with instead of the model's own (``--chat-template``);
    #: the trainer saves it with what it writes.
    chat_template: InputPath | None = None


class TrainResult(_Data):
    """What a trainer made: paths are relative to ``output_dir``."""

    output_dir: Path
    #: ``steps``, ``loss_first``, ``loss_last``, ``tokens``, ``tokens_per_s``,
    #: ``train_seconds``, ``peak_rss_bytes``, ``peak_vram_bytes``.
    metrics: dict[str, float] = {}
    adapter_dir: str | None = None
    merged_dir: str | None = None
    card: str | None = None
    #: Library versions the job ran with (``torch``, ``transformers``, ``peft``, ``trl``).
    versions: dict[str, str] = {}
    #: Where it ran: ``cpu`` or the accelerator's name.
    device: str = ""


class ServeRequest(_Data):
    """Plan how to serve one model behind an OpenAI-compatible endpoint.

    The handler does not start the server: it prepares what the model needs (a GGUF
    converted from a candidate's weights, into ``work_dir``) and answers with a
    :class:`ServeResult`, the launch plan. The core starts that plan itself, confined
    (read: the plan's ``reads``; write: its own log folder; network: listen on ``port``
    only, connect nowhere), supervises it, and probes it (``modellab serve``).
    """

    backend: str
    #: The name clients send as ``model`` (the server's alias), e.g. ``smollm2``.
    model: str
    #: The installed model's folder (a GGUF file, or safetensors weights and tokenizer); for
    #: a candidate: its base model's folder.
    model_dir: InputPath | None = None
    #: The GGUF file inside ``model_dir`` to serve, when the model is one.
    gguf_file: str | None = None
    #: A candidate's PEFT adapter folder, served on top of ``model_dir``.
    adapter_dir: InputPath | None = None
    #: A candidate's merged weights (safetensors); served instead of base + adapter.
    merged_dir: InputPath | None = None
    #: The model's chat template (text), if it has one: the tool-call parser is chosen
    #: from it.
    chat_template: str | None = None
    #: The architecture the model's config or GGUF names (``llama``, ``qwen2``...).
    architecture: str | None = None
    #: Where the server listens: loopback unless the user asked otherwise.
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)]
    context_length: Annotated[int, Field(ge=256)] = 4096
    #: CPU threads for CPU backends; ``None``: the backend's default.
    threads: int | None = None
    #: Where the handler may write what it prepares (converted GGUF files). The core keeps
    #: one per model, so a second serve of the same weights reuses it.
    work_dir: OutputPath
    #: The pinned llama-cpp-python sdist, when the user gave one: its converters turn
    #: safetensors weights and PEFT adapters into GGUF.
    converters: InputPath | None = None
    #: Backend options the user passed (``--option KEY=VALUE``).
    options: dict[str, Scalar] = {}


class ServeResult(_Data):
    """The launch plan of one server: what the core starts, reads to it, and probes.

    .. versionchanged:: 0.3 was ``base_url`` and ``model``: the server is now started by
       the core, not by the handler.
    """

    #: ``["-m", MODULE, ARG...]``: run with the workset's own Python.
    argv: Annotated[list[str], Field(min_length=2)]
    #: Extra environment for the server (telemetry switches, ``OLLAMA_HOST``...).
    env: dict[str, str] = {}
    #: Readiness: ``GET`` this path (``/health``, ``/v1/models``) until it says ready.
    health_path: str = "/v1/models"
    #: ``ok``: a 200 answer is ready; ``model-listed``: the answer is ``/v1/models`` JSON
    #: that lists ``served_model``.
    health_check: Literal["ok", "model-listed"] = "ok"
    #: Path of the OpenAI-compatible API (``base_url`` is ``http://HOST:PORT`` + this).
    api_path: str = "/v1"
    #: The ``model`` name the server answers to.
    served_model: str
    #: Absolute paths the server reads (model files, converted GGUF files, templates, the
    #: stack's own install): granted to it read-only. The core refuses a path in or around
    #: Model Lab's home or the user's home folder that the request did not hand over.
    reads: list[str] = []
    #: Whether the server honours a ``tool_choice`` that forces a named function (Ollama's
    #: OpenAI API does not): the smoke test forces one only where it is.
    forced_tool_choice: bool = True
    #: Seconds to wait for readiness (model loading: seconds on a CPU, minutes on a GPU).
    ready_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    #: Lines for the user: the parser chosen and why, a stack in maintenance mode...
    notes: list[Annotated[str, Field(max_length=300)]] = []


class RemoteFinetuneRequest(_Data):
    """A fine-tuning job on a hosted backend the user named."""

    backend: str
    base_model: str
    method: str
    #: The approved export to send: only its approved ``files`` leave the machine.
    approval: ApprovalRecord
    hyperparameters: dict[str, Scalar] = {}


class RemoteFinetuneResult(_Data):
    """The hosted job that was started."""

    job_id: str
    status: str
    url: str | None = None


class CaseToGrade(_Data):
    """One case and the model's action, as JSON (``EvalCase`` / ``Action`` ``to_json``)."""

    case: dict[str, Any]
    action: dict[str, Any]


class GradeRequest(_Data):
    """Every case a grader is asked about in one call (one eval run batches them)."""

    grader: str
    items: list[CaseToGrade]


class GradeAnswer(_Data):
    """One grade: a score in [0, 1] with a reason; ``None`` in a result when it does not apply."""

    score: Annotated[float, Field(ge=0.0, le=1.0)]
    reason: Annotated[str, Field(max_length=2000)]


class GradeResult(_Data):
    """One entry per item of the request, in order."""

    grades: list[GradeAnswer | None]


@hookspec
def modellab_register_importers(register: Callable[[Importer], None]) -> None:
    """Register session importers (readers for one agent's on-disk format).

    *Called by* :func:`modellab.sources.collect_importers`, once per command that imports,
    before any file is read; and by ``modellab worksets backends``.

    :param register: call it once per importer. The core checks each importer's shape and
        rejects a second importer with a ``name`` already taken, naming both plugins.
    :returns: nothing; every implementation is called and results come through
        ``register``.

    An implementation must not read files or touch the network here: it only says which
    importers exist. Importers themselves must never write to the agent's files.

    .. versionadded:: 0.1
    """


@hookspec
def modellab_register_graders(
    register: Callable[[GraderDescriptor, Callable[[GradeRequest], GradeResult]], None],
) -> None:
    """Register graders that ``modellab eval run`` scores every answered case with, beside
    the built-in ones.

    *Called by* :func:`modellab.evals.collect_graders`, once per eval run, before any case
    is sent; and by ``modellab worksets backends``.

    :param register: call it once per grader with its descriptor and a handler that takes a
        :class:`GradeRequest` (cases and actions as JSON) and returns a
        :class:`GradeResult` (one grade or ``None`` per case, in order). A name already
        taken is an error naming both worksets.
    :returns: nothing; every implementation is called.

    A case's score multiplies the built-in ``decision`` grade by the mean of every other
    grade that applied, so a registered grader moves scores and the promotion gate.
    An execution-based grader must run the model's action in a sandbox it owns, never in
    the user's working tree, and must not send data off the machine.

    .. versionadded:: 0.2 (was ``modellab_eval``)
    """


@hookspec
def modellab_register_trainers(
    register: Callable[[BackendDescriptor, Callable[[TrainRequest], TrainResult]], None],
) -> None:
    """Register local trainers by name.

    *Called by* ``modellab worksets backends`` (and ``modellab train --backend NAME`` once
    it exists): the user always names the trainer; the core calls that one's handler with
    a :class:`TrainRequest` and gets a :class:`TrainResult`.

    :param register: call it once per trainer. Two worksets registering the same name is an
        error naming both.

    The handler must write only under ``request.output_dir``.

    .. versionadded:: 0.2
    """


@hookspec
def modellab_register_servers(
    register: Callable[[BackendDescriptor, Callable[[ServeRequest], ServeResult]], None],
) -> None:
    """Register local model servers by name.

    *Called by* ``modellab serve MODEL --backend NAME`` (and ``eval run --model
    candidate:ID``, which serves the candidate for the run), and ``modellab worksets
    backends``: the user names the server, the core sends a :class:`ServeRequest` and gets a
    :class:`ServeResult`, the launch plan, which the core starts, confined and supervised.

    :param register: call it once per server. A name taken twice is an error naming both.

    The handler prepares and plans; it must not start the server itself (the call's child
    has no network and ends with the call). The plan must bind ``request.host`` and
    ``request.port`` only; the core checks that the server listens there and nowhere else.
    A stack that is not installed here is an error that names what is missing.

    .. versionadded:: 0.2
    .. versionchanged:: 0.3 the handler answers a launch plan.
    """


@hookspec
def modellab_register_remote_backends(
    register: Callable[
        [BackendDescriptor, Callable[[RemoteFinetuneRequest], RemoteFinetuneResult]], None
    ],
) -> None:
    """Register hosted fine-tuning backends by name.

    *Called by* ``modellab worksets backends`` (and ``modellab train --remote NAME`` once it
    exists). The core opens the export through the gate before it builds a
    :class:`RemoteFinetuneRequest`; the handler sends only the approved files it names and
    talks only to the hosts its manifest declares.

    :param register: call it once per backend. A name taken twice is an error naming both.

    .. versionadded:: 0.2
    """


@hookspec(firstresult=True)
def modellab_run_command(command: str, argv: list[str], settings: Settings) -> int | None:
    """Run ``modellab COMMAND ARGV...``, a command a workset adds.

    *Called by* the CLI when the first argument names a command that an enabled, consented
    workset declares in its manifest (``commands``); it runs in a child process of its own
    (``modellab --help`` lists workset commands from their manifests, importing none).

    :param command: the command name, as declared in the manifest.
    :param argv: the arguments after it, unparsed (the workset owns its own parser and
        ``--help``).
    :param settings: where the catalog and exports live.
    :returns: the exit code, or ``None`` when ``command`` is not this workset's.

    An implementation must not send data off the machine except from an approved export.

    .. versionadded:: 0.1
    """
