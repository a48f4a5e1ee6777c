"""Reports: the terminal summary, and the HTML file as a real browser renders it."""

from __future__ import annotations

import random
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modellab.evals._report import render_html, render_terminal, write_html
from modellab.evals._stats import PairedCase, compare

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<script>document.title='owned'</script>"
HOSTILE_TOO = '"><img src=x onerror="document.title=1">'


def sample():
    """A comparison with a clear regression on ``edit``, a one-session slice, hostile values."""
    rng = random.Random(0)
    cases = []
    for s in range(36):
        repo = ["acme/widgets", "acme/gadgets", "tools/cli", HOSTILE][s % 4]
        for i in range(rng.randint(3, 9)):
            tool = rng.choice(["bash", "bash", "read", "edit"])
            base = rng.random() < 0.55
            cand = (rng.random() < 0.15) if tool == "edit" else (rng.random() < 0.8)
            cases.append(
                PairedCase(
                    case_id=f"session-{s}:{i:04d}",
                    session_id=f"session-{s}",
                    candidate_score=float(cand),
                    baseline_score=float(base),
                    candidate_passed=cand,
                    baseline_passed=base,
                    slices={"tool": tool, "repo": repo},
                )
            )
    cases.append(
        PairedCase(
            case_id=HOSTILE_TOO,
            session_id="lonely",
            candidate_score=0.5,
            baseline_score=0.25,
            candidate_passed=False,
            baseline_passed=False,
            slices={"tool": "web_fetch", "repo": "solo/one"},
        )
    )
    return compare(cases, resamples=2000, seed=1).to_json()


# The shape the eval command passes: run details side by side under candidate and baseline.
META = {
    "comparison_id": "cmp-20260101-0001",
    "suite_id": "3f9a" * 16,
    "candidate": {
        "run_id": "run-b7",
        "label": "qwen-ft-v3",
        "model": "qwen3-8b-ft",
        "endpoint": "http://127.0.0.1:8000/v1",
    },
    "baseline": {"run_id": "run-a1", "label": "qwen-base", "model": "qwen3-8b"},
    "started_at": "2026-01-01T10:00:00Z",
}


@pytest.fixture(scope="module")
def comparison():
    return sample()


# ---- terminal --------------------------------------------------------------------------------


def test_terminal_summary_has_every_number(comparison):
    text = render_terminal(comparison, "qwen-ft-v3", "qwen-base", color=False)
    assert "\x1b" not in text
    for needle in ("qwen-ft-v3", "qwen-base", f"{comparison['n']} in 37 sessions", "95% CI"):
        assert needle in text
    mcnemar = comparison["mcnemar"]
    assert f"b={mcnemar['b']}" in text
    assert f"c={mcnemar['c']}" in text
    assert f"Detectable  {comparison['mde']:.3f}" in text
    lines = text.splitlines()
    edit = next(line for line in lines if line.startswith("edit "))
    assert edit.rstrip().endswith("WORSE")
    assert next(line for line in lines if line.startswith("web_fetch")).endswith("too small")
    # Slices are listed largest first.
    tool_rows = lines[lines.index("By tool") + 3 : lines.index("By tool") + 7]
    sizes = [int(row.split()[1]) for row in tool_rows]
    assert sizes == sorted(sizes, reverse=True)


def test_terminal_colour_marks_regressions_red(comparison):
    text = render_terminal(comparison, "a", "b", color=True)
    edit = next(line for line in text.splitlines() if "edit " in line)
    assert edit.startswith("\x1b[31m")
    assert edit.endswith("\x1b[0m")


