"""Hooks of ``venv`` worksets, answered in the workset's own environment.

A ``venv`` workset (unsloth, mergekit: stacks whose pinned versions clash with the core's)
is never imported into the core's process. For each hook it implements whose arguments and
result are plain data, the core registers a stand-in plugin here. Calling the hook runs
``python -m modellab.worksets._host --hook HOOK NAME REQUEST RESULT`` with the workset's
venv interpreter: the request (the hook's arguments, paths as strings) goes in as a JSON
file, the result comes back as one, so nothing the workset prints can be mistaken for it.

A workset whose manifest declares no network egress answers in a child with no network,
enforced by the OS where it can be (:mod:`modellab.worksets._sandbox`); where it cannot,
the call still runs and the audit log records that the boundary was not enforced.

Hooks whose arguments are live objects (``modellab_register_importers``, ``modellab_eval``'s
``register``) cannot cross a process boundary this way and are not offered to ``venv``
worksets; the manifest check says so at install time.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.errors import ModellabError
from modellab.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from modellab.settings import Settings

__all__ = ["PROXIED_HOOKS", "proxy_plugin"]

#: The hooks a ``venv`` workset may implement: arguments (besides ``settings``) and whether
#: each is a path; and how the result comes back.
PROXIED_HOOKS: dict[str, tuple[tuple[tuple[str, bool], ...], str]] = {
    "modellab_run_command": ((("command", False), ("argv", False)), "int"),
    "modellab_train": ((("job", False), ("dataset_dir", True)), "json"),
    "modellab_finetune_remote": ((("job", False), ("export_dir", True)), "json"),
    "modellab_serve": ((("model", False),), "json"),
    "modellab_export": ((("export_dir", True),), "paths"),
    "modellab_redaction_rules": ((), "path"),
}


class VenvHookError(ModellabError):
    """A ``venv`` workset's hook failed in its own environment."""


def call_in_venv(
    python: Path,
    workset: str,
    hook: str,
    arguments: dict[str, Any],
    settings: Settings,
    *,
    no_network: bool,
) -> Any:
    """Run ``hook`` of ``workset`` under ``python``; return its (decoded) result.

    ``no_network``: the workset declares no egress, so it runs cut off from the network.
    """
    import os

    from modellab.worksets._sandbox import confine, record_unconfined

    with tempfile.TemporaryDirectory(prefix="modellab-hook-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps(arguments))
        command = [str(python), "-m", "modellab.worksets._host", "--hook", hook, workset]
        command, unenforced = confine(
            [*command, str(request), str(result)], declares_no_network=no_network
        )
        if unenforced:
            record_unconfined(settings, workset, hook, unenforced)
        # The host rebuilds Settings from the environment: hand it the ones in use here.
        env = {**os.environ, "MODELLAB_HOME": str(settings.home)}
        done = subprocess.run(command, env=env, check=False)
        if done.returncode != 0 or not result.is_file():
            raise VenvHookError(
                f"workset {workset}: {hook} failed in its environment (exit {done.returncode})",
                hint="its own error is printed above",
            )
        return json.loads(result.read_text())["result"]


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "paths":
        return [Path(item) for item in value]
    if kind == "path":
        return Path(value)
    return value


class _Hooks:
    """One method per hook in :data:`PROXIED_HOOKS`, each running it in the venv.

    pluggy reads an implementation's parameter names from its code, so each hook is written
    out with the spec's own names; :func:`proxy_plugin` keeps only the ones implemented.
    """

    def __init__(self, workset: str, python: Path, no_network: bool) -> None:
        self.workset = workset
        self.python = python
        self.no_network = no_network

    def _call(self, hook: str, settings: Settings | None, **arguments: Any) -> Any:
        parameters, kind = PROXIED_HOOKS[hook]
        paths = {name for name, is_path in parameters if is_path}
        sent = {k: str(v) if k in paths else v for k, v in arguments.items()}
        if settings is None:
            from modellab.settings import Settings

            settings = Settings.from_env()
        answer = call_in_venv(
            self.python, self.workset, hook, sent, settings, no_network=self.no_network
        )
        return _decode(kind, answer)

    @hookimpl
    def modellab_run_command(self, command: str, argv: list[str], settings: Settings) -> Any:
        return self._call("modellab_run_command", settings, command=command, argv=argv)

    @hookimpl
    def modellab_train(self, job: dict[str, Any], dataset_dir: Path, settings: Settings) -> Any:
        return self._call("modellab_train", settings, job=job, dataset_dir=dataset_dir)

    @hookimpl
    def modellab_finetune_remote(
        self, job: dict[str, Any], export_dir: Path, settings: Settings
    ) -> Any:
        return self._call("modellab_finetune_remote", settings, job=job, export_dir=export_dir)

    @hookimpl
    def modellab_serve(self, model: dict[str, Any], settings: Settings) -> Any:
        return self._call("modellab_serve", settings, model=model)

    @hookimpl
    def modellab_export(self, export_dir: Path, settings: Settings) -> Any:
        return self._call("modellab_export", settings, export_dir=export_dir)

    @hookimpl
    def modellab_redaction_rules(self) -> Any:
        return self._call("modellab_redaction_rules", None)


def proxy_plugin(workset: str, python: Path, hooks: list[str], *, no_network: bool) -> object:
    """A plugin whose methods answer ``hooks`` by running them in ``workset``'s venv.

    ``no_network``: the workset's manifest declares no network egress.
    """
    namespace = {hook: getattr(_Hooks, hook) for hook in hooks if hook in PROXIED_HOOKS}
    cls = type(f"VenvWorkset_{workset.replace('-', '_')}", (_Hooks,), {})
    # Hooks not implemented must not be answered: hide the base class's methods for them.
    for hook in PROXIED_HOOKS:
        if hook not in namespace:
            setattr(cls, hook, None)
    return cls(workset, python, no_network)
