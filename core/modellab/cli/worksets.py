"""``modellab worksets``: list, inspect, verify, enable, disable, remove and audit worksets;
check, scaffold and run (``dev``) a workset's source folder.

None of these import workset code into the core's process (``backends`` asks each workset
in a child of its own): they read the catalog, entry-point metadata and the
manifests shipped in installed packages. That is what lets a user disable or remove a
workset whose code crashes on import.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from modellab._internal.term import shown
from modellab.cli._common import emit_json, settings_from_args

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.store import Catalog
    from modellab.worksets import Found, InstallRecord, WorksetState

__all__ = ["HANDLERS", "cmd_workset_command", "core_commands"]


def core_commands() -> set[str]:
    """Top-level command names a workset may never take."""
    from modellab.cli._app import CORE_COMMANDS

    return set(CORE_COMMANDS)


def _status(
    state: WorksetState, record: InstallRecord, *, full: bool = False
) -> tuple[str, Found | None, str | None]:
    from modellab.worksets._loader import TAMPERED_PROBLEM, check

    found, problem = check(state, record, full=full)
    if found is None:
        if problem is not None and problem.startswith(TAMPERED_PROBLEM):
            return "tampered", None, problem
        needs_consent = problem is not None and "consent" in problem
        return ("needs consent" if needs_consent else "broken"), None, problem
    return ("enabled" if record.enabled else "installed"), found, None


def _rows(settings: Settings, catalog: Catalog) -> list[dict[str, Any]]:
    from modellab.worksets import WorksetState, find_in_core

    state = WorksetState(catalog)
    rows: list[dict[str, Any]] = []
    for record in state.installs():
        status, found, problem = _status(state, record)
        manifest = found.manifest if found else None
        rows.append(
            {
                "name": record.name,
                "version": record.version,
                "status": status,
                "isolation": record.isolation,
                "trust": _describe_signer(record.signer),
                "registry": record.registry,
                "summary": manifest.workset.summary if manifest else "",
                "problem": problem,
            }
        )
    recorded = {row["name"] for row in rows}
    for name, found in sorted(find_in_core().items()):
        if name in recorded:
            continue
        rows.append(
            {
                "name": name,
                "version": found.version,
                "status": "broken" if found.problem else "not installed by Model Lab",
                "isolation": "shared",
                "trust": "unverified (installed outside Model Lab; never loaded)",
                "registry": None,
                "summary": found.manifest.workset.summary if found.manifest else "",
                "problem": found.problem,
            }
        )
    return rows


def _available(
    settings: Settings, catalog: Catalog, installed: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """What each trusted registry offers: newest installable release per workset."""
    from modellab.errors import RegistryError
    from modellab.worksets import WorksetState

    rows: list[dict[str, Any]] = []
    for record in WorksetState(catalog).registries():
        source = _registry_source(settings, catalog, record.name)
        source.client.refresh()
        index = source.client.index()
        for name in index.names():
            try:
                release = index.find(name)
            except RegistryError as exc:  # every version yanked or revoked
                rows.append(_offer(name, "-", "unavailable", record.name, None, exc.message))
                continue
            mine = installed.get(name)
            if mine is not None:
                if mine["version"] != release.version:
                    mine["problem"] = f"{release.version} available from {record.name}"
                continue
            signer = release.signer.model_dump(mode="json")
            rows.append(_offer(name, release.version, "available", record.name, signer, None))
    return rows + _official_rows(installed, {row["name"] for row in rows})


def _official_rows(installed: dict[str, dict[str, Any]], offered: set[str]) -> list[dict[str, Any]]:
    """The shipped official index's worksets that nothing installed or trusted covers."""
    from modellab.registry._official import OFFICIAL_REGISTRY, official_offers

    rows = []
    for offer in official_offers():
        release = offer.release
        # A user's trusted registries take precedence: their row is the one to install from.
        if release.name in installed or release.name in offered:
            continue
        row = _offer(
            release.name,
            release.version,
            "official, not installed",
            OFFICIAL_REGISTRY,
            release.signer.model_dump(mode="json"),
            None,
        )
        rows.append(
            {**row, "isolation": release.isolation, "summary": offer.manifest.workset.summary}
        )
    return rows


