"""GGUF conversion with llama.cpp's own converters, from the pinned llama-cpp-python sdist.

Archives that must be refused are built here, with the hash pin passed explicitly.
Fake converter scripts (tiny Python files inside such an archive) check what a converter
run gets (its ``PYTHONPATH``, its offline environment, the ``.partial`` output, the log)
in milliseconds. The real conversion runs the sdist's converters on the 2-layer SmolLM2
folder and a PEFT adapter made here, once per session, and loads both GGUF files with the
real llama.cpp.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from modellab_serving import convert
from modellab_serving.convert import (
    CONVERTED_JSON,
    CONVERTERS_DIR,
    LOG_NAME,
    SDIST_NAME,
    ConversionError,
    Prepared,
    converters,
    prepare,
    to_gguf,
)

from modellab.workset import ServeRequest

CACHE = Path(os.environ.get("MODELLAB_TEST_CACHE") or Path("~/.cache/modellab-tests").expanduser())
SDIST = CACHE / "llama-cpp-sdist" / SDIST_NAME
SDIST_HINT = (
    "python3 -m pip download -qq --no-deps --no-binary :all: llama-cpp-python==0.3.36 "
    f"-d {CACHE / 'llama-cpp-sdist'}"
)
#: The converters need torch, transformers, safetensors, numpy and sentencepiece (the
#: workset's own environment has them). The development venv lacks sentencepiece, so a
#: small venv that sees the development venv's packages and adds sentencepiece is used.
CONVERTER_MODULES = ("torch", "transformers", "safetensors", "numpy", "sentencepiece")

ROOT = "llama_cpp_python-0.3.36/vendor/llama.cpp"

#: A stand-in for a converter script: says what it got, fails when the model folder
#: holds a ``fail`` file, otherwise writes its report to ``--outfile``.
FAKE_CONVERTER = """\
import json, os, sys
args = sys.argv[1:]
import gguf
print("converter says hello")
if os.path.exists(os.path.join(args[0], "fail")):
    print("INFO:hf-to-gguf:Loading model", flush=True)
    print("ValueError: this converter fails on purpose", file=sys.stderr)
    sys.exit(1)
out = args[args.index("--outfile") + 1]
keys = ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "DO_NOT_TRACK"]
with open(out, "w") as handle:
    env = {k: os.environ.get(k) for k in keys}
    json.dump({"gguf": gguf.__file__, "args": args, "env": env}, handle)
