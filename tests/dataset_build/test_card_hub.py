"""The dataset card against the Hub's own reader, and the core never importing the Hub SDK.

``huggingface_hub`` is a dev dependency only: these tests read our cards with its
``DatasetCard``/``DatasetCardData`` so a card the Hub could not read fails here, while the
core writes the card with its own emitter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_build.builders import build as _build
from dataset_build.builders import mixed
from factories import exported
from modellab.datasets._card import render_card

hub = pytest.importorskip("huggingface_hub")
yaml = pytest.importorskip("yaml")

HOSTILE_NAMES = [
    "fmt: with colon",
    "# hash",
    "yes",
    "1.5",
    "line\nbreak\n---\ninjected: true",
    'quote " and \\ back',
    "unicode 日本語 🙂 \u2028 \ufeff",
]


def _split(card: str) -> tuple[dict, str]:
    assert card.startswith("---\n")
    front, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def _manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str], *formats: str) -> dict:
    export = exported(tmp_path, mixed())
    args = ["--from", "all", "--seed", "5"]
    for name in formats:
        args += ["--format", name]
    _build(export, tmp_path / "ds", capsys, *args)
    return json.loads((tmp_path / "ds" / "manifest.json").read_text(encoding="utf-8"))


def _hostile(manifest: dict) -> dict:
    """The manifest with its formats renamed and their files moved to hostile names."""
    entries = list(manifest["formats"].values())
    formats = {}
    for name, entry in zip(HOSTILE_NAMES, entries * len(HOSTILE_NAMES), strict=False):
        files = {split: f"{name}/{split}: #.jsonl" for split in entry["files"]}
        formats[name] = {**entry, "files": files}
    return {**manifest, "formats": formats, "primary_format": HOSTILE_NAMES[0]}


def test_the_hub_reads_our_card_as_we_wrote_it(tmp_path, capsys):
    manifest = _manifest(tmp_path, capsys, "trl-sft,preference,unpaired,nemo,llama-factory")
    card_text = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    meta, body = _split(card_text)
    card = hub.DatasetCard(card_text)
    assert card.data.to_dict() == meta
    assert card.text == body
    first = meta["configs"][0]
    assert (first["config_name"], first["default"]) == ("trl-sft", True)
    files = {f["split"]: f["path"] for f in first["data_files"]}
    assert files == {"train": "trl-sft/train.jsonl", "test": "trl-sft/test.jsonl"}
    # The same metadata the Hub's own classes write, key for key and in their order.
    expected = hub.DatasetCardData(
        pretty_name="Model Lab agent-trajectory dataset",
        license="other",
        license_name="see-licence-notes",
        task_categories=["text-generation"],
        size_categories=["n<1K"],
        tags=["modellab", "agent-trajectories", "tool-calling", *meta["tags"][3:]],
        configs=meta["configs"],
    )
    assert sorted(meta["tags"][3:]) == sorted(manifest["formats"])
    assert list(meta) == list(expected.to_dict())
    assert card_text.startswith(f"---\n{expected.to_yaml()}\n---\n")


def test_hostile_names_cannot_break_out_of_the_front_matter(tmp_path, capsys):
    manifest = _hostile(_manifest(tmp_path, capsys))
    card_text = render_card(manifest)
    meta, body = _split(card_text)
    assert set(meta) == {
        "license",
        "size_categories",
        "task_categories",
        "pretty_name",
        "license_name",
        "tags",
        "configs",
    }
    assert meta["tags"][3:] == HOSTILE_NAMES
    assert [c["config_name"] for c in meta["configs"]] == HOSTILE_NAMES
    assert meta["configs"][0]["default"] is True
    files = {f["split"]: f["path"] for f in meta["configs"][1]["data_files"]}
    assert files["train"] == f"{HOSTILE_NAMES[1]}/train: #.jsonl"
    card = hub.DatasetCard(card_text)
    assert card.data.to_dict() == meta
    assert card.text == body
    assert body.startswith("\n# Model Lab agent-trajectory dataset\n")


def test_neither_import_nor_dataset_build_loads_the_hub_sdk(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    out = tmp_path / "ds"
    command = ["dataset", "build", str(export), "--out", str(out), "--from", "all"]
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "modellab", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert (out / "README.md").read_text(encoding="utf-8").startswith("---\nlicense: other\n")
    imported = {line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()}
    assert "modellab.datasets._card" in imported  # the card was written in this process
    assert not {m for m in imported if m.split(".")[0] in ("huggingface_hub", "yaml")}
    check = (
        "import sys, modellab, modellab.cli, modellab.datasets\n"
        "import modellab.datasets._card, modellab.datasets._build\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('huggingface_hub', 'yaml'))\n"
        "assert not bad, bad\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
