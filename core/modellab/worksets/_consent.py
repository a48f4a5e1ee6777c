"""Showing a manifest and taking consent to it.

Consent is to one exact manifest (its sha256) from one exact signer. On a terminal the user
types ``yes``; scripts pass ``--accept-manifest SHA256``, the hash the install printed, so a
blanket "yes to everything" can never accept a manifest nobody saw.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from modellab._internal.term import shown
from modellab.errors import ConsentError

if TYPE_CHECKING:
    from collections.abc import Callable

    from modellab.worksets._manifest import WorksetManifest

__all__ = ["ask_consent", "render_manifest"]


def render_manifest(manifest: WorksetManifest) -> str:
    """The manifest's facts, one per line, as the user should read them before consenting.

    Every value is shown escaped (:func:`~modellab._internal.term.shown`), one field at a
    time: the manifest was checked to be printable text when it was loaded, and even a
    manifest that somehow was not could not move the cursor, break a line or fake one.
    """
    ident, privacy, needs = manifest.workset, manifest.privacy, manifest.requirements

    def listed(values: list[str], separator: str = ", ") -> str:
        return separator.join(shown(value) for value in values) or "none"

    leaves = [f"{flow.what} (on '{flow.command}')" for flow in privacy.data_leaves_machine]
    egress = [f"{e.host} (on {', '.join(e.commands)})" for e in privacy.network_egress]
    # A command's declared outputs are where it may write, beside its own data folder.
    commands = [
        f"{c.name} (writes the path given to {', '.join(c.outputs)})" if c.outputs else c.name
        for c in manifest.commands
    ]
    reads = (
        "READS your catalog: your raw, unredacted sessions (only ever run with no network)"
        if privacy.reads_catalog
        else "none (cannot read your catalog)"
    )
    lines = [
        f"  workset         {shown(ident.name)} {shown(ident.version)}: {shown(ident.summary)}",
        f"  publisher       {shown(ident.publisher)}",
        f"  license         {shown(ident.license)}",
        f"  telemetry       {shown(privacy.telemetry)}",
        f"  network         {listed(egress, '; ')}{_server_note(manifest.hooks.implements)}",
        f"  data leaving    {listed(leaves, '; ')}",
        f"  python deps     {listed(needs.python)}",
        f"  gpu             {shown(needs.gpu)}",
        f"  isolation       {shown(needs.isolation)}{_venv_note(needs.isolation, needs.python)}",
        f"  hooks           {listed(manifest.hooks.implements)}",
        f"  commands        {listed(commands)}",
        f"  raw sessions    {reads}",
    ]
    return "\n".join(lines)


def _server_note(hooks: list[str]) -> str:
    """What a workset that registers model servers may do on the network: its servers are
    started by Model Lab (``modellab serve``) and confined to listening on one port."""
    if "modellab_register_servers" not in hooks:
        return ""
    return (
        " (its model servers, started by 'modellab serve', listen on one port of 127.0.0.1 "
        "unless you pass --host, and connect nowhere)"
    )


def _venv_note(isolation: str, python: list[str]) -> str:
    """What a ``venv`` install fetches besides the signed wheel (see ``_venv_deps``)."""
    from modellab.worksets._venv_deps import dependency_lines

    if isolation != "venv" or not dependency_lines(python):
        return ""
    return (
        " (its python deps are installed into its own environment by uv, from your "
        "package index, at the core's versions where the core has them)"
    )


def ask_consent(
    manifest: WorksetManifest,
    manifest_sha256: str,
    signer: str,
    *,
    accept_manifest: str | None,
    ask: Callable[[str], str] | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Show the manifest and get consent, or raise :class:`ConsentError`.

    :param accept_manifest: the sha256 a script accepts; it must match exactly.
    :param ask: reads one answer (``input`` on a terminal); ``None`` when there is none.
    :param say: where the manifest is shown (stderr when stdout carries ``--json``).
    """
    say(f"Workset {shown(manifest.name)} {shown(manifest.version)}, signed by {shown(signer)}:")
    say(render_manifest(manifest))
    # What this system will not enforce is part of what the user consents to: said here,
    # before the question, not only after the install.
    from modellab.worksets._sandbox import install_notes

    for note in install_notes(manifest):
        say(f"  NOT ENFORCED    {shown(note)}")
    say(f"  manifest sha256 {manifest_sha256}")
    if accept_manifest is not None:
        if accept_manifest.lower() != manifest_sha256:
            raise ConsentError(
                f"--accept-manifest {accept_manifest} does not match this manifest "
                f"({manifest_sha256}); nothing was installed",
                hint="read the manifest above, then pass its sha256",
            )
        say("Consent given with --accept-manifest (the sha256 matches).")
        return
    if ask is None:
        if not sys.stdin.isatty():
            raise ConsentError(
                "consent needed, and there is no terminal to ask on; nothing was installed",
                hint=f"after reading the manifest, pass --accept-manifest {manifest_sha256}",
            )
        ask = input
    try:
        answer = ask("Type 'yes' to install and enable it: ").strip()
    except EOFError:
        answer = ""
    if answer != "yes":
        raise ConsentError("consent not given; nothing was installed")