"""


# -- archives built here ---------------------------------------------------------------------


def _add_file(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _fake_sdist(path: Path, extra: Callable[[tarfile.TarFile], None] | None = None) -> str:
    """A small ``tar.gz`` shaped like the sdist, with fake converters; returns its sha256."""
    with tarfile.open(path, "w:gz") as archive:
        _add_file(archive, "llama_cpp_python-0.3.36/pyproject.toml", b"[project]\n")
        _add_file(archive, f"{ROOT}/convert_hf_to_gguf.py", FAKE_CONVERTER.encode())
        _add_file(archive, f"{ROOT}/convert_lora_to_gguf.py", FAKE_CONVERTER.encode())
        _add_file(archive, f"{ROOT}/convert_llama_ggml_to_gguf.py", b"raise SystemExit(9)\n")
        _add_file(archive, f"{ROOT}/conversion/__init__.py", b"")
        _add_file(archive, f"{ROOT}/gguf-py/gguf/__init__.py", b"FROM = 'the sdist'\n")
        _add_file(archive, f"{ROOT}/src/llama.cpp", b"int main() {}\n")
        if extra is not None:
            extra(archive)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dotdot(archive: tarfile.TarFile) -> None:
    _add_file(archive, f"{ROOT}/conversion/../../../../../evil", b"escaped\n")


def _absolute(archive: tarfile.TarFile) -> None:
    _add_file(archive, "/tmp/modellab-evil-absolute", b"escaped\n")


def _symlink(archive: tarfile.TarFile) -> None:
    info = tarfile.TarInfo(f"{ROOT}/gguf-py/gguf/link")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    archive.addfile(info)


def _hardlink(archive: tarfile.TarFile) -> None:
    info = tarfile.TarInfo(f"{ROOT}/conversion/hard")
    info.type = tarfile.LNKTYPE
    info.linkname = "/etc/passwd"
    archive.addfile(info)


def _device(archive: tarfile.TarFile) -> None:
    info = tarfile.TarInfo(f"{ROOT}/conversion/null")
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    archive.addfile(info)


def test_an_archive_that_is_not_the_pinned_sdist_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / SDIST_NAME
    actual = _fake_sdist(fake)
    cache = tmp_path / "cache"

    with pytest.raises(ConversionError) as caught:
        converters(fake, cache)

    message = str(caught.value)
    assert str(fake) in message
    assert actual in message
    assert convert.SDIST_SHA256 in message
    assert not (cache / CONVERTERS_DIR).exists()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (_dotdot, "'..'"),
        (_absolute, "an absolute path"),
        (_symlink, "a link"),
        (_hardlink, "a link"),
        (_device, "a device"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "device"],
)
def test_an_archive_with_an_unsafe_member_is_refused(
    tmp_path: Path, extra: Callable[[tarfile.TarFile], None], reason: str
) -> None:
    fake = tmp_path / "sdist" / SDIST_NAME
    fake.parent.mkdir()
    pin = _fake_sdist(fake, extra)
    cache = tmp_path / "deep" / "er" / "cache"

    with pytest.raises(ConversionError, match=reason):
        converters(fake, cache, expected_sha256=pin)

    # Nothing extracted, no staging folder left, nothing written beside the cache.
    assert not cache.exists() or list(cache.iterdir()) == []
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/modellab-evil-absolute").exists()


def test_only_the_converters_are_extracted_and_reused(tmp_path: Path) -> None:
    fake = tmp_path / SDIST_NAME
    pin = _fake_sdist(fake)
    cache = tmp_path / "cache"

    folder = converters(fake, cache, expected_sha256=pin)

    assert folder == cache / CONVERTERS_DIR
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert found == [
        ".sdist-sha256",
        "conversion/__init__.py",
        "convert_hf_to_gguf.py",
        "convert_lora_to_gguf.py",
        "gguf-py/gguf/__init__.py",
    ]
    assert sorted(p.name for p in cache.iterdir()) == [CONVERTERS_DIR]
    stamp = (folder / "convert_hf_to_gguf.py").stat().st_mtime_ns

    assert converters(fake, cache, expected_sha256=pin) == folder
    assert (folder / "convert_hf_to_gguf.py").stat().st_mtime_ns == stamp


def test_a_converters_folder_from_another_archive_is_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    pin_a = _fake_sdist(first)
    pin_b = _fake_sdist(
        second, lambda archive: _add_file(archive, f"{ROOT}/conversion/more.py", b"x = 1\n")
    )

    converters(first, cache, expected_sha256=pin_a)
    folder = converters(second, cache, expected_sha256=pin_b)

    assert (folder / "conversion" / "more.py").is_file()
    assert (folder / ".sdist-sha256").read_text().strip() == pin_b


@pytest.fixture
def fake_converters(tmp_path: Path) -> Path:
    fake = tmp_path / SDIST_NAME
    pin = _fake_sdist(fake)
    return converters(fake, tmp_path / "cache", expected_sha256=pin)


def test_a_converter_runs_offline_with_the_sdists_gguf_and_writes_atomically(
    tmp_path: Path,
    fake_converters: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    out = tmp_path / "work" / "model.gguf"
    log = tmp_path / "work" / LOG_NAME
    # An inherited path must not put another gguf (the dev venv has one) in front.
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    assert to_gguf(model, out, converters=fake_converters, python=sys.executable, log=log) == out

    report = json.loads(out.read_text())
    assert Path(report["gguf"]).is_relative_to(fake_converters / "gguf-py")
    assert report["args"][:3] == [str(model), "--outtype", "q8_0"]
    assert report["args"][-2:] == ["--outfile", f"{out}.partial"]
    assert report["env"] == dict.fromkeys(
        ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "DO_NOT_TRACK"], "1"
    )
    assert not out.with_name(out.name + ".partial").exists()
    assert "converter says hello" in log.read_text()
    captured = capfd.readouterr()
    assert "converter says hello" not in captured.out + captured.err


def test_a_failing_converter_names_the_folder_and_its_last_error(
    tmp_path: Path, fake_converters: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "fail").write_text("")
    out = tmp_path / "work" / "model.gguf"

    with pytest.raises(ConversionError) as caught:
        to_gguf(model, out, converters=fake_converters, python=sys.executable)

    message = str(caught.value)
    assert str(model) in message
    assert "ValueError: this converter fails on purpose" in message
    assert "\n" not in message
    assert not out.exists()
    assert not out.with_name(out.name + ".partial").exists()


# -- requests that need no conversion, or cannot get one --------------------------------------


def _request(work: Path, **fields: object) -> ServeRequest:
    return ServeRequest.model_validate(
        {"backend": "llama.cpp", "model": "cand", "port": 18650, "work_dir": work, **fields}
    )


def test_an_installed_gguf_is_served_as_is(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "m.Q4_1.gguf").write_bytes(b"GGUF")
    work = tmp_path / "work"

    assert prepare(_request(work, model_dir=model, gguf_file="m.Q4_1.gguf")) == Prepared(
        model / "m.Q4_1.gguf", None
    )
    assert not (work / CONVERTED_JSON).exists()

    with pytest.raises(ConversionError, match="not a file inside"):
        prepare(_request(work, model_dir=model, gguf_file="../model/../../etc/passwd"))


def test_conversion_without_converters_says_how_to_get_them(tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    (merged / "model.safetensors").write_bytes(b"\0" * 8)

    with pytest.raises(ConversionError) as caught:
        prepare(_request(tmp_path / "work", model_dir=tmp_path, merged_dir=merged))

    assert str(caught.value) == (
        "converting cand to GGUF needs llama.cpp's converters: pass --converters "
        "PATH/llama_cpp_python-0.3.36.tar.gz (pip download --no-deps --no-binary :all: "
        "llama-cpp-python==0.3.36)"
    )


def test_an_adapter_on_a_gguf_only_base_needs_the_base_config(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "m.gguf").write_bytes(b"GGUF")
    adapter = tmp_path / "adapter"
    adapter.mkdir()

    with pytest.raises(ConversionError, match="needs the base model's safetensors folder"):
        prepare(
            _request(tmp_path / "work", model_dir=base, gguf_file="m.gguf", adapter_dir=adapter)
        )


# -- real conversion ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def llama_cpp_sdist() -> Path:
    """The pinned llama-cpp-python sdist (its converters); skips with the download command."""
    if not SDIST.is_file():
        pytest.skip(f"{SDIST} missing: {SDIST_HINT}")
    return SDIST


def _has_modules(python: Path) -> bool:
    probe = (
        "import importlib.util, sys; "
        "sys.exit(any(importlib.util.find_spec(m) is None for m in sys.argv[1:]))"
    )
    if not python.is_file():
        return False
    return (
        subprocess.run([str(python), "-c", probe, *CONVERTER_MODULES], check=False).returncode == 0
    )


@pytest.fixture(scope="session")
def converter_python() -> Path:
    """The interpreter that runs the converters: this one (the development environment has
    every package they import, as the workset's own environment does)."""
    python = Path(sys.executable)
    if not _has_modules(python):
        pytest.skip(f"this interpreter lacks one of {', '.join(CONVERTER_MODULES)}: uv sync")
    return python


@pytest.fixture(scope="session")
def smollm2_2l() -> Path:
    """SmolLM2-135M cut to 2 layers (cached); skips when the GGUF is not installed."""
    import tiny_models

    try:
        return tiny_models.smollm2_folder(layers=2)
    except FileNotFoundError as error:
        pytest.skip(str(error))


MAKE_ADAPTER = """\
import sys
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

base, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
with torch.no_grad():
    # lora_B starts at zero (the adapter changes nothing): make it change the output.
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.normal_(0.0, 0.5)
model.save_pretrained(out)
"""


@pytest.fixture(scope="session")
def peft_adapter(tmp_path_factory: pytest.TempPathFactory, smollm2_2l: Path) -> Path:
    """A real PEFT LoRA adapter (r=4 on q_proj and v_proj) on the 2-layer SmolLM2."""
    if importlib.util.find_spec("peft") is None:
        pytest.skip("peft is not installed in this environment")
    out = tmp_path_factory.mktemp("adapter") / "smollm2-lora"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", MAKE_ADAPTER, str(smollm2_2l), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@dataclass(frozen=True)
class Served:
    request: ServeRequest
    prepared: Prepared
    seconds: float


@pytest.fixture(scope="session")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    llama_cpp_sdist: Path,
    converter_python: Path,
    smollm2_2l: Path,
    peft_adapter: Path,
) -> Served:
    """An adapter on a safetensors base, converted once per session: (base GGUF, LoRA GGUF)."""
    request = _request(
        tmp_path_factory.mktemp("serve-work"),
        model_dir=smollm2_2l,
        adapter_dir=peft_adapter,
        converters=llama_cpp_sdist,
    )
    start = time.monotonic()
    prepared = prepare(request, python=converter_python)
    return Served(request, prepared, time.monotonic() - start)


