"""Which weights ``modellab serve MODEL`` serves: an installed model, or a candidate.

``MODEL`` is an installed model's name (``models list``), or ``candidate:REF`` where REF
is a candidate's name, the id (or id prefix) of the training run that made it, or
``latest`` (the candidate installed last). A
candidate made of a PEFT adapter is served on top of its parent, the base model it was
trained from. Every file of both is hashed again before use: a model that changed since
install is refused, never served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modellab.errors import UsageError

if TYPE_CHECKING:
    from modellab.models import InstalledModel
    from modellab.settings import Settings
    from modellab.store import Catalog

__all__ = ["CANDIDATE_PREFIX", "ServeTarget", "model_name", "resolve_model"]

CANDIDATE_PREFIX = "candidate:"
#: ``candidate:latest``: the candidate installed last (the newest training run's result).
LATEST = "latest"


@dataclass(frozen=True, slots=True)
class ServeTarget:
    """The model to serve and, for an adapter, the base it goes on."""

    model: InstalledModel
    base: InstalledModel | None

    @property
    def adapter(self) -> bool:
        """Whether the model is a PEFT adapter served on top of ``base``."""
        return self.base is not None

    @property
    def weights(self) -> str:
        """``gguf``, ``safetensors``, ``merged`` (a candidate's whole model) or ``adapter``."""
        if self.adapter:
            return "adapter"
        if self.model.kind == "candidate" and self.model.format == "hf":
            return "merged"
        return "gguf" if self.model.format == "gguf" else "safetensors"

    def context_length(self, asked: int | None) -> int:
        """Tokens the server holds per request: what was asked, else the model's own
        limit capped at 4096 (a CPU server's memory grows with it)."""
        own = (
            self.base or self.model
        ).passport.context_length or self.model.passport.context_length
        if asked is not None:
            if own and asked > own:
                raise UsageError(
                    f"--context {asked} is more than {self.model.name} was trained for ({own})"
                )
            return asked
        return min(own or 4096, 4096)

    def request_fields(self) -> dict[str, Any]:
        """The :class:`~modellab.plugins.hookspecs.ServeRequest` fields that describe the
        weights: folders, the GGUF file, the chat template and architecture."""
        from modellab.models import read_chat_template

        fields: dict[str, Any] = {"model": self.model.name}
        holder = self.base or self.model
        if self.adapter:
            assert self.base is not None
            fields["adapter_dir"] = self.model.path
            fields["model_dir"] = self.base.path
        elif self.weights == "merged":
            fields["merged_dir"] = self.model.path
        else:
            fields["model_dir"] = self.model.path
        if holder.format == "gguf":
            fields["gguf_file"] = holder.weights.name
        # The candidate's own template first (a trainer saves the one it trained with).
        places = [self.model.path] if self.model.format == "hf" else []
        places.append(holder.weights if holder.format == "gguf" else holder.path)
        template = next((t for t in map(read_chat_template, places) if t), None)
        fields["chat_template"] = template
        fields["architecture"] = self.model.passport.architecture or holder.passport.architecture
        return fields


def _candidate(catalog: Catalog, settings: Settings, ref: str) -> InstalledModel:
    from modellab.models import list_installed

    candidates = [m for m in list_installed(catalog) if m.kind == "candidate"]
    if ref == LATEST and candidates:
        return max(candidates, key=lambda m: (m.installed_at, m.train_run or ""))
    found = [m for m in candidates if ref in (m.name, m.train_run)]
    if not found and len(ref) >= 4:
        found = [m for m in candidates if (m.train_run or "").startswith(ref)]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(m.name for m in candidates[:5]) or "none yet (modellab train ...)"
        raise UsageError(f"no candidate {ref!r} (candidates: {known})")
    raise UsageError(
        f"candidate:{ref} matches {len(found)} candidates ({', '.join(m.name for m in found)})",
        hint="name one by its model name",
    )


def model_name(catalog: Catalog, settings: Settings, ref: str) -> str:
    """The installed model ``ref`` names (its files not checked: :func:`resolve_model`
    does that before anything is served)."""
    from modellab.models import open_installed

    if ref.startswith(CANDIDATE_PREFIX):
        return _candidate(catalog, settings, ref[len(CANDIDATE_PREFIX) :]).name
    return open_installed(catalog, settings, ref).name


def resolve_model(catalog: Catalog, settings: Settings, ref: str) -> ServeTarget:
    """The installed model (or candidate) ``ref`` names, verified.

    :raises UsageError: no model or candidate by that name.
    :raises ModelNotFoundError: an adapter's base model is no longer installed.
    :raises ModelFileChangedError: a file changed since install.
    """
    from modellab.models import open_installed

    if ref.startswith(CANDIDATE_PREFIX):
        model = _candidate(catalog, settings, ref[len(CANDIDATE_PREFIX) :])
    else:
        model = open_installed(catalog, settings, ref)
    base = None
    if model.kind == "candidate" and model.passport.adapter:
        if not model.parent:
            raise UsageError(f"{model.name} is an adapter with no base model recorded")
        base = open_installed(catalog, settings, model.parent)
        base.verify()
    model.verify()
    return ServeTarget(model=model, base=base)
