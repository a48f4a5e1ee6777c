"""Token counts from a real ``tokenizer.json`` (a tiny BPE trained here), or an estimate."""

from __future__ import annotations

import json
import statistics

from dataset_build.builders import build, mixed, rows
from factories import exported
from modellab.cli import main
from modellab.datasets._rows import conversation_text
from modellab.datasets._stats import TokenCounter, token_stats


def _tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"])
    sample = [
        "Running the tests. pytest -q 4 passed in 0.2s",
        "Fix the add function in app.py; the cache lookup is slow",
        "system: You are CodeWhale. user: assistant: tool: call edit path",
    ] * 20
    tokenizer.train_from_iterator(sample, trainer)
    tokenizer.save(str(path))
    return Tokenizer.from_file(str(path))


def test_a_tokenizer_json_counts_tokens(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    reference = _tokenizer(tmp_path / "tokenizer.json")
    out = tmp_path / "ds"
    flags = [
        "--from",
        "all",
        "--test-fraction",
        "0",
        "--tokenizer",
        str(tmp_path / "tokenizer.json"),
    ]
    manifest = build(export, out, capsys, *flags)
    tokens = manifest["token_stats"]
    assert tokens["counted"] == "tokenizer" and len(tokens["tokenizer_sha256"]) == 64
    assert tokens["method"].startswith("tokenizer: tokenizer.json")
    lengths = sorted(
        len(reference.encode(conversation_text(r), add_special_tokens=False).ids)
        for r in rows(out / "trl-sft" / "train.jsonl")
    )
    train = tokens["train"]
    assert train["total"] == sum(lengths) and train["rows"] == 3
    assert (train["min"], train["max"]) == (lengths[0], lengths[-1])
    assert train["median"] == statistics.median(lengths)
    estimate = sorted(
        -(-len(conversation_text(r)) // 4) for r in rows(out / "trl-sft" / "train.jsonl")
    )
    assert lengths != estimate  # a real count, not the character estimate
    assert "These are estimates" not in (out / "README.md").read_text(encoding="utf-8")


def test_without_a_tokenizer_lengths_are_an_estimate(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    manifest = build(export, tmp_path / "ds", capsys, "--from", "all", "--test-fraction", "0")
    assert manifest["token_stats"]["counted"] == "estimate"
    assert manifest["token_stats"]["tokenizer_sha256"] is None
    assert "These are estimates" in (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")


def test_a_bad_tokenizer_file_is_named(tmp_path, capsys):
    export = exported(tmp_path, mixed())
    bad = tmp_path / "tokenizer.json"
    bad.write_text(json.dumps({"not": "a tokenizer"}), encoding="utf-8")
    capsys.readouterr()
    code = main(
        ["dataset", "build", str(export), "--out", str(tmp_path / "ds"), "--tokenizer", str(bad)]
    )
    assert code == 2
    assert f"--tokenizer {bad}: not a readable tokenizer.json" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_percentiles():
    stats = token_stats(list(range(1, 101)), "m")
    assert (stats["min"], stats["median"], stats["p95"], stats["max"]) == (1, 50.5, 95, 100)
    assert token_stats([], "m") == {"method": "m", "rows": 0, "total": 0}
    assert TokenCounter().count("abcde") == 2