def _offer(
    name: str,
    version: str,
    status: str,
    registry: str,
    signer: dict[str, Any] | None,
    problem: str | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "status": status,
        "isolation": "",
        "trust": _describe_signer(signer) if signer else "",
        "registry": registry,
        "summary": "",
        "problem": problem,
    }


def _describe_signer(signer: dict[str, Any]) -> str:
    if signer.get("kind") == "pinned-key":
        return f"pinned key {str(signer.get('key_id', ''))[:16]}"
    if signer.get("kind") == "pep740":
        return f"PyPI provenance {signer.get('repository', '')} {signer.get('workflow', '')}"
    if signer.get("kind") == "keyless":
        workflow = signer.get("workflow") or ""
        return f"keyless {signer.get('repository', '')} {workflow.rsplit('/', 1)[-1]}".strip()
    return "unknown"


def cmd_list(args: argparse.Namespace) -> int:
    """Installed worksets with version, status and trust."""
    from modellab._internal.term import render_table
    from modellab.store import Catalog
    from modellab.worksets._install import install_lock, recover_interrupted

    settings = settings_from_args(args)
    with install_lock(settings), Catalog(settings.catalog_path) as catalog:
        for repaired in recover_interrupted(settings, catalog):
            print(f"modellab: {shown(repaired, lines=True)}", file=sys.stderr)
        rows = _rows(settings, catalog)
        if args.available:
            rows += _available(settings, catalog, {row["name"]: row for row in rows})
    if args.json:
        emit_json({"worksets": rows})
        return 0
    if not rows:
        print("No worksets installed. See what is offered: 'modellab worksets list --available'.")
        return 0
    table: list[tuple[Any, ...]] = [
        (r["name"], r["version"], r["status"], r["isolation"], r["trust"], r["problem"] or "")
        for r in rows
    ]
    headers: tuple[str, ...] = ("name", "version", "status", "isolation", "trust", "problem")
    if args.available:  # choosing what to install: say what each one is for
        headers = (*headers, "summary")
        table = [(*line, r["summary"]) for line, r in zip(table, rows, strict=True)]
    print(render_table(headers, table, max_width=60))
    return 0


def _record(catalog: Catalog, name: str) -> InstallRecord:
    from modellab.errors import UsageError
    from modellab.worksets import WorksetState

    record = WorksetState(catalog).install(name)
    if record is None:
        raise UsageError(f"workset {name!r} is not installed", hint="see 'modellab worksets list'")
    return record


def _offered(settings: Settings, catalog: Catalog, name: str) -> dict[str, Any] | None:
    """A trusted registry's newest release of ``name``, with its manifest (no code fetched)."""
    import tempfile

    from modellab.errors import RegistryError
    from modellab.worksets import WorksetState, load_manifest

    for record in WorksetState(catalog).registries():
        source = _registry_source(settings, catalog, record.name)
        source.client.refresh()
        index = source.client.index()
        if name not in index.names():
            continue
        # Listed but with nothing installable (yanked, revoked): say why, here, rather
        # than "not offered", which would send the user back to the list that shows it.
        release = index.find(name)
        with tempfile.TemporaryDirectory() as scratch:
            path = source.client.fetch(release.manifest, Path(scratch))
            manifest, digest = load_manifest(path.read_bytes(), release.manifest)
        if digest != release.manifest_sha256:
            raise RegistryError(f"{release.manifest}: not the manifest the index pins")
        signer = release.signer.model_dump(mode="json")
        return {
            "name": name,
            "version": release.version,
            "status": "available",
            "problem": None,
            "signer": signer,
            "trust": _describe_signer(signer),
            "registry": record.name,
            "artifact_sha256": release.sha256,
            "manifest_sha256": digest,
            "location": None,
            "manifest": manifest,
        }
    return None


