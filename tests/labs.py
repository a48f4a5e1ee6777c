"""Labs for the tests that train and serve: real worksets, a real model, a real dataset.

:func:`build_lab` installs the unsloth workset (and the serving one) through the real flow,
its dependencies from the local wheelhouses (``tests/wheelhouse.py``), SmolLM2 cut to two
layers as a base model, and a dataset built from the bundled sample sessions through
import, export, review and approve. Installing a workset's stack takes about a minute, so
the tests build one lab per module or session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Lab:
    """Where the module's lab lives."""

    user_home: Path
    export: Path
    dataset: Path
    model: str


def build_lab(root: Path, *, serving: bool = False, install_model: bool = True) -> Lab:
    """A lab under ``root``: the unsloth workset (and with ``serving``, the serving one)
    installed through the real flow, SmolLM2-2l installed (unless ``install_model`` is
    false), a dataset built from the bundled sample sessions. Skips (with the command that
    fixes it) when a cache is missing."""
    import tiny_models
    import wheelhouse

    from modellab.settings import Settings
    from modellab.testing import WorksetRegistry, cli
    from modellab.testing._flows import approved_export, install

    house = wheelhouse.ready()
    if house is None:
        pytest.skip("the unsloth workset's wheelhouse is not built: python3 tests/wheelhouse.py")
    more = []
    if serving:
        extra = wheelhouse.serving_ready()
        if extra is None:
            pytest.skip(
                "the serving workset's wheelhouse is not built: python3 tests/wheelhouse.py "
                "--serving (after python3 tests/evals/llama_server.py)"
            )
        more.append(extra)
    try:
        folder = tiny_models.smollm2_folder(layers=2)
    except FileNotFoundError as exc:
        pytest.skip(f"SmolLM2 is not available: {exc}")
    user_home = root / "user"
    with pytest.MonkeyPatch.context() as patch:
        from modellab.testing._env import isolate_home

        isolate_home(patch, user_home)
        settings = Settings.from_env()
        for key, value in wheelhouse.uv_environment(house, *more).items():
            patch.setenv(key, value)
        patch.setenv("UV_CACHE_DIR", str(root / "uv-cache"))
        registry = WorksetRegistry.create(root / "registry")
        release = registry.publish(REPO / "worksets" / "unsloth")
        install(settings, release.name, release.manifest_sha256, registry=registry.name)
        if serving:
            release = registry.publish(REPO / "worksets" / "serving")
            install(settings, release.name, release.manifest_sha256, registry=registry.name)
        # The bundled sample sessions (the README's demo data), and retried calls for DPO.
        samples = sorted((REPO / "examples" / "codewhale-sessions").iterdir())
        files = [*samples, *sorted(_retried_reads(root / "retries").glob("*.json"))]
        export = approved_export(settings, root / "work", files)
        dataset = root / "dataset"
        cli(
            "dataset",
            "build",
            str(export.path),
            "--out",
            str(dataset),
            "--format",
            "trl-sft",
            "--format",
            "preference",
            "--from",
            "all",
        )
        if not install_model:
            return Lab(user_home, export.path, dataset, "smollm2-2l")
        cli(
            "models",
            "install",
            str(folder),
            "--name",
            "smollm2-2l",
            "--accept-license",
            "apache-2.0",
        )
    return Lab(user_home, export.path, dataset, "smollm2-2l")


def _retried_reads(folder: Path) -> Path:
    """Sessions where a failed call is retried and succeeds: the preference pairs DPO uses
    (the bundled samples have none)."""
    from modellab.testing.codewhale import assistant, result, saved_session, user, write_session

    for i, path in enumerate(["src/app.py", "tests/test_cli.py", "README.md", "setup.cfg"]):
        messages = [
            user(f"Open {path} and tell me what it does."),
            assistant("Reading it.", (f"c{i}a", "read", {"path": path, "limit": 10})),
            result(f"c{i}a", f"error: no such file {path}.orig", error=True),
            assistant("Retrying.", (f"c{i}b", "read", {"path": path})),
            result(f"c{i}b", "print('hello')\n"),
            assistant(f"{path} prints hello."),
        ]
        write_session(
            folder,
            saved_session(
                messages, session_id=f"00000000-0000-4000-8000-00000000000{i}", title=path
            ),
        )
    return folder
