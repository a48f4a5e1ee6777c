"""The loop, as one story: capture -> train -> serve -> eval -> promote, on the bundled
sample sessions and SmolLM2-135M.

``python3 dev.py demo`` runs these steps after its import, export, review and approve
(``tests/serving/test_loop.py`` runs the same list). Each step is the command a user would
type, what it does, which exit codes are the expected outcome, and what comes next.

The model you have today is SmolLM2-135M-Instruct (its GGUF, served by llama.cpp). The
candidate is SmolLM2 cut to two layers (so that it trains in seconds on a CPU) with a LoRA
adapter trained for a few steps on the approved sessions: the gate is right to refuse it,
and the demo shows that. It then lowers the bar on purpose, only to show what a promotion
writes and how ``promote --rollback`` undoes it; never do that with your own models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CURRENT", "Step", "codewhale_config", "steps"]

#: The installed name of the model CodeWhale uses "today" in the demo.
CURRENT = "smollm2"


@dataclass(frozen=True)
class Step:
    """One command of the loop."""

    title: str
    argv: list[str]
    #: The exit codes that are the expected outcome (13: the gate refused, rightly).
    expected: tuple[int, ...] = (0,)
    then: str = ""


def steps(*, export: Path, suite: Path, dataset: Path, gguf: Path, base: Path) -> list[Step]:
    """The loop's commands, from an approved ``export`` and its eval ``suite`` onwards.

    ``gguf``: SmolLM2's GGUF (the model in use today); ``base``: the safetensors folder the
    candidate is trained from.
    """
    return [
        Step(
            "build a training dataset from every approved session (failures too: a few sample "
            "sessions are all there is)",
            [
                "dataset",
                "build",
                str(export),
                "--out",
                str(dataset),
                "--format",
                "trl-sft",
                "--from",
                "all",
            ],
            then="install the models: the one you use today, and a base to train",
        ),
        Step(
            "install the model CodeWhale uses today (SmolLM2-135M, GGUF)",
            ["models", "install", str(gguf), "--name", CURRENT, "--accept-license", "apache-2.0"],
        ),
        Step(
            "install the base to fine-tune (SmolLM2 cut to 2 layers, so it trains in seconds)",
            [
                "models",
                "install",
                str(base),
                "--name",
                "smollm2-2l",
                "--accept-license",
                "apache-2.0",
            ],
            then="train a LoRA adapter on the dataset",
        ),
        Step(
            "fine-tune a LoRA adapter on your sessions (TRL + PEFT on the CPU)",
            [
                "train",
                str(dataset),
                "--base",
                "smollm2-2l",
                "--backend",
                "trl",
                "--max-steps",
                "8",
            ],
            then="serve the model you use today, the baseline of the comparison",
        ),
        Step(
            "serve today's model with llama.cpp on 127.0.0.1 (CodeWhale points at it)",
            ["serve", CURRENT, "--backend", "llama.cpp"],
            then="compare the candidate with it on your own tasks",
        ),
        Step(
            "serve the candidate for the run, answer the suite with it and with today's "
            "model, and compare",
            [
                "eval",
                "run",
                str(suite),
                "--model",
                "candidate:latest",
                "--against",
                "current",
            ],
            then="promote the candidate only if it is better",
        ),
        Step(
            "promote the candidate if it clears the bar (a 2-layer cut does not: refused)",
            ["promote", "--if-better"],
            expected=(0, 13),
            then="the mechanics only: lower the bar on purpose, then roll back",
        ),
        Step(
            "ONLY TO SHOW THE MECHANICS: promote with the bar lowered (never on your models)",
            ["promote", "--if-better", "--margin", "-1", "--min-cases", "1"],
            then="undo it",
        ),
        Step(
            "roll back: CodeWhale's config is restored byte for byte",
            ["promote", "--rollback"],
            then="stop the servers",
        ),
        Step("stop every server", ["serve", "stop", "--all"]),
    ]


def codewhale_config(path: Path, base_url: str, model: str, context_window: int) -> None:
    """Write the CodeWhale config of a user whose model today is ``model`` at ``base_url``
    (the demo's stand-in for the config a CodeWhale user already has)."""
    name = f"modellab-{CURRENT}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'provider = "{name}"\n'
        f'default_text_model = "{model}"\n\n'
        f"[providers.{name}]\n"
        'kind = "openai-compatible"\n'
        f'base_url = "{base_url}"\n'
        f'model = "{model}"\n'
        f"context_window = {context_window}\n"
        'auth_mode = "none"\n',
        encoding="utf-8",
    )