def _official_info(name: str) -> dict[str, Any] | None:
    """``name`` as the shipped official index describes it (display only: nothing fetched)."""
    from modellab.registry._official import OFFICIAL_REGISTRY, official_offer

    offer = official_offer(name)
    if offer is None:
        return None
    release = offer.release
    signer = release.signer.model_dump(mode="json")
    return {
        "name": name,
        "version": release.version,
        "status": "official, not installed",
        "problem": "no signed release is published yet; see 'modellab worksets install "
        f"{name}' for how to install it from a local registry",
        "signer": signer,
        "trust": f"{_describe_signer(signer)} (expected signer; nothing signed yet)",
        "registry": f"{OFFICIAL_REGISTRY} (index shipped with Model Lab)",
        "artifact_sha256": release.sha256,
        "manifest_sha256": release.manifest_sha256,
        "location": None,
        "manifest": offer.manifest,
    }


def cmd_info(args: argparse.Namespace) -> int:
    """The full manifest, the signer and the state of one workset, installed or offered."""
    from modellab.errors import UsageError
    from modellab.store import Catalog
    from modellab.worksets import WorksetState

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        record = WorksetState(catalog).install(args.name)
        if record is None:
            info = _offered(settings, catalog, args.name) or _official_info(args.name)
            if info is None:
                from modellab.registry._official import official_offers

                names = ", ".join(o.release.name for o in official_offers()) or "none"
                raise UsageError(
                    f"workset {args.name!r} is neither installed nor offered by a trusted "
                    f"registry, and not official (official worksets: {names})",
                    hint="see 'modellab worksets list --available'",
                )
        else:
            status, found, problem = _status(WorksetState(catalog), record)
            info = {
                "name": record.name,
                "version": record.version,
                "status": status,
                "problem": problem,
                "signer": record.signer,
                "trust": _describe_signer(record.signer),
                "registry": record.registry,
                "artifact_sha256": record.artifact_sha256,
                "manifest_sha256": record.manifest_sha256,
                "location": record.location,
                "manifest": found.manifest if found else None,
            }
    parsed = info["manifest"]
    if args.json:
        emit_json({**info, "manifest": parsed.model_dump(mode="json") if parsed else None})
        return 0
    problem = info["problem"]
    # Names, versions, problems, paths and manifest strings come from outside: shown escaped.
    print(
        shown(f"{info['name']} {info['version']}: {info['status']}")
        + (f" ({shown(problem, lines=True)})" if problem else "")
    )
    print(f"  signed by       {shown(info['trust'])}")
    print(f"  registry        {shown(info['registry'])}")
    print(f"  wheel sha256    {shown(info['artifact_sha256'])}")
    print(f"  manifest sha256 {shown(info['manifest_sha256'])}")
    if info["location"]:
        print(f"  installed in    {shown(info['location'])}")
    if parsed is not None:
        from modellab.worksets._consent import render_manifest

        print(shown(render_manifest(parsed), lines=True))
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    """Enable or disable a workset's hooks (enable re-checks consent and the manifest)."""
    from modellab.errors import ConsentError
    from modellab.store import Catalog
    from modellab.worksets import WorksetState
    from modellab.worksets._loader import refresh_command_index

    settings = settings_from_args(args)
    enable = args.worksets_command == "enable"
    with Catalog(settings.catalog_path) as catalog:
        record = _record(catalog, args.name)
        state = WorksetState(catalog)
        if enable:
            status, found, problem = _status(state, record)
            if status in {"broken", "needs consent", "tampered"}:
                raise ConsentError(
                    f"workset {record.name} cannot be enabled: {problem}",
                    hint=f"reinstall it: modellab worksets install {record.name}",
                )
            if found is not None and found.manifest is not None:
                from modellab.worksets._install import check_enable_clashes

                # What install refused must not come back by enabling (issue 12, item 6).
                check_enable_clashes(state, found.manifest, core_commands())
        state.set_enabled(record.name, enable)
        refresh_command_index(settings, catalog, core_commands())
    print(shown(f"{'Enabled' if enable else 'Disabled'} {record.name} {record.version}."))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove a workset's files and install record (never imports it)."""
    from modellab.store import Catalog
    from modellab.worksets import WorksetState
    from modellab.worksets._install import install_lock
    from modellab.worksets._loader import refresh_command_index

    settings = settings_from_args(args)
    with install_lock(settings), Catalog(settings.catalog_path) as catalog:
        record = _record(catalog, args.name)
        state = WorksetState(catalog)
        state.mark_removing(record.name)
        refresh_command_index(settings, catalog, core_commands())
        location = Path(record.location)
        shutil.rmtree(location, ignore_errors=True)
        # Its data folder (kept across upgrades, beside the versions) goes with it; a link
        # put there is removed, never followed.
        data = location.parent / "data"
        if data.is_symlink() or data.is_file():
            data.unlink()
        elif data.is_dir():
            shutil.rmtree(data, ignore_errors=True)
        with contextlib.suppress(OSError):
            location.parent.rmdir()  # the workset's folder, once no version is left
        state.forget(record.name)
    print(shown(f"Removed {record.name} {record.version}."))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Hash every installed file of every (or one) workset against its install record."""
    from modellab.store import Catalog
    from modellab.worksets import WorksetState
    from modellab.worksets._install import install_lock
    from modellab.worksets._loader import refresh_command_index

    settings = settings_from_args(args)
    results: list[dict[str, Any]] = []
    with install_lock(settings), Catalog(settings.catalog_path) as catalog:
        state = WorksetState(catalog)
        records = [_record(catalog, args.name)] if args.name else state.installs()
        for record in records:
            status, _found, problem = _status(state, record, full=True)
            results.append(
                {
                    "name": record.name,
                    "version": record.version,
                    "status": status,
                    "files": len(record.files or ()),
                    "problem": problem,
                }
            )
        if any(r["status"] == "tampered" for r in results):
            refresh_command_index(settings, catalog, core_commands())
    bad = [r for r in results if r["status"] == "tampered" or not r["files"]]
    if args.json:
        emit_json({"worksets": results, "ok": not bad})
        return 1 if bad else 0
    if not results:
        print("No worksets installed.")
    for r in results:
        head = shown(f"{r['name']} {r['version']}: ")
        if r in bad:
            problem = r["problem"] or ""
            said = problem if problem.startswith(r["status"]) else f"{r['status']}: {problem}"
            print(f"{head}{shown(said, lines=True)}")
            continue
        # Files match; the workset may still be unusable for another reason (say, consent).
        other = f"; {r['status']}: {shown(r['problem'], lines=True)}" if r["problem"] else ""
        print(f"{head}ok, {r['files']} files match the install record{other}")
    return 1 if bad else 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Every install, consent, enable, disable and removal, oldest first."""
    from modellab._internal.term import render_table
    from modellab.store import Catalog
    from modellab.worksets import WorksetState

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        entries = WorksetState(catalog).audit_log(limit=args.limit)
    if args.json:
        emit_json([{"at": at, "action": action, **details} for at, action, details in entries])
        return 0
    from modellab.worksets._egress import describe as describe_egress

    rows = [
        (
            at[:19].replace("T", " "),
            action,
            describe_egress(details)
            if action == "workset-egress"
            else " ".join(f"{k}={v}" for k, v in details.items()),
        )
        for at, action, details in entries
    ]
    print(
        render_table(("time (UTC)", "action", "details"), rows, max_width=80)
        if rows
        else "No workset events yet."
    )
    return 0


