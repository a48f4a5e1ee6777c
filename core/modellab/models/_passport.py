"""The passport: what a model is, what it may be used for, and where its bytes came from.

Built from the files as installed (never from what a source claims), so the hashes in it
are the hashes of the bytes the lab keeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from modellab._internal.files import sha256_file
from modellab.models._card import read_card
from modellab.models._errors import ModelFormatError
from modellab.models._gguf import GgufArray, GgufHeader, file_type_name, read_gguf
from modellab.models._safetensors import read_safetensors_header
from modellab.models._template import TemplateError, read_chat_template, template_features

__all__ = [
    "UNKNOWN_LICENSE",
    "Passport",
    "Provenance",
    "TemplateSupport",
    "build_passport",
    "hash_files",
    "model_files",
]

#: How a passport shows, and ``--accept-license`` names, a licence nobody stated.
UNKNOWN_LICENSE = "unknown"


class TemplateSupport(BaseModel):
    """What the chat template supports, found by rendering it (see ``template_features``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: bool
    tool_calls: bool
    tool_results: bool
    reasoning: bool
    generation_blocks: bool


class Provenance(BaseModel):
    """Where the files came from, and the sha256 of each as installed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The source plug-in that fetched them (``hf-folder``, ``gguf``, ``pypi``, ``wheel``,
    #: ``training``).
    source_kind: str
    #: The path, package or URL they were fetched from.
    location: str
    #: Anything else the source recorded (a distribution's version, a training run).
    details: dict[str, str] = {}
    #: {relative path: sha256}
    files: dict[str, str]
    total_bytes: int


class Passport(BaseModel):
    """A model's passport. Frozen; ``model_dump(mode="json")`` is its JSON form."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    format: Literal["hf", "gguf"]
    architecture: str | None
    parameter_count: int
    layers: int | None = None
    context_length: int | None
    #: The weights' dtype (``BF16``), a quantisation method, or a GGUF file type (``Q4_1``).
    quantisation: str | None
    #: The licence id the model states (card, GGUF metadata) or its package's; ``None``
    #: when nothing states one (shown as ``unknown``).
    license: str | None
    base_model: str | None
    chat_template: bool
    template: TemplateSupport | None = None
    #: Why a chat template that is present could not be used.
    template_error: str | None = None
    #: A PEFT adapter (``adapter_config.json``), not a whole model.
    adapter: bool = False
    provenance: Provenance
    #: What a training run adds (hyper-parameters, metrics, datasets by hash).
    extra: dict[str, Any] = {}

    @property
    def license_id(self) -> str:
        """The licence as consent names it: the id, or ``unknown``."""
        return self.license or UNKNOWN_LICENSE


def model_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``, sorted, as relative paths."""
    return sorted(path.relative_to(folder) for path in folder.rglob("*") if path.is_file())


def hash_files(folder: Path) -> tuple[dict[str, str], int]:
    """{relative POSIX path: sha256} of every file under ``folder``, and their total size."""
    hashes: dict[str, str] = {}
    total = 0
    for relative in model_files(folder):
        path = folder / relative
        hashes[relative.as_posix()] = sha256_file(path)
        total += path.stat().st_size
    return hashes, total


def _template_facts(template: str | None) -> dict[str, Any]:
    if template is None:
        return {"chat_template": False}
    try:
        features = template_features(template)
    except TemplateError as exc:
        return {"chat_template": True, "template_error": str(exc)}
    return {"chat_template": True, "template": TemplateSupport(**features.as_dict())}


def _json_file(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(path, f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ModelFormatError(path, "not a JSON object")
    return value


def _first_int(config: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _hf_facts(folder: Path) -> dict[str, Any]:
    adapter = (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file()
    config_path = folder / ("adapter_config.json" if adapter else "config.json")
    if not config_path.is_file():
        raise ModelFormatError(folder, "no config.json (or adapter_config.json)")
    config = _json_file(config_path)
    weights = sorted(folder.rglob("*.safetensors"))
    if not weights:
        raise ModelFormatError(folder, "no *.safetensors weights")
    by_dtype: dict[str, int] = {}
    for path in weights:
        for dtype, count in read_safetensors_header(path).elements_by_dtype().items():
            by_dtype[dtype] = by_dtype.get(dtype, 0) + count
    quantisation = max(by_dtype, key=lambda dtype: by_dtype[dtype]) if by_dtype else None
    quant_config = config.get("quantization_config")
    if isinstance(quant_config, dict) and isinstance(quant_config.get("quant_method"), str):
        bits = quant_config.get("bits")
        quantisation = str(quant_config["quant_method"]) + (f" {bits}-bit" if bits else "")
    nested = config.get("text_config")
    text_config: dict[str, Any] = nested if isinstance(nested, dict) else {}
    architectures = config.get("architectures")
    architecture: str | None
    if adapter:
        architecture = f"{config.get('peft_type', 'PEFT')} adapter"
        base = config.get("base_model_name_or_path")
    else:
        architecture = (
            str(architectures[0])
            if isinstance(architectures, list) and architectures
            else (str(config["model_type"]) if isinstance(config.get("model_type"), str) else None)
        )
        base = None
    return {
        "format": "hf",
        "adapter": adapter,
        "architecture": architecture,
        "parameter_count": sum(by_dtype.values()),
        "layers": _first_int(config, "num_hidden_layers", "n_layer", "num_layers")
        or _first_int(text_config, "num_hidden_layers"),
        "context_length": _first_int(
            config, "max_position_embeddings", "n_positions", "max_seq_len", "seq_length"
        )
        or _first_int(text_config, "max_position_embeddings"),
        "quantisation": quantisation,
        "base_model": base if isinstance(base, str) else None,
        **_template_facts(read_chat_template(folder)),
    }


def _gguf_base_model(header: GgufHeader) -> str | None:
    count = header.integer("general.base_model.count")
    if count:
        for key in ("general.base_model.0.repo_url", "general.base_model.0.name"):
            if value := header.text(key):
                return value
    return None


def _gguf_facts(folder: Path) -> dict[str, Any]:
    files = sorted(folder.rglob("*.gguf"))
    if len(files) != 1:
        raise ModelFormatError(folder, f"expected one .gguf file, found {len(files)}")
    header = read_gguf(files[0])
    architecture = header.text("general.architecture")
    prefix = f"{architecture}." if architecture else "\0"
    file_type = header.integer("general.file_type")
    if file_type is not None:
        quantisation: str | None = file_type_name(file_type)
    else:
        by_type: dict[str, int] = {}
        for tensor in header.tensors:
            by_type[tensor.type_name] = by_type.get(tensor.type_name, 0) + tensor.elements
        quantisation = max(by_type, key=lambda name: by_type[name]) if by_type else None
    license_value = header.metadata.get("general.license")
    if isinstance(license_value, GgufArray) and license_value.items:
        license_value = license_value.items[0]
    return {
        "format": "gguf",
        "architecture": architecture,
        "parameter_count": header.parameter_count,
        "layers": header.integer(prefix + "block_count"),
        "context_length": header.integer(prefix + "context_length"),
        "quantisation": quantisation,
        "license": license_value if isinstance(license_value, str) else None,
        "base_model": _gguf_base_model(header),
        **_template_facts(header.text("tokenizer.chat_template")),
    }


def build_passport(
    name: str,
    folder: Path,
    fmt: Literal["hf", "gguf"],
    *,
    source_kind: str,
    location: str,
    details: dict[str, str] | None = None,
    license_hint: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Passport:
    """The passport of the model whose files are in ``folder`` (as they will be installed).

    The licence is the model's own statement (GGUF ``general.license``, the card's
    ``license:``), else ``license_hint`` (a package's metadata), else unknown.

    :raises ModelFormatError: a file is damaged or the folder is not a model of ``fmt``.
    """
    facts = _gguf_facts(folder) if fmt == "gguf" else _hf_facts(folder)
    card = read_card(folder)
    facts["license"] = facts.get("license") or card.license or license_hint
    facts["base_model"] = facts.get("base_model") or card.base_model
    hashes, total = hash_files(folder)
    provenance = Provenance(
        source_kind=source_kind,
        location=location,
        details=details or {},
        files=hashes,
        total_bytes=total,
    )
    return Passport(name=name, provenance=provenance, extra=extra or {}, **facts)
