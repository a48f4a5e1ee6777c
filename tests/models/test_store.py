"""The store's Python API: open, verify, register training results, and atomic installs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from modellab.errors import UsageError
from modellab.models import (
    InstalledModel,
    ModelFileChangedError,
    ModelNotFoundError,
    commit_install,
    list_installed,
    models_dir,
    open_installed,
    register_candidate,
    remove_installed,
    stage_install,
)
from modellab.settings import Settings
from modellab.store import Catalog
from models.conftest import write_tiny_gguf, write_tiny_hf


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    with Catalog(settings.catalog_path) as opened:
        yield opened


def _install(
    catalog: Catalog, settings: Settings, folder: Path, name: str | None = None
) -> InstalledModel:
    with stage_install(settings, str(folder), name=name) as staged:
        return commit_install(
            catalog, settings, staged, license_accepted=staged.passport.license_id
        )


def _entries(settings: Settings) -> list[str]:
    folder = models_dir(settings)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_open_installed_and_verify(catalog: Catalog, settings: Settings, tiny_hf: Path) -> None:
    _install(catalog, settings, tiny_hf)
    model = open_installed(catalog, settings, "tiny-llama")
    assert model.kind == "base" and model.parent is None
    assert model.path == models_dir(settings) / "tiny-llama"
    assert model.weights == model.path
    assert set(model.files) == set(model.passport.provenance.files)
    model.verify()  # unchanged: no error
    with pytest.raises(ModelNotFoundError):
        open_installed(catalog, settings, "missing")


@pytest.mark.parametrize("change", ["edit", "delete", "add", "same-size"])
def test_verify_names_the_changed_file(
    catalog: Catalog, settings: Settings, tiny_hf: Path, change: str
) -> None:
    model = _install(catalog, settings, tiny_hf)
    weights = model.path / "model.safetensors"
    if change == "edit":
        with weights.open("ab") as stream:
            stream.write(b"\0")
        expected = "model.safetensors: sha256"
    elif change == "same-size":
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF  # one bit of one weight: same size, same mtime would not tell
        weights.write_bytes(bytes(data))
        expected = "model.safetensors: sha256"
    elif change == "delete":
        (model.path / "tokenizer.json").unlink()
        expected = "tokenizer.json: the file is missing"
    else:
        (model.path / "extra.safetensors").write_bytes(b"x")
        expected = "extra.safetensors: a file was added after install"
    with pytest.raises(ModelFileChangedError) as info:
        model.verify()
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_a_failure_mid_copy_leaves_nothing(
    catalog: Catalog, settings: Settings, tiny_hf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[Path] = []
    real_copy = shutil.copyfile

    def copy_then_fail(source: Path, target: Path) -> object:
        if copied:
            raise OSError(28, "No space left on device", str(target))
        copied.append(target)
        return real_copy(source, target)

    monkeypatch.setattr("modellab.models._sources.shutil.copyfile", copy_then_fail)
    with pytest.raises(OSError, match="No space left"):
        _install(catalog, settings, tiny_hf)
    assert copied  # it did fail mid-copy
    assert _entries(settings) == []
    assert list_installed(catalog) == []


def test_a_failure_at_the_rename_rolls_the_row_back(
    catalog: Catalog, settings: Settings, tiny_hf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: object, target: object) -> None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr("modellab.models._store.os.rename", refuse)
    with pytest.raises(PermissionError):
        _install(catalog, settings, tiny_hf)
    monkeypatch.undo()
    assert list_installed(catalog) == []
    assert _entries(settings) == []


def test_leftovers_of_a_crash_are_cleaned_and_replaced(
    catalog: Catalog, settings: Settings, tiny_hf: Path
) -> None:
    root = models_dir(settings)
    # A staging folder of a process that no longer exists, and a folder with no row (a crash
    # between the rename and the commit).
    dead = root / ".staging-999999999-abc"
    dead.mkdir(parents=True)
    (dead / "config.json").write_text("{}")
    orphan = root / "tiny-llama"
    orphan.mkdir()
    (orphan / "half.bin").write_bytes(b"x")
    model = _install(catalog, settings, tiny_hf)
    assert _entries(settings) == ["tiny-llama"]
    assert not (model.path / "half.bin").exists()
    model.verify()


def test_remove_deletes_only_the_labs_folder(
    catalog: Catalog, settings: Settings, tiny_hf: Path, tmp_path: Path
) -> None:
    _install(catalog, settings, tiny_hf)
    # A row whose path was pointed elsewhere (a damaged or hostile catalog) deletes nothing there.
    outside = tmp_path / "precious"
    outside.mkdir()
    with catalog.transaction() as db:
        db.execute("UPDATE models SET path = ? WHERE name = 'tiny-llama'", (str(outside),))
    remove_installed(catalog, settings, "tiny-llama")
    assert outside.is_dir()
    assert list_installed(catalog) == []


def _adapter(folder: Path) -> Path:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    numpy = pytest.importorskip("numpy")
    folder.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": 4, "base_model_name_or_path": "/somewhere/tiny-llama"}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    safetensors_numpy.save_file(
        {
            "base_model.model.layers.0.q_proj.lora_A.weight": numpy.zeros((4, 8), numpy.float32),
            "base_model.model.layers.0.q_proj.lora_B.weight": numpy.zeros((8, 4), numpy.float32),
        },
        str(folder / "adapter_model.safetensors"),
    )
    (folder / "README.md").write_text("---\nlicense: other\n---\nTrained card.\n")
    return folder


def test_register_candidate_inherits_the_parents_consent(
    catalog: Catalog, settings: Settings, tiny_hf: Path, tmp_path: Path
) -> None:
    _install(catalog, settings, tiny_hf)
    adapter = _adapter(tmp_path / "run" / "adapter")
    candidate = register_candidate(
        catalog,
        settings,
        name="tiny-llama-sft-1",
        folder=adapter,
        parent="tiny-llama",
        train_run="run-123",
        extra_passport={"method": "sft-lora", "metrics": {"loss": 1.5}},
    )
    assert candidate.kind == "candidate"
    assert candidate.parent == "tiny-llama" and candidate.train_run == "run-123"
    assert candidate.license_accepted == "apache-2.0"
    passport = candidate.passport
    assert passport.adapter and passport.format == "hf"
    assert passport.license == "apache-2.0"  # the parent's, not the generated card's
    assert passport.parameter_count == 64
    assert passport.base_model == "/somewhere/tiny-llama"
    assert passport.extra == {"method": "sft-lora", "metrics": {"loss": 1.5}}
    assert passport.provenance.source_kind == "training"
    assert passport.provenance.details == {"train_run": "run-123", "parent": "tiny-llama"}
    candidate.verify()
    shutil.rmtree(adapter)  # the store keeps its own copy
    open_installed(catalog, settings, "tiny-llama-sft-1").verify()
    assert [m.name for m in list_installed(catalog)] == ["tiny-llama", "tiny-llama-sft-1"]
    with pytest.raises(ModelNotFoundError):
        register_candidate(
            catalog, settings, name="x", folder=tmp_path, parent="nope", train_run="r"
        )
    with pytest.raises(UsageError, match="no such folder or file"):
        register_candidate(
            catalog,
            settings,
            name="y",
            folder=tmp_path / "gone",
            parent="tiny-llama",
            train_run="r",
        )
    with pytest.raises(UsageError, match="already installed"):
        register_candidate(
            catalog,
            settings,
            name="tiny-llama",
            folder=write_tiny_hf(tmp_path / "merged"),
            parent="tiny-llama",
            train_run="r",
        )
    assert not [p for p in _entries(settings) if p.startswith(".")]


def test_register_a_gguf_candidate(
    catalog: Catalog, settings: Settings, tiny_hf: Path, tmp_path: Path
) -> None:
    _install(catalog, settings, tiny_hf)
    gguf_file = write_tiny_gguf(tmp_path / "export" / "merged.gguf", license_id="other")
    candidate = register_candidate(
        catalog, settings, name="tiny-q", folder=gguf_file, parent="tiny-llama", train_run="r2"
    )
    assert candidate.format == "gguf"
    assert candidate.weights == candidate.path / "merged.gguf"
    assert candidate.passport.license == "apache-2.0"
    assert candidate.passport.layers == 3
    candidate.verify()