def _registry_source(settings: Settings, catalog: Catalog, wanted: str | None) -> Any:
    from modellab.errors import UsageError
    from modellab.registry import RegistryClient
    from modellab.worksets import WorksetState
    from modellab.worksets._install import RegistrySource

    registries = WorksetState(catalog).registries()
    if not registries:
        raise UsageError(
            "no registry is trusted yet",
            hint="add one: modellab worksets add-registry NAME LOCATION --root 1.root.json",
        )
    chosen = [r for r in registries if wanted in (None, r.name)]
    if wanted is None and len(registries) > 1:
        names = ", ".join(r.name for r in registries)
        raise UsageError(f"several registries are trusted ({names}); choose one with --registry")
    if not chosen:
        raise UsageError(f"no trusted registry named {wanted!r}")
    record = chosen[0]
    folder = settings.home / "registries" / record.name
    sigstore_root = folder / "sigstore_trusted_root.json"
    client = RegistryClient(record.location, (folder / "root.json").read_bytes(), folder / "tuf")
    return RegistrySource(record.name, client, sigstore_root if sigstore_root.exists() else None)


def _print_shown(text: str, file: TextIO | None = None) -> None:
    """Print what the install flow says (manifest strings, signer, names), shown escaped."""
    print(shown(text, lines=True), file=file)


