"""Errors of the model store, placed in the tree of :mod:`modellab.errors` so the CLI's
exit-code table covers them: a bad model file is bad input (exit 4), a changed installed
file is a failed trust check (exit 10), an unknown model or a refused install is a usage
error (exit 2)."""

from __future__ import annotations

from pathlib import Path

from modellab.errors import SourceError, TrustError, UsageError

__all__ = ["ModelFileChangedError", "ModelFormatError", "ModelNotFoundError"]


class ModelFormatError(SourceError):
    """A model file (GGUF, safetensors, config, card) is damaged or not what it claims."""


class ModelNotFoundError(UsageError, LookupError):
    """No installed model has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"no installed model named {name!r}",
            hint="run 'modellab models list' to see the installed models",
        )


class ModelFileChangedError(TrustError):
    """An installed model's file is missing, or its bytes are not the ones installed."""

    def __init__(self, model: str, path: Path, reason: str) -> None:
        self.model = model
        self.path = path
        self.reason = reason
        super().__init__(
            f"model {model!r}: {path}: {reason}; it is not used",
            hint=f"reinstall it: 'modellab models remove {model}', then 'modellab models "
            "install' from its source",
        )
