"""``modellab promote --if-better`` end to end: real catalog, real config files, real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import tomllib

import pytest

from modellab.cli import main
from modellab.cli._exit import PROMOTION_ERROR, PROMOTION_REFUSED
from promote.helpers import CANDIDATE_MODEL, CANDIDATE_URL, GOOD_STATS, stats_with

USER_CONFIG = """\
# hand written
provider = "deepseek"  # my default
reasoning_effort = "high"

[providers.ollama]
base_url = "http://localhost:11434/v1"
model = "qwen3:8b"
"""
PROVIDER = "modellab-qwen-qwen2-5-coder-7b-ft"


def run(capsys, *argv):
    code = main(["promote", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_promote_passes_writes_config_and_records_provenance(lab, capsys, tmp_path):
    lab.config.parent.mkdir(parents=True)
    lab.config.write_text(USER_CONFIG, encoding="utf-8")
    os.chmod(lab.config, 0o640)
    before = lab.config.read_bytes()
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "manifest.json").write_text('{"counts": {"train": {"rows": 12}}}')
    cid = lab.add_comparison()

    code, out, err = run(
        capsys, "--if-better", "--context-window", "32768", "--dataset", str(dataset)
    )

    assert code == 0, err
    assert "  ok    ci lower bound 0.050 is above margin 0.000" in out
    assert f"Promoted {CANDIDATE_MODEL} as provider '{PROVIDER}'" in out
    config = tomllib.loads(lab.config.read_text(encoding="utf-8"))
    assert config["provider"] == PROVIDER
    assert config["default_text_model"] == CANDIDATE_MODEL
    assert config["providers"][PROVIDER] == {
        "kind": "openai-compatible",
        "base_url": CANDIDATE_URL,
        "model": CANDIDATE_MODEL,
        "context_window": 32768,
        "auth_mode": "none",
    }
    assert config["providers"]["ollama"]["model"] == "qwen3:8b"
    assert lab.config.stat().st_mode & 0o777 == 0o640  # the user's permissions stay
    backups = sorted(lab.config.parent.glob("config.toml.modellab-backup-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert sorted(p.name for p in lab.config.parent.iterdir()) == ["config.toml", backups[0].name]

    [row] = lab.rows()
    _, action, config_path, backup_path, provider, model, base_url, provenance = row
    assert (action, provider, model, base_url) == (
        "promote",
        PROVIDER,
        CANDIDATE_MODEL,
        CANDIDATE_URL,
    )
    assert config_path == str(lab.config.resolve()) and backup_path == str(backups[0])
    record = json.loads(provenance)
    assert record["comparison"] == cid
    assert record["eval_runs"] == {"candidate": "run-cand-1", "baseline": "run-base-1"}
    assert record["suite"]["id"] == "01" + "a" * 62
    assert record["suite"]["export_dir"] == "/exports/e1"
    assert record["suite"]["export_manifest_sha256"] == "ee" * 32
    assert record["suite"]["redaction_report_sha256"] == "ff" * 32
    manifest = (dataset / "manifest.json").read_bytes()
    assert record["dataset"]["manifest_sha256"] == sha(manifest)
    assert record["dataset"]["manifest"] == {"counts": {"train": {"rows": 12}}}
    assert record["statistics"] == GOOD_STATS
    assert record["thresholds"]["margin"] == 0.0 and record["thresholds"]["min_cases"] == 30
    assert record["thresholds"]["slice_tolerance"] == 0.05
    assert record["verdict"]["passed"] is True
    assert record["config"]["sha256_before"] == sha(before)
    assert record["config"]["sha256_after"] == sha(lab.config.read_bytes())
    assert record["provider_table"]["context_window"] == 32768


def test_refusal_lists_every_failed_rule_and_changes_nothing(lab, capsys):
    lab.config.parent.mkdir(parents=True)
    lab.config.write_text(USER_CONFIG, encoding="utf-8")
    lab.add_comparison(stats_with(n=12, ci_low=-0.012, bash=(40, -0.081)))

    code, out, err = run(capsys, "--if-better", "--context-window", "32768")

    assert code == PROMOTION_REFUSED == 13
    assert "(3 rules failed)" in err
    assert "n = 12 cases is below the minimum 30" in err
    assert "ci lower bound -0.012 is not above margin 0.000" in err
    assert "slice tool=bash: difference -0.081 is below -0.050 (n=40)" in err
    assert "FAIL  n = 12 cases" in out and "Traceback" not in err
    assert lab.config.read_text(encoding="utf-8") == USER_CONFIG
    assert list(lab.config.parent.iterdir()) == [lab.config]
    assert lab.rows() == []


@pytest.mark.parametrize(
    ("stats", "flags", "message"),
    [
        (stats_with(n=12), [], "n = 12 cases is below the minimum 30"),
        (GOOD_STATS, ["--min-cases", "100"], "n = 60 cases is below the minimum 100"),
        (GOOD_STATS, ["--margin", "0.1"], "ci lower bound 0.050 is not above margin 0.100"),
        (stats_with(bash=(40, -0.081)), [], "slice tool=bash: difference -0.081 is below -0.050"),
        (GOOD_STATS, ["--watch-slice", "repo"], "slice repo=alpha: difference -0.200"),
        (GOOD_STATS, ["--slice-tolerance", "0.01", "--watch-slice", "tool:edit"], None),
    ],
)
def test_each_rule_refuses_on_its_own(lab, capsys, stats, flags, message):
    lab.add_comparison(stats)
    code, _, err = run(capsys, "--if-better", "--context-window", "4096", *flags)
    if message is None:  # edit's +0.02 is above -0.01: this one passes
        assert code == 0, err
        return
    assert code == PROMOTION_REFUSED
    assert "(1 rule failed)" in err and message in err
    assert not lab.config.exists()


def test_json_verdict(lab, capsys):
    lab.add_comparison(stats_with(ci_low=-0.012))
    code, out, _ = run(capsys, "--if-better", "--context-window", "4096", "--json")
    assert code == PROMOTION_REFUSED
    report = json.loads(out)
    assert report["passed"] is False and report["promotion"] is None
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [c["rule"] for c in failed] == ["ci_lower_bound"]
    assert failed[0]["values"] == {"ci_low": -0.012, "ci_high": 0.25, "margin": 0.0}
    assert report["thresholds"]["watch"] is None


def test_json_success(lab, capsys):
    lab.add_comparison()
    code, out, _ = run(capsys, "--if-better", "--context-window", "4096", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["passed"] is True
    assert report["promotion"]["id"] == 1 and report["promotion"]["backup_path"] is None
    assert report["provider_name"] == PROVIDER


def test_creating_the_config_from_nothing(lab, capsys):
    lab.add_comparison()
    code, out, _ = run(capsys, "--if-better", "--context-window", "4096")
    assert code == 0
    assert "backup: none (there was no config before)" in out
    assert tomllib.loads(lab.config.read_text())["provider"] == PROVIDER
    [row] = lab.rows()
    assert row[3] is None
    assert json.loads(row[7])["config"]["sha256_before"] is None


def test_dry_run_shows_the_diff_and_writes_nothing(lab, capsys):
    lab.config.parent.mkdir(parents=True)
    lab.config.write_text(USER_CONFIG, encoding="utf-8")
    lab.add_comparison()
    code, out, _ = run(capsys, "--if-better", "--context-window", "4096", "--dry-run")
    assert code == 0
    assert '-provider = "deepseek"  # my default' in out
    assert f'+provider = "{PROVIDER}"  # my default' in out
    assert f"+[providers.{PROVIDER}]" in out and "+context_window = 4096" in out
    assert "Dry run: the gate passed; nothing was written." in out
    assert lab.config.read_text(encoding="utf-8") == USER_CONFIG
    assert list(lab.config.parent.iterdir()) == [lab.config]
    assert lab.rows() == []


def test_dry_run_of_a_refusal_still_shows_the_diff_and_exits_with_the_refusal(lab, capsys):
    lab.add_comparison(stats_with(n=5))
    code, out, _ = run(capsys, "--if-better", "--context-window", "4096", "--dry-run")
    assert code == PROMOTION_REFUSED
    assert "--- /dev/null" in out and f'+provider = "{PROVIDER}"' in out
    assert not lab.config.exists()


def test_context_window_is_never_guessed(lab, capsys):
    lab.add_comparison()
    code, _, err = run(capsys, "--if-better")
    assert code == 2
    assert f"the context window of {CANDIDATE_MODEL!r} at {CANDIDATE_URL} is not known" in err
    assert "--context-window" in err and not lab.config.exists()


def test_context_window_known_from_a_table_serving_the_same_model(lab, capsys):
    lab.config.parent.mkdir(parents=True)
    lab.config.write_text(
        f'[providers.vllm]\nbase_url = "{CANDIDATE_URL}"\nmodel = "{CANDIDATE_MODEL}"\n'
        "context_window = 16384\n",
        encoding="utf-8",
    )
    lab.add_comparison()
    assert run(capsys, "--if-better", "--provider-name", "mine")[0] == 0
    assert tomllib.loads(lab.config.read_text())["providers"]["mine"]["context_window"] == 16384


def test_bad_input_is_a_message_not_a_traceback(lab, capsys):
    code, _, err = run(capsys, "--if-better", "--context-window", "1")
    assert code == 2 and "there is no eval comparison in the catalog" in err

    lab.add_comparison()
    code, _, err = run(capsys, "--if-better", "--comparison", "nope", "--context-window", "1")
    assert code == 2 and "no eval comparison matches 'nope'" in err

    lab.config.parent.mkdir(parents=True)
    lab.config.write_text('provider = "x"\n[tui\n', encoding="utf-8")
    code, _, err = run(capsys, "--if-better", "--context-window", "4096")
    assert code == PROMOTION_ERROR == 14
    assert f"{lab.config.resolve()}:2: not valid TOML" in err

    code, _, err = run(capsys, "--if-better", "--config", str(lab.root), "--context-window", "9")
    assert code == PROMOTION_ERROR and "cannot read CodeWhale's config" in err

    code, _, err = run(capsys, "--if-better", "--force", "--context-window", "9")
    assert code == 2 and "the gate cannot be overridden" in err
    assert "Traceback" not in err


def test_a_recorded_candidate_cannot_be_promoted(lab, capsys):
    lab.add_comparison(endpoint=None)
    code, _, err = run(capsys, "--if-better", "--context-window", "4096")
    assert code == 2 and "has no endpoint" in err


def test_remote_candidate_needs_a_key_variable(lab, capsys):
    lab.add_comparison(endpoint="https://gpu.example.org/v1")
    code, _, err = run(capsys, "--if-better", "--context-window", "4096")
    assert code == 2 and "--api-key-env" in err
    code, _, _ = run(capsys, "--if-better", "--context-window", "4096", "--api-key-env", "FT_KEY")
    assert code == 0
    table = tomllib.loads(lab.config.read_text())["providers"][PROVIDER]
    assert table["api_key_env"] == "FT_KEY" and "auth_mode" not in table


def test_codewhale_config_path_variable_is_honoured(lab, capsys, tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "cw.toml"
    monkeypatch.setenv("CODEWHALE_CONFIG_PATH", str(target))
    lab.add_comparison()
    assert run(capsys, "--if-better", "--context-window", "4096")[0] == 0
    assert target.is_file() and not lab.config.exists()


def test_a_legacy_config_is_not_hidden(isolated_env, lab, capsys, monkeypatch):
    monkeypatch.delenv("CODEWHALE_HOME")
    legacy = isolated_env / ".deepseek" / "config.toml"
    legacy.parent.mkdir()
    legacy.write_text('provider = "deepseek"\n', encoding="utf-8")
    lab.add_comparison()
    code, _, err = run(capsys, "--if-better", "--context-window", "4096")
    assert code == PROMOTION_ERROR
    assert f"CodeWhale reads {legacy} instead" in err and f"--config {legacy}" in err
    assert not (isolated_env / ".codewhale" / "config.toml").exists()


def test_a_symlinked_config_stays_a_symlink(lab, capsys, tmp_path):
    real = tmp_path / "dotfiles" / "codewhale.toml"
    real.parent.mkdir()
    real.write_text(USER_CONFIG, encoding="utf-8")
    lab.config.parent.mkdir(parents=True)
    lab.config.symlink_to(real)
    lab.add_comparison()
    assert run(capsys, "--if-better", "--context-window", "4096")[0] == 0
    assert lab.config.is_symlink()
    assert tomllib.loads(real.read_text())["provider"] == PROVIDER


@pytest.fixture
def file_size_limit():
    """Set RLIMIT_FSIZE for this process (writes past it fail with EFBIG), then restore it."""
    saved_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    saved_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill

    def limit(size):
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, saved_limit[1]))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, saved_limit)
    signal.signal(signal.SIGXFSZ, saved_handler)


def test_an_interrupted_write_leaves_the_old_config_intact(lab, capsys, file_size_limit):
    lab.config.parent.mkdir(parents=True)
    lab.config.write_text(USER_CONFIG, encoding="utf-8")
    lab.add_comparison()
    # The backup (same size as the config) fits; the new, longer config does not, so the
    # operating system fails the write part-way through, as a full disk would. An open
    # connection keeps SQLite's WAL index in place, so the catalog needs no file to grow.
    with lab.catalog():
        file_size_limit(len(USER_CONFIG) + 10)
        code, _, err = run(capsys, "--if-better", "--context-window", "4096")
        file_size_limit(resource.RLIM_INFINITY)

    assert code == PROMOTION_ERROR
    assert "cannot write (File too large); the config was left as it was" in err
    assert lab.config.read_text(encoding="utf-8") == USER_CONFIG
    # Neither the temporary file nor this attempt's backup is left, and nothing is recorded.
    assert list(lab.config.parent.iterdir()) == [lab.config]
    assert lab.rows() == []