def _refuse_official(name: str, registry: str | None) -> None:
    """Install from the official registry: no signed release is reachable, so say so (exit 10).

    Returns (and the caller goes on as before) when ``name`` is not official and no
    ``--registry official`` was asked for.
    """
    from modellab.errors import RegistryError
    from modellab.registry._official import official_offer

    offer = official_offer(name)
    if offer is None and registry != "official":
        return
    what = f"{name} {offer.release.version}" if offer else name
    raise RegistryError(
        f"{what} is listed in Model Lab's official index, but no signed release of the "
        "official registry (signed wheels and TUF metadata) is published yet; nothing was "
        "installed"
        if offer
        else f"the official registry does not list {name!r}, and has no signed releases yet",
        hint=(
            "install it from a local registry you build, sign and trust (in a Model Lab "
            "checkout):\n"
            "  modellab registry keys KEYS && modellab registry keys --signing SIGNKEY\n"
            "  modellab registry init REG --keys KEYS\n"
            f"  modellab registry build worksets/{name} --out DIST\n"
            "  modellab registry sign DIST/*.whl --key SIGNKEY\n"
            "  modellab registry add REG DIST/*.whl --keys KEYS --signing-key SIGNKEY\n"
            "  modellab worksets add-registry local REG --root REG/metadata/1.root.json\n"
            f"  modellab worksets install {name} --registry local"
        ),
    )


def cmd_install(args: argparse.Namespace) -> int:
    """Install or upgrade a workset through the full trust flow."""
    from modellab.errors import UsageError
    from modellab.store import Catalog
    from modellab.worksets import WorksetState
    from modellab.worksets._install import install_lock, install_workset
    from modellab.worksets._loader import refresh_command_index

    settings = settings_from_args(args)
    name, _, version = args.spec.partition("==")
    if args.worksets_command == "upgrade" and version:
        raise UsageError("upgrade takes a name; it installs the newest release")
    say = (lambda _text: None) if args.json else _print_shown
    with install_lock(settings), Catalog(settings.catalog_path) as catalog:
        if args.worksets_command == "upgrade" and WorksetState(catalog).install(name) is None:
            raise UsageError(f"{name} is not installed", hint=f"modellab worksets install {name}")
        # The user's own registries come first; a registry they named "official" is theirs.
        trusted = {record.name for record in WorksetState(catalog).registries()}
        if not trusted or (args.registry == "official" and "official" not in trusted):
            _refuse_official(name, args.registry)
        source = _registry_source(settings, catalog, args.registry)
        done = install_workset(
            settings,
            catalog,
            source,
            name,
            version or None,
            accept_manifest=args.accept_manifest,
            say=say,
            show=(lambda text: _print_shown(text, file=sys.stderr)) if args.json else _print_shown,
            reserved_commands=core_commands(),
        )
        refresh_command_index(settings, catalog, core_commands())
    if args.json:
        emit_json(
            {
                "name": done.name,
                "version": done.version,
                "location": str(done.location),
                "manifest_sha256": done.manifest_sha256,
                "signer": done.signer,
                "consent_asked": done.consent_asked,
                "replaced_version": done.replaced_version,
            }
        )
    else:
        upgraded = f" (was {done.replaced_version})" if done.replaced_version else ""
        print(shown(f"Installed and enabled {done.name} {done.version}{upgraded}."))
    _say_what_is_not_enforced(settings, done.name)
    return 0


