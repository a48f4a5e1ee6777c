"""Where each serving stack is installed on this machine, and what is missing when it is not.

A stack runs either as a Python module of the workset's own environment (``python -m
vllm...``, run with the workset's interpreter) or as a program on ``PATH`` (``ollama``,
``text-generation-launcher``), started through :mod:`modellab_serving.exec` so that every
plan is ``-m MODULE``. What is looked at is injectable (:class:`Machine`), so tests can point
``PATH`` at a folder of their own and say whether a GPU is present.

Nothing here imports a stack: modules are found with :func:`importlib.util.find_spec`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Found", "Machine", "Stack", "StackMissing", "find", "install_roots"]


class StackMissing(RuntimeError):
    """The serving stack a request names is not installed here (or needs a GPU there is
    not): the message says what is missing and how to get it."""


def _module_installed(name: str) -> bool:
    """Whether the top-level module ``name`` is importable here, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@dataclass(frozen=True)
class Machine:
    """What the planner may look at on this machine; the defaults are the real ones."""

    #: The ``PATH`` searched for programs; ``None``: this process's ``PATH``.
    path: str | None = None
    #: A GPU is present when this device exists (vLLM, SGLang and TGI need an NVIDIA one).
    gpu_device: Path = Path("/dev/nvidia0")
    #: Whether a module is importable in the workset's environment.
    has_module: Callable[[str], bool] = field(default=_module_installed)

    def program(self, name: str) -> Path | None:
        """The absolute path of program ``name`` on ``PATH``, or ``None``."""
        found = shutil.which(name, path=self.path)
        return Path(os.path.abspath(found)) if found else None

    def has_gpu(self) -> bool:
        """Whether an NVIDIA GPU device is present."""
        return self.gpu_device.exists()


@dataclass(frozen=True)
class Stack:
    """One serving stack: how to find it and how to install it."""

    #: As the user names it: ``vllm``, ``sglang``...
    name: str
    #: The module run with ``python -m`` when the package is in the workset's environment.
    module: str | None
    #: The arguments after ``-m MODULE`` that come before the recipe's own.
    module_args: tuple[str, ...]
    #: The program looked for on ``PATH``.
    program: str | None
    #: The arguments after the program that come before the recipe's own.
    program_args: tuple[str, ...]
    #: How to get it.
    install: str
    needs_gpu: bool


@dataclass(frozen=True)
class Found:
    """How a found stack is started: ``argv`` is the plan's start, ``reads`` its install."""

    argv: tuple[str, ...]
    reads: tuple[str, ...]


def find(stack: Stack, machine: Machine) -> Found:
    """How to start ``stack`` here: its module in the workset's environment first, else its
    program on ``PATH``; :class:`StackMissing` naming everything that is missing."""
    missing: list[str] = []
    found: Found | None = None
    if stack.module is not None and machine.has_module(stack.module.split(".")[0]):
        # The workset's own install is granted to the server by the core.
        found = Found(argv=("-m", stack.module, *stack.module_args), reads=())
    elif stack.program is not None and (program := machine.program(stack.program)):
        found = Found(
            argv=("-m", "modellab_serving.exec", str(program), *stack.program_args),
            reads=install_roots(program),
        )
    else:
        missing.append(f"{_not_installed(stack)} (install: {stack.install})")
    if stack.needs_gpu and not machine.has_gpu():
        missing.append(f"no NVIDIA GPU found ({machine.gpu_device} is missing)")
    if missing or found is None:
        raise StackMissing(f"{stack.name} cannot run here: " + "; ".join(missing))
    return found


def _not_installed(stack: Stack) -> str:
    package = (stack.module or "").split(".")[0]
    where = "this workset's environment"
    if stack.program and package:
        return (
            f"the `{stack.program}` program is not on PATH and the {package} package is not "
            f"installed in {where} ({sys.prefix})"
        )
    if stack.program:
        return f"the `{stack.program}` program is not on PATH"
    return f"the {package} package is not installed in {where} ({sys.prefix})"


def _prefix(path: Path) -> Path:
    """The installation a program belongs to: the folder above its ``bin/``, else its own."""
    folder = path.parent
    return folder.parent if folder.name == "bin" else folder


def _python_interpreter(program: Path) -> Path | None:
    """The Python a ``#!/ABS/python`` script runs with (a console script in a venv), if any.

    Other interpreters (``/bin/sh``, ``/usr/bin/env``) are system files: the core's to grant.
    """
    try:
        with program.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words or not words[0].startswith("/"):
        return None
    interpreter = Path(words[0])
    return interpreter if interpreter.name.startswith("python") else None


def install_roots(program: Path) -> tuple[str, ...]:
    """The folders a program needs to read to run: its installation prefix (the parent of
    its ``bin/``), the same for the file it links to, and for a Python console script, its
    interpreter's. Never ``/``: a program straight under ``/bin`` brings no folder."""
    paths = [program, program.resolve()]
    interpreter = _python_interpreter(program)
    if interpreter is not None:
        paths += [interpreter, interpreter.resolve()]
    roots: list[str] = []
    for path in paths:
        root = str(_prefix(path))
        if root != "/" and root not in roots:
            roots.append(root)
    return tuple(roots)
