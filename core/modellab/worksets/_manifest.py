"""``workset.toml``: what a workset is, does and needs, validated field by field.

The manifest is what the user consents to. It states facts (license, telemetry, which
hosts it talks to, what data leaves the machine and on which command, what it needs) and
the core shows them as they are, without judging. Consent is bound to the manifest's exact
bytes (its sha256), so any change re-asks.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from modellab.errors import ManifestError

__all__ = ["Command", "DataFlow", "Egress", "WorksetManifest", "load_manifest"]

_NAME = r"^[a-z][a-z0-9-]{1,40}$"
_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
#: Hooks a workset may implement: the hookspecs in modellab.plugins.hookspecs.
KNOWN_HOOKS = frozenset(
    {
        "modellab_register_importers",
        "modellab_run_command",
        "modellab_export",
        "modellab_redaction_rules",
        "modellab_train",
        "modellab_finetune_remote",
        "modellab_eval",
        "modellab_serve",
    }
)

#: Hooks a ``venv`` workset may implement: those whose arguments and result are plain data,
#: so they can be answered in the workset's own process (``modellab.worksets._venv_proxy``).
VENV_HOOKS = frozenset(
    {
        "modellab_run_command",
        "modellab_export",
        "modellab_redaction_rules",
        "modellab_train",
        "modellab_finetune_remote",
        "modellab_serve",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identity(_Strict):
    """The ``[workset]`` table."""

    name: Annotated[str, Field(pattern=_NAME)]
    version: str
    summary: Annotated[str, Field(min_length=1, max_length=200)]
    license: Annotated[str, Field(min_length=1)]
    publisher: Annotated[str, Field(min_length=1)]

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError(f"{value!r} is not a release version (e.g. 1.2.0)")
        return value


class DataFlow(_Strict):
    """Data that leaves the machine, and the command that sends it."""

    what: Annotated[str, Field(min_length=1)]
    command: Annotated[str, Field(min_length=1)]


class Egress(_Strict):
    """A host the workset connects to, and on which commands."""

    host: Annotated[str, Field(min_length=1)]
    commands: Annotated[list[str], Field(min_length=1)]


class Privacy(_Strict):
    """The ``[privacy]`` table: telemetry, data leaving the machine, network egress."""

    telemetry: Literal["off", "opt-in"] = "off"
    data_leaves_machine: list[DataFlow] = []
    network_egress: list[Egress] = []


class Requirements(_Strict):
    """The ``[requirements]`` table."""

    python: list[str] = []
    gpu: Literal["none", "optional", "required"] = "none"
    isolation: Literal["shared", "venv"] = "shared"


class Hooks(_Strict):
    """The ``[hooks]`` table: which hookspecs the workset implements."""

    implements: list[str] = []

    @field_validator("implements")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - KNOWN_HOOKS)
        if unknown:
            raise ValueError(f"unknown hook(s) {', '.join(unknown)}")
        return value


class Command(_Strict):
    """A ``[[commands]]`` entry: a top-level command the workset adds."""

    name: Annotated[str, Field(pattern=_NAME)]
    summary: Annotated[str, Field(min_length=1, max_length=120)]


class WorksetManifest(_Strict):
    """A parsed, validated ``workset.toml``."""

    workset: Identity
    privacy: Privacy = Privacy()
    requirements: Requirements = Requirements()
    hooks: Hooks = Hooks()
    commands: list[Command] = []

    @model_validator(mode="after")
    def _venv_hooks(self) -> WorksetManifest:
        if self.requirements.isolation == "venv":
            live = sorted(set(self.hooks.implements) - VENV_HOOKS)
            if live:
                raise ValueError(
                    f"hooks.implements: {', '.join(live)} cannot run in a workset with "
                    'isolation = "venv" (their arguments are live objects); use "shared"'
                )
        return self

    @property
    def name(self) -> str:
        """The workset's name."""
        return self.workset.name

    @property
    def version(self) -> str:
        """The workset's version."""
        return self.workset.version


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_manifest(data: bytes, source: str) -> tuple[WorksetManifest, str]:
    """Parse and validate manifest bytes; returns the manifest and the sha256 of the bytes.

    :raises ManifestError: naming ``source`` and the first field at fault.
    """
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{source}: not valid TOML ({exc})") from None
    try:
        manifest = WorksetManifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ManifestError(
            f"{source}: {_location(first['loc'])}: {first['msg']}{more}",
            hint="see docs/worksets.md for the manifest format",
        ) from None
    return manifest, hashlib.sha256(data).hexdigest()