def _say_what_is_not_enforced(settings: Settings, name: str) -> None:
    """Say plainly, on stderr, what of the workset's declared egress this OS cannot enforce."""
    from modellab.store import Catalog
    from modellab.worksets import active_worksets
    from modellab.worksets._sandbox import install_notes

    with Catalog(settings.catalog_path) as catalog:
        active, _problems = active_worksets(catalog)
    for workset in active:
        if workset.record.name == name and workset.found.manifest is not None:
            for note in install_notes(workset.found.manifest):
                print(shown(f"modellab: note: {note}"), file=sys.stderr)


def cmd_add_registry(args: argparse.Namespace) -> int:
    """Trust a registry: copy the pinned TUF root (and Sigstore root) under $MODELLAB_HOME."""
    import hashlib

    from modellab._internal.files import atomic_write_bytes
    from modellab.errors import UsageError
    from modellab.store import Catalog
    from modellab.worksets import WorksetState
    from modellab.worksets._state import check_registry_name

    # A plain name, checked before anything touches the disk: the name becomes the folder
    # $MODELLAB_HOME/registries/NAME, which a re-add replaces.
    name = check_registry_name(args.name)
    settings = settings_from_args(args)
    try:
        root = Path(args.root).expanduser().read_bytes()
        sigstore = (
            Path(args.sigstore_root).expanduser().read_bytes() if args.sigstore_root else None
        )
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror}") from None
    from modellab.registry._tuf_client import check_trusted_root

    # Refused here, before anything is replaced: a root that can never start a refresh
    # would otherwise be kept and break every later lookup in this registry.
    check_trusted_root(root, f"--root {args.root}")
    location = args.location
    if "://" not in location:
        location = str(Path(location).expanduser().resolve())
    folder = settings.home / "registries" / name
    # A re-added registry starts a fresh TUF cache: only our own folder for this name is
    # replaced (a link put there is removed, never followed).
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    atomic_write_bytes(folder / "root.json", root)
    if sigstore is not None:
        atomic_write_bytes(folder / "sigstore_trusted_root.json", sigstore)
    digest = hashlib.sha256(root).hexdigest()
    with Catalog(settings.catalog_path) as catalog:
        WorksetState(catalog).add_registry(name, location, digest)
    print(shown(f"Trusting registry {name} at {location} (TUF root sha256 {digest})."))
    return 0


def cmd_workset_command(args: argparse.Namespace) -> int:
    """Run a command an enabled workset adds, in that workset's own child process."""
    from modellab.errors import ConsentError
    from modellab.store import Catalog
    from modellab.worksets import active_worksets
    from modellab.worksets._child import run_workset_child, target_of

    settings = settings_from_args(args)
    with Catalog(settings.catalog_path) as catalog:
        active, problems = active_worksets(catalog)
    chosen = [a for a in active if a.record.name == args.workset]
    if not chosen:
        raise ConsentError(
            f"workset {args.workset} is not active: {problems.get(args.workset, 'not enabled')}",
            hint="see 'modellab worksets list'",
        )
    target = target_of(chosen[0])
    argv = list(args.workset_argv)
    host = ["--declares", ",".join(target.implements), args.workset, args.workset_command]
    # The child shares this terminal; where this process has none to share (its streams
    # are in-memory, as when a caller runs the CLI in-process), its output is copied.
    capture = not (_real_stream(sys.stdout) and _real_stream(sys.stderr))
    # The command reads the catalog through its settings: it alone gets MODELLAB_HOME.
    with run_workset_child(
        target,
        [*host, *argv],
        settings,
        call=args.workset_command,
        needs_home=True,
        command=args.workset_command,
        command_argv=argv,
        capture=capture,
    ) as process:
        if capture:
            out, err = process.communicate()
            sys.stdout.write(out.decode(errors="replace"))
            sys.stderr.write(err.decode(errors="replace"))
        return process.wait()