def test_terminal_neutralises_control_characters(comparison):
    hostile = {
        **comparison,
        "slices": {"tool": {"\x1b[2Jwiped": comparison["slices"]["tool"]["bash"]}},
    }
    text = render_terminal(hostile, "x\x1b]0;title\x07", "b", color=False)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\x1b[2Jwiped" in text  # shown escaped, as everywhere in the CLI
    assert "x\\x1b]0;title\\x07" in text


# ---- HTML as text ----------------------------------------------------------------------------


def test_html_escapes_user_data(comparison):
    page = render_html(comparison, META)
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;document.title=&#x27;owned&#x27;&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x" in page


def test_html_loads_nothing_from_outside(comparison):
    page = render_html(comparison, META)
    # The only URL is the candidate's endpoint, printed as text in the run table.
    assert page.count("://") == 1
    assert "href=" not in page
    assert "url(" not in page
    assert "default-src 'none'" in page
    assert "<link" not in page


def test_write_html_replaces_the_file_atomically(comparison, tmp_path):
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    write_html(target, comparison, META)
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_reports_of_identical_models_without_slices():
    cases = [
        PairedCase(f"c{i}", f"s{i % 3}", i % 2, i % 2, bool(i % 2), bool(i % 2)) for i in range(9)
    ]
    data = compare(cases, resamples=200).to_json()
    assert "no clear difference" in render_terminal(data, "a", "b", color=True)
    page = render_html(data, {})
    assert "No clear difference between candidate and baseline" in page
    assert page.count('class="mark ') == 1  # the overall row only
    assert ">+0.01<" in page  # the axis still has round ticks around zero


# ---- HTML in a real browser ------------------------------------------------------------------


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180, check=True
    )


@pytest.fixture(scope="module")
def rendered(comparison, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    page = folder / "report.html"
    write_html(page, comparison, META)
    return page


class Elements(HTMLParser):
    """Every start tag with its attributes, and the document's title."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stack: list[str] = []
        self.title = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self.stack[-1:] == ["title"] and "head" in self.stack:  # not the SVG's tooltips
            self.title += data


def test_browser_dom_has_tables_and_one_mark_per_slice(comparison, rendered, tmp_path):
    dom = run_chromium(tmp_path / "profile", "--dump-dom", rendered.as_uri()).stdout
    parsed = Elements()
    parsed.feed(dom)
    tags = [tag for tag, _ in parsed.tags]
    # Nothing the user data carried became an element, and its script did not run.
    assert "script" not in tags
    assert "img" not in tags
    assert parsed.title == "qwen-ft-v3 vs qwen-base: Model Lab eval"
    # A table per slice key, the run table, the per-session and the per-case table.
    assert tags.count("table") == len(comparison["slices"]) + 3
    assert tags.count("svg") == 1
    marks = [a for t, a in parsed.tags if t == "g" and "mark" in a.get("class", "").split()]
    slices = [(k, v) for k, values in comparison["slices"].items() for v in values]
    assert sum("slice" in a["class"].split() for a in marks) == len(slices)
    assert sum("overall" in a["class"].split() for a in marks) == 1
    assert {a["data-slice"] for a in marks} >= {f"{k}={v}" for k, v in slices}
    edit = next(a for a in marks if a["data-slice"] == "tool=edit")
    assert "worse" in edit["class"].split()
    assert "small" in next(a for a in marks if a["data-slice"] == "tool=web_fetch")["class"]
    rows = [a for t, a in parsed.tags if t == "tr"]
    assert len(rows) >= comparison["n"]
    assert any(t == "details" for t in tags)


def test_browser_screenshot_shows_the_report(rendered, tmp_path):
    from matplotlib.image import imread

    png = tmp_path / "report.png"
    run_chromium(
        tmp_path / "profile", f"--screenshot={png}", "--window-size=1200,1600", rendered.as_uri()
    )
    pixels = imread(png)[:, :, :3]
    assert pixels.shape[:2] == (1600, 1200)
    flat = pixels.reshape(-1, 3)
    background = (flat > 0.97).all(axis=1)
    assert 0.03 < 1 - background.mean() < 0.6  # ink, but not a solid block
    red = (flat[:, 0] > 0.7) & (flat[:, 1] < 0.3) & (flat[:, 2] < 0.3)
    green = (flat[:, 1] > 0.4) & (flat[:, 0] < 0.2) & (flat[:, 2] < 0.3)
    assert red.sum() > 50  # the regressing slice's interval, drawn in red
    assert green.sum() > 50  # the overall difference, above zero
