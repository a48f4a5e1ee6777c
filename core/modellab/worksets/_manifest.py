"""``workset.toml``: what a workset is, does and needs, validated field by field.

The manifest is what the user consents to. It states facts (license, telemetry, which
hosts it talks to, what data leaves the machine and on which command, what it needs) and
the core shows them as they are, without judging. Consent is bound to the manifest's exact
bytes (its sha256), so any change re-asks.

Every string in it is what the consent screen prints, so every string is checked here, at
``registry build``, ``registry add`` and install alike: printable text only (no control
character, no bidirectional control, no line or paragraph separator: nothing that could move
the cursor, erase or reorder what the screen shows), on one line, and of bounded length.
Lists are bounded too, so a manifest cannot push the facts that matter off the screen.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from modellab.errors import ManifestError

__all__ = ["Command", "DataFlow", "Egress", "WorksetManifest", "load_manifest"]

_NAME = r"^[a-z][a-z0-9-]{1,40}$"
_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
#: What a manifest string may not contain: C0 controls (tab, CR, LF and ESC among them), DEL,
#: C1 controls (U+009B is a one-character CSI on some terminals), lone surrogates, the Arabic
#: letter mark and left-to-right/right-to-left marks, the line and paragraph separators, the
#: bidirectional embeddings, overrides and isolates, and the byte-order mark. The same set
#: (and more) that ``modellab._internal.term.shown`` escapes when anything is printed.
_NOT_PRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)
#: Longest one-line field (a name, license, publisher, host, requirement, summary).
LINE_MAX = 200
#: Longest free-text field (what data leaves the machine).
TEXT_MAX = 2000
#: Most entries in any list of the manifest.
LIST_MAX = 100


def _printable(value: str) -> str:
    bad = _NOT_PRINTABLE.search(value)
    if bad is not None:
        code = ord(bad.group())
        if bad.group() in "\r\n\u2028\u2029":
            kind = "a line break"
        elif code < 0xA0:
            kind = "a control character"
        elif 0xD800 <= code <= 0xDFFF:
            kind = "an undecodable character"
        else:
            kind = "an invisible or bidirectional control"
        raise PydanticCustomError(
            "not_printable",
            "contains {kind} (U+{code}) at position {position}; manifest strings must be "
            "printable text on one line",
            {"kind": kind, "code": f"{code:04X}", "position": bad.start()},
        )
    if not value.strip():
        raise PydanticCustomError("blank", "is empty or only spaces", {})
    return value


#: A one-line manifest string: printable, not blank, at most :data:`LINE_MAX` characters.
Line = Annotated[str, Field(max_length=LINE_MAX), AfterValidator(_printable)]
#: A longer manifest string: printable and single-line too, at most :data:`TEXT_MAX`.
Text = Annotated[str, Field(max_length=TEXT_MAX), AfterValidator(_printable)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identity(_Strict):
    """The ``[workset]`` table."""

    name: Annotated[str, Field(pattern=_NAME)]
    version: str
    summary: Line
    license: Line
    publisher: Line

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        if not _VERSION.fullmatch(value):
            raise ValueError(f"{value!r} is not a release version (e.g. 1.2.0)")
        return value


class DataFlow(_Strict):
    """Data that leaves the machine, and the command that sends it."""

    what: Text
    command: Line


class Egress(_Strict):
    """A host the workset connects to, and on which commands."""

    host: Line
    commands: Annotated[list[Line], Field(min_length=1, max_length=LIST_MAX)]


class Privacy(_Strict):
    """The ``[privacy]`` table: telemetry, data leaving the machine, network egress."""

    telemetry: Literal["off", "opt-in"] = "off"
    data_leaves_machine: Annotated[list[DataFlow], Field(max_length=LIST_MAX)] = []
    network_egress: Annotated[list[Egress], Field(max_length=LIST_MAX)] = []
    #: It reads the catalog (raw sessions): it is then only run with no network at all.
    reads_catalog: bool = False

    @field_validator("reads_catalog")
    @classmethod
    def _no_egress_with_raw_sessions(cls, value: bool, info: ValidationInfo) -> bool:
        # Raw session data is only handed to a workset call with no network at all.
        if value and info.data.get("network_egress"):
            raise PydanticCustomError(
                "reads_catalog_with_egress",
                "a workset that reads the catalog (raw sessions) may not declare network_egress",
                {},
            )
        return value


class Requirements(_Strict):
    """The ``[requirements]`` table."""

    #: Must equal the wheel's own ``Requires-Dist`` (checked where the wheel is at hand:
    #: ``registry build``, ``registry add`` and install).
    python: Annotated[list[Line], Field(max_length=LIST_MAX)] = []
    gpu: Literal["none", "optional", "required"] = "none"
    isolation: Literal["shared", "venv"] = "shared"


class Hooks(_Strict):
    """The ``[hooks]`` table: which hookspecs the workset implements."""

    implements: Annotated[list[Line], Field(max_length=LIST_MAX)] = []

    @field_validator("implements")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        # The hook table is read off modellab.plugins.hookspecs: one list, never by hand.
        from modellab.plugins._table import hook_names

        known = hook_names()
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown hook(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        twice = sorted({hook for hook in value if value.count(hook) > 1})
        if twice:
            raise ValueError(f"hook(s) {', '.join(twice)} listed more than once")
        return value


class Command(_Strict):
    """A ``[[commands]]`` entry: a top-level command the workset adds."""

    name: Annotated[str, Field(pattern=_NAME)]
    summary: Annotated[str, Field(max_length=120), AfterValidator(_printable)]
    #: Its options that name an output path (``--out``): the child may write there (the
    #: file, created empty first when it does not exist yet), and nowhere else outside
    #: its own data folder.
    outputs: Annotated[
        list[Annotated[str, Field(pattern=r"^--?[A-Za-z0-9][A-Za-z0-9-]{0,40}$")]],
        Field(max_length=20),
    ] = []


class WorksetManifest(_Strict):
    """A parsed, validated ``workset.toml``."""

    workset: Identity
    privacy: Privacy = Privacy()
    requirements: Requirements = Requirements()
    hooks: Hooks = Hooks()
    commands: Annotated[list[Command], Field(max_length=LIST_MAX)] = []

    @field_validator("hooks")
    @classmethod
    def _importers_have_no_network(cls, value: Hooks, info: ValidationInfo) -> Hooks:
        # An importer reads the user's raw session files: like reads_catalog, it is only
        # handed them in a call with no network at all.
        privacy = info.data.get("privacy")
        if "modellab_register_importers" in value.implements and (
            privacy is not None and privacy.network_egress
        ):
            raise PydanticCustomError(
                "importer_with_egress",
                "a workset that registers importers (raw session files) may not declare "
                "network_egress",
                {},
            )
        return value

    @field_validator("commands")
    @classmethod
    def _distinct(cls, value: list[Command]) -> list[Command]:
        names = [command.name for command in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise PydanticCustomError(
                "duplicate_command",
                "command(s) {names} declared more than once",
                {"names": ", ".join(twice)},
            )
        return value

    @property
    def name(self) -> str:
        """The workset's name."""
        return self.workset.name

    @property
    def version(self) -> str:
        """The workset's version."""
        return self.workset.version


def _location(loc: tuple[int | str, ...]) -> str:
    """A field path as the manifest's author reads it: ``requirements.python[3]``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


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