def _real_stream(stream: TextIO) -> bool:
    """Whether ``stream`` has a file descriptor a child can inherit."""
    try:
        stream.flush()
        return stream.fileno() >= 0
    except (OSError, ValueError, AttributeError):
        return False


def cmd_backends(args: argparse.Namespace) -> int:
    """Every importer, grader, trainer, server and remote backend, by name and workset."""
    from modellab._internal.term import render_table
    from modellab.worksets._backends import list_backends

    settings = settings_from_args(args)
    rows, problems = list_backends(settings)
    if args.json:
        emit_json(
            {
                "backends": [row.to_json() for row in rows],
                "problems": [{"workset": k, "problem": v} for k, v in sorted(problems.items())],
            }
        )
        return 1 if problems else 0
    table = [(r.kind, r.name, r.workset, r.summary) for r in rows]  # cells shown escaped
    print(render_table(("kind", "name", "workset", "summary"), table, max_width=70))
    for name, problem in sorted(problems.items()):
        print(shown(f"modellab: workset {name}: {problem}", lines=True), file=sys.stderr)
    return 1 if problems else 0


def cmd_check(args: argparse.Namespace) -> int:
    """Lint a workset's source folder: one ``PATH:FIELD: problem`` line per problem."""
    from modellab.worksets._check import check_source

    source = Path(args.source).expanduser()
    problems = check_source(source, settings_from_args(args))
    if args.json:
        emit_json(
            {"source": str(source), "ok": not problems, "problems": [p.to_json() for p in problems]}
        )
        return 1 if problems else 0
    for problem in problems:  # paths and manifest text come from outside: escaped
        print(shown(problem.line()))
    if problems:
        print(f"{len(problems)} problem(s) in {shown(source)}.", file=sys.stderr)
        return 1
    print(shown(f"{source}: no problems."))
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    """Create a workset project ``DIR/NAME`` that passes ``worksets check`` and its tests."""
    from modellab.worksets._scaffold import scaffold

    target = scaffold(args.name, Path(args.dir).expanduser(), args.isolation)
    print(shown(f"Created workset {args.name} in {target}."))
    print(
        shown(
            f"Next: modellab worksets check {target}; modellab worksets dev {target} -- {args.name}"
        )
    )
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Run a workset from its source folder: unsigned, unconsented, confined, nothing kept."""
    from modellab.worksets._dev import run_dev

    rest = list(args.dev_argv)
    # Everything after PATH is argparse's REMAINDER: a --json there, before the "--" that
    # starts the workset's own arguments, is still ours.
    while rest[:1] == ["--json"]:
        args.json, rest = True, rest[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    command, argv = (rest[0], rest[1:]) if rest else (None, [])
    capture = not (_real_stream(sys.stdout) and _real_stream(sys.stderr))
    settings = settings_from_args(args)
    code, result = run_dev(
        Path(args.source),
        settings,
        command,
        argv,
        announce=lambda warning: print(warning, file=sys.stderr),
        capture=capture,
    )
    if command is not None:
        if capture:  # the child's own output, relayed as it is (as a workset command's)
            sys.stdout.write(result["stdout"].decode(errors="replace"))
            sys.stderr.write(result["stderr"].decode(errors="replace"))
        return code
    if args.json:
        emit_json(result)
        return code
    print(shown(f"{result['name']} {result['version']} loads."))
    print(shown(f"  commands  {', '.join(result['commands']) or '(none)'}"))
    for hook, backends in sorted(result["backends"].items()):
        names = ", ".join(str(b.get("name", "?")) for b in backends)
        print(shown(f"  {hook}  {names}"))
    return code


HANDLERS = {
    "check": cmd_check,
    "new": cmd_new,
    "dev": cmd_dev,
    "list": cmd_list,
    "info": cmd_info,
    "install": cmd_install,
    "upgrade": cmd_install,
    "enable": cmd_enable,
    "disable": cmd_enable,
    "remove": cmd_remove,
    "audit": cmd_audit,
    "backends": cmd_backends,
    "verify": cmd_verify,
    "add-registry": cmd_add_registry,
}