GENERATE = """\
import json, sys
from llama_cpp import Llama
options = dict(model_path=sys.argv[1], n_ctx=128, n_threads=1, seed=0, verbose=False)
options["logits_all"] = True  # for the top logprobs
if len(sys.argv) > 2:
    options["lora_path"] = sys.argv[2]
llm = Llama(**options)
out = llm.create_completion("The capital of France is", max_tokens=4, temperature=0.0, logprobs=3)
choice = out["choices"][0]
top = {token: float(value) for token, value in choice["logprobs"]["top_logprobs"][0].items()}
print(json.dumps({"text": choice["text"], "tokens": len(choice["logprobs"]["tokens"]), "top": top}))
"""


def _generate(*files: Path) -> dict[str, object]:
    from evals import llama_server

    if not llama_server.installed():
        pytest.skip("llama-cpp-python is not installed: run `python3 tests/evals/llama_server.py`")
    done = subprocess.run(
        [str(llama_server._python()), "-c", GENERATE, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_a_candidate_adapter_converts_and_loads_in_llama_cpp(served: Served) -> None:
    gguf, lora = served.prepared
    assert lora is not None
    assert gguf.read_bytes()[:4] == b"GGUF"
    assert lora.read_bytes()[:4] == b"GGUF"
    assert gguf.parent == lora.parent == served.request.work_dir

    plain = _generate(gguf)
    adapted = _generate(gguf, lora)

    assert plain["tokens"] == adapted["tokens"] == 4
    # The adapter's non-zero lora_B changes the next-token distribution.
    assert plain["top"] != adapted["top"]


def test_a_second_prepare_converts_nothing(served: Served, converter_python: Path) -> None:
    log = served.request.work_dir / LOG_NAME
    size = log.stat().st_size
    stamps = [path.stat().st_mtime_ns for path in served.prepared if path is not None]

    again = prepare(served.request, python=converter_python)

    assert again == served.prepared
    assert log.stat().st_size == size
    assert [path.stat().st_mtime_ns for path in again if path is not None] == stamps


def test_an_adapter_on_a_gguf_base_with_its_config_reuses_the_base_gguf(
    tmp_path: Path, served: Served, smollm2_2l: Path, converter_python: Path
) -> None:
    # An installed model: a GGUF with the Hugging Face configuration files beside it.
    base = tmp_path / "installed"
    base.mkdir()
    for config in smollm2_2l.glob("*.json"):
        shutil.copy2(config, base / config.name)
    os.link(served.prepared.gguf, base / "model.gguf")
    log = served.request.work_dir / LOG_NAME
    size = log.stat().st_size
    request = served.request.model_copy(update={"model_dir": base, "gguf_file": "model.gguf"})

    gguf, lora = prepare(request, python=converter_python)

    assert gguf == base / "model.gguf"
    # Same adapter, same base configuration: the LoRA GGUF comes from the cache.
    assert lora == served.prepared.lora
    assert log.stat().st_size == size


def test_a_tampered_cached_gguf_is_converted_again(
    tmp_path: Path, served: Served, converter_python: Path
) -> None:
    # A copy of the session's work folder, so the other tests keep theirs.
    work = tmp_path / "work"
    shutil.copytree(served.request.work_dir, work)
    lora = served.prepared.lora
    assert lora is not None
    tampered = work / lora.name
    original = tampered.read_bytes()
    tampered.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    log = work / LOG_NAME
    size = log.stat().st_size

    gguf, redone = prepare(served.request, work, python=converter_python)

    assert gguf == work / served.prepared.gguf.name
    assert redone == tampered
    assert log.stat().st_size > size
    record = json.loads((work / CONVERTED_JSON).read_text())
    digest = hashlib.sha256(redone.read_bytes()).hexdigest()
    assert digest in {entry["sha256"] for entry in record["entries"].values()}
    assert redone.read_bytes() != original[:-1] + bytes([original[-1] ^ 0xFF])


def test_merged_weights_win_over_the_adapter_and_share_the_cache(
    served: Served, smollm2_2l: Path, converter_python: Path
) -> None:
    # A candidate trained with --merge: a whole model folder, which is served alone (its
    # adapter, if the request names one too, is already in the weights). The same files
    # as the session's base: the cache hands back the GGUF converted for it.
    log = served.request.work_dir / LOG_NAME
    size = log.stat().st_size
    request = served.request.model_copy(update={"merged_dir": smollm2_2l})

    gguf, lora = prepare(request, python=converter_python)

    assert lora is None
    assert gguf == served.prepared.gguf
    assert log.stat().st_size == size
    assert _generate(gguf)["tokens"] == 4
