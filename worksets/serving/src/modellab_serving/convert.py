"""Turn a candidate's weights into GGUF with llama.cpp's own converters.

llama.cpp serves GGUF only, and a candidate is safetensors (merged weights) or a PEFT
adapter on a base model. The converters that do this (``convert_hf_to_gguf.py``,
``convert_lora_to_gguf.py``, their ``conversion`` package and the ``gguf-py`` library)
ship inside the llama-cpp-python sdist. They are third-party code that Model Lab does not
commit: the user hands over the pinned sdist (``--converters PATH``), its sha256 is checked,
and only those files are extracted, safely, into the request's ``work_dir``.

The converters run in a subprocess of the workset's own interpreter (which has torch,
transformers, safetensors and sentencepiece), never in-process, with every phone-home
switched off; what they print goes to ``convert.log`` in ``work_dir``.

Converted files are cached in ``work_dir`` by the sha256 of what the converter reads
(``converted.json``), so serving the same candidate twice converts once; a cached output
whose sha256 no longer matches is converted again.

Messages carry paths and converter output verbatim: the caller escapes them before they
reach a terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from modellab.workset import ServeRequest

__all__ = [
    "CONVERTED_JSON",
    "LLAMA_CPP_VERSION",
    "LOG_NAME",
    "OFFLINE_ENV",
    "SDIST_NAME",
    "SDIST_SHA256",
    "ConversionError",
    "Prepared",
    "converters",
    "lora_to_gguf",
    "prepare",
    "to_gguf",
]

LLAMA_CPP_VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
#: Where the converters are extracted, inside the cache folder given.
CONVERTERS_DIR = f"llama.cpp-converters-{LLAMA_CPP_VERSION}"
#: The record of converted files, in ``work_dir``.
CONVERTED_JSON = "converted.json"
#: Everything the converters print, in ``work_dir``.
LOG_NAME = "convert.log"

#: Inside the sdist, every converter file sits under this folder.
_SDIST_ROOT = PurePosixPath(f"llama_cpp_python-{LLAMA_CPP_VERSION}/vendor/llama.cpp")
_FILES = frozenset({"convert_hf_to_gguf.py", "convert_lora_to_gguf.py"})
_TREES = ("conversion", "gguf-py")
#: Written last into an extracted converters folder: the sdist it came from.
_MARKER = ".sdist-sha256"

#: Environment of every converter run: nothing phones home, nothing is fetched.
OFFLINE_ENV: Mapping[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # The user's site-packages could hold another ``gguf``; only the sdist's is used.
    "PYTHONNOUSERSITE": "1",
    # The converters folder stays as extracted (and may be read-only when confined).
    "PYTHONDONTWRITEBYTECODE": "1",
}

_MISSING_CONVERTERS = (
    "converting {name} to GGUF needs llama.cpp's converters: pass --converters "
    f"PATH/{SDIST_NAME} (pip download --no-deps --no-binary :all: "
    f"llama-cpp-python=={LLAMA_CPP_VERSION})"
)
_CHUNK = 1 << 20
_RECORD_VERSION = 1


class ConversionError(RuntimeError):
    """A model or adapter could not be converted to GGUF; nothing partial is left.

    The message is one line naming what was converted and why it failed (for a converter
    crash: its last error line). It is not escaped: the caller escapes it.
    """

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        #: The file or folder the error is about.
        self.path = path


class Prepared(NamedTuple):
    """What llama.cpp serves: a GGUF model and, for an adapter, its LoRA GGUF."""

    gguf: Path
    lora: Path | None = None


# -- the converters, from the pinned sdist -------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _wanted(relative: PurePosixPath) -> bool:
    """Whether a path (relative to llama.cpp's folder in the sdist) is part of the converters."""
    parts = relative.parts
    if not parts:
        return False
    if len(parts) == 1:
        return parts[0] in _FILES or parts[0] in _TREES
    return parts[0] in _TREES


def _check_member(member: tarfile.TarInfo, sdist: Path) -> None:
    """Refuse a member that could write outside the folder or is not a plain file or folder.

    Every member of the archive is checked, not only the ones extracted: an sdist holding
    such a member is not what was pinned, whatever its hash says.
    """
    name = member.name
    # Backslashes count as separators too: the archive may be extracted elsewhere one day.
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        reason = "an absolute path"
    elif ".." in parts:
        reason = "a path that leaves the folder ('..')"
    elif member.issym() or member.islnk():
        reason = "a link"
    elif not (member.isfile() or member.isdir()):
        reason = "a device, pipe or other special file"
    else:
        return
    raise ConversionError(f"refusing {sdist}: it holds {reason}: {name}", path=sdist)


def converters(
    sdist: Path,
    cache: Path,
    *,
    expected_sha256: str = SDIST_SHA256,
) -> Path:
    """Extract llama.cpp's converters from the pinned sdist into ``cache``; return their folder.

    The folder (``cache/llama.cpp-converters-0.3.36``) holds ``convert_hf_to_gguf.py``,
    ``convert_lora_to_gguf.py``, ``conversion/`` and ``gguf-py/`` and nothing else. It is
    reused when it was extracted from the same sdist before; otherwise it is built in a
    staging folder and renamed into place, so a half-extracted folder is never used.

    :param sdist: ``llama_cpp_python-0.3.36.tar.gz``, as ``pip download`` fetched it.
    :param cache: A folder this process may write.
    :param expected_sha256: The pin; only tests pass another (for archives they build).
    :raises ConversionError: the file is missing or not the pinned one (the message names
        the file and both hashes), or it holds a member that is a link, a device, an
        absolute path or a path with ``..``.
    """
    sdist = Path(sdist)
    if not sdist.is_file():
        raise ConversionError(f"llama.cpp's converters: {sdist} is not a file", path=sdist)
    actual = _sha256(sdist)
    if actual != expected_sha256:
        raise ConversionError(
            f"{sdist} is not the pinned {SDIST_NAME}: its sha256 is {actual}, "
            f"expected {expected_sha256}",
            path=sdist,
        )
    final = Path(cache) / CONVERTERS_DIR
    marker = final / _MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == actual:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{CONVERTERS_DIR}.", dir=final.parent))
    try:
        _extract(sdist, staging)
        # The marker is written last: a folder without it was never finished.
        (staging / _MARKER).write_text(actual + "\n", encoding="utf-8")
        if final.exists():
            # Left over from another sdist, or unfinished: replaced, never trusted.
            shutil.rmtree(final)
        try:
            os.rename(staging, final)
        except OSError:
            # Another process renamed its own copy first: theirs is as good as ours.
            if not (marker.is_file() and marker.read_text(encoding="utf-8").strip() == actual):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _extract(sdist: Path, into: Path) -> None:
    """Extract the converters' members of ``sdist`` into ``into``, flattened to llama.cpp's root."""
    try:
        with tarfile.open(sdist, mode="r:*") as archive:
            chosen: list[tarfile.TarInfo] = []
            for member in archive:
                _check_member(member, sdist)
                path = PurePosixPath(member.name)
                try:
                    relative = path.relative_to(_SDIST_ROOT)
                except ValueError:
                    continue
                if _wanted(relative):
                    chosen.append(member.replace(name=str(relative), deep=False))
            found = {PurePosixPath(m.name).parts[0] for m in chosen}
            missing = sorted((_FILES | set(_TREES)) - found)
            if missing:
                raise ConversionError(
                    f"{sdist} lacks llama.cpp's converters ({', '.join(missing)} not found "
                    f"under {_SDIST_ROOT})",
                    path=sdist,
                )
            # The "data" filter refuses again what _check_member refused, and drops modes
            # and owners that do not belong in a cache.
            archive.extractall(into, members=chosen, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ConversionError(f"cannot read {sdist}: {error}", path=sdist) from error


# -- running a converter --------------------------------------------------------------------


def _environment(converters_dir: Path, home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # An inherited path or hub setting could point the converter at another gguf or
        # at the network; the converter gets exactly the ones set below.
        if not key.startswith(("PYTHON", "HF_", "HUGGINGFACE_", "TRANSFORMERS_"))
    }
    env.update(OFFLINE_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(converters_dir / "gguf-py"), str(converters_dir)])
    # transformers may write a cache: into the work folder, the only one writable here.
    env["HF_HOME"] = str(home)
    return env


def _last_error_line(text: str) -> str:
    """The line that says why a converter failed: the last one, progress bars aside."""
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("Writing:", "INFO:")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _run_converter(
    script: str,
    args: list[str],
    *,
    what: Path,
    out: Path,
    converters: Path,
    python: str | os.PathLike[str] | None,
    log: Path | None,
) -> Path:
    """Run one converter script, writing ``out`` through a ``.partial`` file; return ``out``."""
    converters = Path(converters)
    program = converters / script
    if not program.is_file():
        raise ConversionError(
            f"converting {what}: {program} not found (not a converters folder)", path=converters
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    log = log if log is not None else out.with_name(out.name + ".log")
    interpreter = os.fspath(python) if python is not None else sys.executable
    argv = [interpreter, str(program), *args, "--outfile", str(partial)]
    home = out.parent / ".hf-home"
    with log.open("a", encoding="utf-8", errors="replace") as handle:
        start = handle.tell()
        handle.write(f"\n== {script} {what} -> {out.name}\n")
        handle.flush()
        returncode = _call(argv, handle, env=_environment(converters, home), cwd=out.parent)
    if returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        with log.open("r", encoding="utf-8", errors="replace") as handle:
            handle.seek(start)
            output = handle.read()
        reason = _last_error_line(output) if returncode != 0 else "it wrote no file"
        raise ConversionError(f"converting {what} to GGUF failed: {reason}", path=what)
    os.replace(partial, out)
    return out


def _call(argv: list[str], log: IO[str], *, env: dict[str, str], cwd: Path) -> int:
    try:
        completed = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            check=False,
        )
    except OSError as error:
        raise ConversionError(f"cannot run {argv[0]}: {error}", path=Path(argv[0])) from error
    return completed.returncode


def to_gguf(
    model_dir: Path,
    out: Path,
    *,
    converters: Path,
    outtype: str = "q8_0",
    python: str | os.PathLike[str] | None = None,
    log: Path | None = None,
) -> Path:
    """Convert a Hugging Face model folder (safetensors, config, tokenizer) to one GGUF file.

    :param model_dir: The model's folder.
    :param out: The GGUF file to write; written as ``OUT.partial`` and renamed into place.
    :param converters: A folder from :func:`converters`.
    :param outtype: ``q8_0`` (default), ``f16``, ``bf16``, ``f32`` or ``auto``.
    :param python: The interpreter that runs the converter (default: this one), which must
        have torch, transformers, safetensors, numpy and sentencepiece.
    :param log: Where the converter's output goes (appended); default ``OUT.log``.
    :returns: ``out``.
    :raises ConversionError: the converter failed (the message names the model folder and
        the converter's last error line).
    """
    model_dir = Path(model_dir)
    return _run_converter(
        "convert_hf_to_gguf.py",
        [str(model_dir), "--outtype", outtype],
        what=model_dir,
        out=out,
        converters=converters,
        python=python,
        log=log,
    )


def lora_to_gguf(
    adapter_dir: Path,
    base_dir: Path,
    out: Path,
    *,
    converters: Path,
    outtype: str = "f16",
    python: str | os.PathLike[str] | None = None,
    log: Path | None = None,
) -> Path:
    """Convert a PEFT LoRA adapter to a LoRA GGUF for llama.cpp (``--lora`` / ``lora_path``).

    :param adapter_dir: The adapter's folder (``adapter_config.json``,
        ``adapter_model.safetensors``).
    :param base_dir: The base model's Hugging Face folder: the converter reads its
        ``config.json`` (not its weights). Given always, so nothing is fetched from the Hub.
    :param out: The LoRA GGUF to write (through ``OUT.partial``).
    :param outtype: ``f16`` (default: adapters are small and llama.cpp applies them
        unquantised), ``bf16``, ``f32`` or ``q8_0``.
    :returns: ``out``.
    :raises ConversionError: see :func:`to_gguf`.
    """
    adapter_dir = Path(adapter_dir)
    return _run_converter(
        "convert_lora_to_gguf.py",
        [str(adapter_dir), "--base", str(base_dir), "--outtype", outtype],
        what=adapter_dir,
        out=out,
        converters=converters,
        python=python,
        log=log,
    )


# -- what a request serves, and the cache of converted files -------------------------------


def _top_files(folder: Path, *, suffixes: Iterable[str] | None = None) -> list[Path]:
    """The regular files at the top of ``folder`` that a converter may read.

    Hidden files and GGUF files (never read by a converter) are left out.
    """
    wanted = tuple(suffixes) if suffixes is not None else None
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix == ".gguf" or not path.is_file():
            continue
        if wanted is not None and not path.name.endswith(wanted):
            continue
        files.append(path)
    return files


def _has_hf_config(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def _has_safetensors(folder: Path) -> bool:
    return _has_hf_config(folder) and any(folder.glob("*.safetensors"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40] or "model"


class _Cache:
    """``converted.json`` in the work folder: input hashes -> output file and its sha256.

    Input hashes are remembered by (size, mtime) so that a second serve of a large model
    does not read all its weights again; outputs are hashed each time, because they are
    what the server loads.
    """

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / CONVERTED_JSON
        self.work_dir = work_dir
        self.entries: dict[str, dict[str, str]] = {}
        self.hashes: dict[str, list[object]] = {}
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == _RECORD_VERSION:
                entries, hashes = data.get("entries"), data.get("hashes")
                if isinstance(entries, dict):
                    self.entries = {
                        k: v
                        for k, v in entries.items()
                        if isinstance(v, dict) and isinstance(k, str)
                    }
                if isinstance(hashes, dict):
                    self.hashes = {k: v for k, v in hashes.items() if isinstance(v, list)}

    def file_hash(self, path: Path) -> str:
        path = path.resolve()
        stat = path.stat()
        known = self.hashes.get(str(path))
        if known is not None and len(known) == 3 and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            remembered = known[2]
            if isinstance(remembered, str):
                return remembered
        digest = _sha256(path)
        self.hashes[str(path)] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    def key(self, kind: str, outtype: str, inputs: Mapping[str, Iterable[Path]]) -> str:
        """The sha256 of what a conversion depends on: its kind, the converters and the inputs."""
        description = {
            "kind": kind,
            "outtype": outtype,
            "converters": SDIST_SHA256,
            "inputs": {
                role: {path.name: self.file_hash(path) for path in files}
                for role, files in inputs.items()
            },
        }
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()

    def lookup(self, key: str) -> Path | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        name = entry.get("output", "")
        output = self.work_dir / name
        if not name or Path(name).name != name or not output.is_file():
            return None
        if _sha256(output) != entry.get("sha256"):
            # Changed since it was converted: converted again, never served as found.
            return None
        return output

    def store(self, key: str, output: Path) -> None:
        self.entries[key] = {"output": output.name, "sha256": _sha256(output)}
        data = {"version": _RECORD_VERSION, "entries": self.entries, "hashes": self.hashes}
        staging = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        staging.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(staging, self.path)


class _Converter:
    """The conversions of one request: converters extracted on first need, results cached."""

    def __init__(
        self, request: ServeRequest, work_dir: Path, python: str | os.PathLike[str] | None
    ) -> None:
        self.request = request
        self.work_dir = work_dir
        self.python = python
        self.cache = _Cache(work_dir)
        self.log = work_dir / LOG_NAME
        self._converters: Path | None = None

    def _tools(self) -> Path:
        if self._converters is None:
            if self.request.converters is None:
                raise ConversionError(_MISSING_CONVERTERS.format(name=self.request.model))
            self._converters = converters(Path(self.request.converters), self.work_dir)
        return self._converters

    def model(self, model_dir: Path, outtype: str = "q8_0") -> Path:
        key = self.cache.key("model", outtype, {"model": _top_files(model_dir)})
        found = self.cache.lookup(key)
        if found is not None:
            return found
        out = self.work_dir / f"{_slug(model_dir.name)}-{outtype}-{key[:12]}.gguf"
        to_gguf(
            model_dir,
            out,
            converters=self._tools(),
            outtype=outtype,
            python=self.python,
            log=self.log,
        )
        self.cache.store(key, out)
        return out

    def lora(self, adapter_dir: Path, base_dir: Path, outtype: str = "f16") -> Path:
        # The LoRA converter reads the base's configuration, not its weights.
        inputs = {
            "adapter": _top_files(adapter_dir),
            "base": _top_files(base_dir, suffixes=(".json",)),
        }
        key = self.cache.key("lora", outtype, inputs)
        found = self.cache.lookup(key)
        if found is not None:
            return found
        out = self.work_dir / f"{_slug(adapter_dir.name)}-lora-{outtype}-{key[:12]}.gguf"
        lora_to_gguf(
            adapter_dir,
            base_dir,
            out,
            converters=self._tools(),
            outtype=outtype,
            python=self.python,
            log=self.log,
        )
        self.cache.store(key, out)
        return out


def _installed_gguf(model_dir: Path, gguf_file: str) -> Path:
    """The GGUF file named in the request, refused when its name leaves ``model_dir``.

    The name is checked as written, not resolved: a model folder may hold links into a
    download cache (Hugging Face snapshots do), which are the user's own files.
    """
    name = PurePosixPath(gguf_file.replace("\\", "/"))
    if (
        not name.parts
        or name.is_absolute()
        or ".." in name.parts
        or re.match(r"^[A-Za-z]:", gguf_file)
    ):
        raise ConversionError(f"{gguf_file} is not a file inside {model_dir}", path=model_dir)
    candidate = model_dir.joinpath(*name.parts)
    if not candidate.is_file():
        raise ConversionError(f"{candidate} not found", path=candidate)
    return candidate


def _folder(path: Path, role: str) -> Path:
    if not path.is_dir():
        raise ConversionError(f"the {role} {path} is not a folder", path=path)
    return path


def prepare(
    request: ServeRequest,
    work_dir: Path | None = None,
    *,
    python: str | os.PathLike[str] | None = None,
) -> Prepared:
    """Make what llama.cpp serves for ``request``: a GGUF model and maybe a LoRA GGUF.

    - An installed GGUF model (``model_dir`` + ``gguf_file``): that file, nothing converted.
    - A candidate with merged weights (``merged_dir``): those, converted to q8_0.
    - A candidate's adapter (``adapter_dir``) on a GGUF base: the base GGUF as is, and the
      adapter converted to a LoRA GGUF (the converter needs the base's ``config.json``).
    - An adapter on a safetensors base: both converted.
    - A safetensors model alone: converted.

    Conversions are cached in ``work_dir`` (``converted.json``) and logged to ``convert.log``.

    :param request: The serve request; its ``converters`` is the pinned sdist.
    :param work_dir: Where to write; default ``request.work_dir``.
    :param python: The interpreter that runs the converters (default: this one).
    :returns: ``(gguf, lora)``, ``lora`` being ``None`` without an adapter.
    :raises ConversionError: a conversion is needed and no converters were given (the
        message says how to get them), an input is missing, or a converter failed.
    """
    work = Path(work_dir) if work_dir is not None else Path(request.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    convert = _Converter(request, work, python)
    model_dir = Path(request.model_dir) if request.model_dir is not None else None

    if request.merged_dir is not None:
        return Prepared(convert.model(_folder(Path(request.merged_dir), "merged model")))

    if request.adapter_dir is not None:
        adapter = _folder(Path(request.adapter_dir), "adapter")
        if model_dir is None:
            raise ConversionError(
                f"the adapter {adapter} needs its base model's folder", path=adapter
            )
        _folder(model_dir, "base model")
        if not _has_hf_config(model_dir):
            raise ConversionError(
                f"converting the adapter {adapter} needs the base model's safetensors folder "
                f"(its config.json); {model_dir} has none",
                path=model_dir,
            )
        if request.gguf_file is not None:
            base = _installed_gguf(model_dir, request.gguf_file)
        elif _has_safetensors(model_dir):
            base = convert.model(model_dir)
        else:
            raise ConversionError(
                f"the base model {model_dir} has neither a GGUF file nor safetensors",
                path=model_dir,
            )
        return Prepared(base, convert.lora(adapter, model_dir))

    if model_dir is None:
        raise ConversionError(f"nothing to serve for {request.model}: no model folder given")
    if request.gguf_file is not None:
        return Prepared(_installed_gguf(_folder(model_dir, "model"), request.gguf_file))
    if _has_safetensors(_folder(model_dir, "model")):
        return Prepared(convert.model(model_dir))
    raise ConversionError(
        f"{model_dir} holds no GGUF file named in the request and no safetensors", path=model_dir
    )
