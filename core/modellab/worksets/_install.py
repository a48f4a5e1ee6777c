"""Install a workset from a trusted registry, in the order the trust model needs.

1. refresh the registry's TUF metadata and read its index;
2. fetch the wheel, its Sigstore bundle and its manifest (TUF checks length and hash, then
   the sizes and sha256 the index pins are checked again);
3. verify the bundle against the signer the index pins, then the wheel itself: safe entry
   names, no ``.pth`` or symlink, bounded unpacked size (``_wheel_safety``);
4. check the manifest: valid, the one the wheel ships, and a workset that needs nothing the
   core environment would have to change;
5. show it and take consent (skipped only for an identical manifest and signer already
   consented to);
6. install with uv, by hash, into a staging folder that is renamed into place;
7. record the consent; 8. enable the hooks.

uv may start before step 4 ends, but never before step 3: when the user has already agreed
to this exact manifest from this signer (an earlier consent, or ``--accept-manifest`` with
the sha256 the signed index pins), uv unpacks the verified wheel into the staging folder
while steps 4 and 5 run; any failure there stops uv and removes the folder. Without that
consent, uv starts only after step 5, as the list says.

Any failure before the staging folder is renamed into place leaves nothing behind; a
failure during uv removes the staging folder. Every install holds a lock, and a crash
(``kill -9``) leaves a record in state ``installing`` that the next worksets command rolls
back.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab._internal.files import disk_full, is_disk_full
from modellab.errors import (
    DiskFullError,
    InstallError,
    ManifestError,
    RegistryError,
    UsageError,
)
from modellab.settings import Settings
from modellab.store import Catalog
from modellab.worksets._consent import ask_consent
from modellab.worksets._state import INSTALLED, INSTALLING, REMOVING, InstallRecord, WorksetState

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from modellab.registry import Release
    from modellab.trust import Verified
    from modellab.worksets._manifest import WorksetManifest

# The manifest models (pydantic), ``zipfile``, ``packaging`` and ``importlib.metadata`` are
# imported by the steps that use them, after uv has started when it may start early: the
# import time then overlaps uv's run instead of adding to it.

__all__ = [
    "Installed",
    "RegistrySource",
    "check_command_clashes",
    "check_enable_clashes",
    "check_requires_dist",
    "install_lock",
    "install_workset",
    "recover_interrupted",
    "verify_release",
    "wheel_manifest",
]


@dataclass(frozen=True, slots=True)
class Installed:
    """What an install did."""

    name: str
    version: str
    location: Path
    manifest_sha256: str
    signer: str
    consent_asked: bool
    replaced_version: str | None


@contextlib.contextmanager
def install_lock(settings: Settings) -> Iterator[None]:
    """Hold the workset install lock (an OS file lock: released even on ``kill -9``)."""
    settings.worksets_dir.mkdir(parents=True, exist_ok=True)
    with (settings.worksets_dir / ".lock").open("a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: installs there are not serialised (documented)
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def recover_interrupted(settings: Settings, catalog: Catalog) -> list[str]:
    """Roll back installs and finish removals that a crash left half-done (lock held)."""
    state = WorksetState(catalog)
    repaired: list[str] = []
    for record in state.installs():
        if record.state == INSTALLING:
            shutil.rmtree(record.location, ignore_errors=True)
            state.forget(record.name, action="workset-install-rolled-back")
            repaired.append(f"rolled back the interrupted install of {record.name}")
        elif record.state == REMOVING:
            shutil.rmtree(record.location, ignore_errors=True)
            state.forget(record.name)
            repaired.append(f"finished the interrupted removal of {record.name}")
    for leftover in settings.worksets_dir.glob(".staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return repaired


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(actual: str, name: str, what: str, sha256: str) -> None:
    if actual != sha256:
        raise RegistryError(f"{what} {name}: sha256 {actual} is not the {sha256} the index pins")


def _check_pinned(path: Path, what: str, sha256: str, size: int | None = None) -> None:
    _check_sha256(_sha256(path), path.name, what, sha256)
    if size is not None and path.stat().st_size != size:
        raise RegistryError(
            f"{what} {path.name}: {path.stat().st_size} bytes, the index pins {size}"
        )


def signer_record(release: Release) -> dict[str, Any]:
    """The signer as stored with installs and consents (JSON-ready, stable)."""
    return dict(release.signer.model_dump(mode="json"))


def wheel_manifest(wheel: Path) -> tuple[bytes, list[str]]:
    """The ``workset.toml`` the wheel ships, and its ``Requires-Dist`` lines."""
    import zipfile

    from modellab.worksets._discovery import MANIFEST_NAME

    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            manifests = [n for n in names if n.count("/") == 1 and n.endswith(f"/{MANIFEST_NAME}")]
            metadata_files = [n for n in names if n.endswith(".dist-info/METADATA")]
            if len(manifests) != 1 or len(metadata_files) != 1:
                raise ManifestError(
                    f"{wheel.name}: expected one <package>/{MANIFEST_NAME} and one METADATA, "
                    f"found {len(manifests)} and {len(metadata_files)}"
                )
            shipped = archive.read(manifests[0])
            requires = _requires_dist(archive.read(metadata_files[0]))
    except zipfile.BadZipFile as exc:
        raise InstallError(f"{wheel.name}: not a wheel ({exc})") from None
    return shipped, requires


def _requires_dist(metadata_file: bytes) -> list[str]:
    """The ``Requires-Dist`` values of a wheel's METADATA (its header block)."""
    from modellab.worksets._discovery import metadata_headers

    return metadata_headers(metadata_file.decode("utf-8")).get("requires-dist", [])


#: A ``Requires-Dist`` value that is a name and version specifiers only: no extras, URL,
#: parentheses or environment marker. Those are read with ``packaging.specifiers`` alone;
#: anything else goes to ``packaging.requirements`` (whose grammar costs more to import
#: than the rest of the check). ``tests/workset_core/test_install_fast_paths.py`` checks that
#: both readings agree.
_SIMPLE_REQUIREMENT = re.compile(
    r"\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<specifier>[<>=!~][^;@()\[\]]*)?"
)


def _requirement(line: str) -> tuple[str, SpecifierSet, bool, str]:
    """One ``Requires-Dist`` value: (name, specifiers, applies here, as shown).

    :raises InstallError: when ``packaging`` cannot read it.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    simple = _SIMPLE_REQUIREMENT.fullmatch(line)
    if simple is not None:
        try:
            specifier = SpecifierSet(simple["specifier"] or "")
        except InvalidSpecifier:
            pass  # the full parser says what is wrong
        else:
            return simple["name"], specifier, True, f"{simple['name']}{specifier}"
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        raise InstallError(f"unreadable dependency {line!r} ({exc})") from None
    applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
    return requirement.name, requirement.specifier, applies, str(requirement)


#: A requirement normalised for comparison; see :func:`_requirement_key`.
_Key = tuple[str, tuple[str, ...], str, str, str]


def _requirement_key(line: str) -> _Key:
    """One requirement, normalised for comparison: (name as PEP 503 spells it, extras,
    specifiers, URL, marker). Two spellings of one requirement give one key.

    :raises InstallError: when ``packaging`` cannot read it.
    """
    simple = _SIMPLE_REQUIREMENT.fullmatch(line)
    if simple is not None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            specifier = str(SpecifierSet(simple["specifier"] or ""))
        except InvalidSpecifier:
            pass  # the full parser says what is wrong
        else:
            return re.sub(r"[-_.]+", "-", simple["name"]).lower(), (), specifier, "", ""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        raise InstallError(f"unreadable dependency {line!r} ({exc})") from None
    return (
        re.sub(r"[-_.]+", "-", requirement.name).lower(),
        tuple(sorted(requirement.extras)),
        str(requirement.specifier),
        requirement.url or "",
        str(requirement.marker) if requirement.marker is not None else "",
    )


def check_requires_dist(declared: list[str], requires: list[str], where: str) -> None:
    """Refuse a manifest whose ``requirements.python`` is not the wheel's ``Requires-Dist``.

    The consent screen shows ``requirements.python``; what uv and the dependency check go by
    is the wheel's own metadata. The two must be the same set of requirements (compared
    after normalising names, specifier order and spacing), and every entry must be a
    requirement ``packaging`` can read: a manifest cannot show one thing and ship another,
    nor put free text where dependencies belong.

    :raises ManifestError: naming ``where`` and what each list has that the other lacks.
    """

    def keyed(lines: list[str], field: str) -> dict[_Key, str]:
        keys: dict[_Key, str] = {}
        for position, line in enumerate(lines):
            try:
                keys.setdefault(_requirement_key(line), line)
            except InstallError as exc:
                raise ManifestError(f"{where}: {field}[{position}]: {exc.message}") from None
        return keys

    mine = keyed(declared, "requirements.python")
    theirs = keyed(requires, "Requires-Dist")
    if mine.keys() == theirs.keys():
        return
    only_manifest = [line for key, line in mine.items() if key not in theirs]
    only_wheel = [line for key, line in theirs.items() if key not in mine]
    raise ManifestError(
        f"{where}: requirements.python is not the wheel's Requires-Dist "
        f"(only in the manifest: {', '.join(map(repr, only_manifest)) or 'nothing'}; "
        f"only in the wheel: {', '.join(map(repr, only_wheel)) or 'nothing'})",
        hint="list exactly the wheel's dependencies (pyproject.toml's [project] "
        "dependencies) in requirements.python",
    )


def check_command_clashes(
    manifest: WorksetManifest,
    reserved: set[str] | frozenset[str],
    others: dict[str, str],
    *,
    outcome: str = "nothing was installed",
    whose: str = "installed",
) -> None:
    """Refuse a workset that adds a command the core or another installed workset has.

    :param reserved: the core's top-level commands.
    :param others: {command: workset} for the other installed (or enabled) worksets.
    :param outcome: what the refusal left undone (``nothing was enabled`` at enable).
    :param whose: how the message calls the other worksets (``installed``, ``enabled``).
    :raises ManifestError: naming the command and who has it already.
    """
    for command in manifest.commands:
        if command.name in reserved:
            raise ManifestError(
                f"{manifest.name}: command {command.name!r} clashes with Model Lab's own "
                f"command {command.name!r}; {outcome}",
                hint="a workset may not take a core command's name",
            )
        if command.name in others:
            owner = others[command.name]
            raise ManifestError(
                f"{manifest.name}: command {command.name!r} clashes with the command "
                f"{command.name!r} of the {whose} workset {owner}; {outcome}",
                hint=f"remove {owner} first (modellab worksets remove {owner}) if you want "
                f"{manifest.name}'s instead",
            )


def check_enable_clashes(
    state: WorksetState, manifest: WorksetManifest, reserved: set[str] | frozenset[str]
) -> None:
    """Refuse to enable a workset whose command the core or an enabled workset now has.

    Install refuses clashes, but what is true at install can change: the core gains a
    command in an upgrade, or another workset was installed by a Model Lab that did not
    check. Enabling re-checks, with the install's message, so a command is never taken over.

    :raises ManifestError: naming the command and who has it already; nothing was enabled.
    """
    enabled = _installed_commands(state, manifest.name, enabled_only=True)
    check_command_clashes(
        manifest, reserved, enabled, outcome="nothing was enabled", whose="enabled"
    )


def _installed_commands(
    state: WorksetState, name: str, *, enabled_only: bool = False
) -> dict[str, str]:
    """{command: workset} for every installed (or enabled) workset other than ``name``,
    read from their manifests (none imported)."""
    from modellab.worksets._discovery import find_in
    from modellab.worksets._loader import site_of

    commands: dict[str, str] = {}
    for record in state.installs():
        if record.name == name or (enabled_only and not record.enabled):
            continue  # an upgrade may keep its own commands
        found = find_in(site_of(record)).get(record.name)
        if found is None or found.manifest is None:
            continue
        for command in found.manifest.commands:
            commands.setdefault(command.name, record.name)
    return commands


def _check_dependencies(name: str, requires: list[str]) -> None:
    """Refuse a workset that would need a core package changed, or anything new.

    Shared worksets run in Model Lab's own process, so every dependency must already be
    satisfied there, at the version installed: nothing is upgraded, downgraded or added.
    """
    from importlib import metadata

    from modellab.worksets._discovery import installed_version

    for line in requires:
        try:
            package, specifier, applies, shown = _requirement(line)
        except InstallError as exc:
            raise InstallError(f"{name}: {exc.message}") from None
        if not applies:
            continue
        try:
            installed = installed_version(package)
        except metadata.PackageNotFoundError:
            raise InstallError(
                f"{name} needs {shown}, which Model Lab's environment does not have; "
                "a shared workset may not add packages to it",
                hint="publish it with isolation = 'venv', or install the dependency first",
            ) from None
        if not specifier.contains(installed, prereleases=True):
            raise InstallError(
                f"{name} needs {shown}, but Model Lab runs with {package} "
                f"{installed}; installing it would change a core dependency",
                hint="nothing was installed; the workset must accept the core's version",
            )


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise InstallError("uv is not installed; Model Lab installs worksets with it") from None
        return found


#: How uv (Rust's ``std::io::Error``) reports a full disk or a spent quota.
_UV_DISK_FULL = re.compile(
    r"No space left on device|Disk quota exceeded|os error (?:28|122)\b", re.IGNORECASE
)

#: Where uv would look for TLS roots; see :func:`_run_uv`.
_TLS_SETTINGS = frozenset({"SSL_CERT_FILE", "SSL_CERT_DIR"})


def _run_uv(arguments: list[str], job: _UvJob | None = None) -> None:
    """Run uv to completion; ``job`` (when uv runs in its thread) can stop it."""
    command = [_uv(), *arguments]
    # An offline uv opens no connection, yet it reads every certificate in SSL_CERT_FILE and
    # SSL_CERT_DIR when they are set (about 300 files on a Debian-style system, up to half
    # of uv's run for one small wheel): offline runs (all of them, today) go without.
    offline = "--offline" in arguments
    env = {k: v for k, v in os.environ.items() if not (offline and k in _TLS_SETTINGS)}
    env["UV_NO_PROGRESS"] = "1"
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    if job is None:
        process = subprocess.Popen(command, text=True, env=env, **pipes)
    else:
        process = job.start(command, env, pipes)
    stdout, stderr = process.communicate()
    if job is not None and job.cancelled:
        raise InstallError("the install was stopped", hint="nothing was installed")
    if process.returncode != 0:
        # uv's first error line says what failed (a hash mismatch, say); the rest is detail.
        detail = " ".join((stderr or stdout).split())[:600]
        if _UV_DISK_FULL.search(stderr or stdout):
            # Told apart so the install reports a full disk (exit 15), not a trust failure.
            raise OSError(errno.ENOSPC, f"uv could not unpack the wheel: {detail}")
        raise InstallError(
            f"uv refused the install: {detail or 'exit ' + str(process.returncode)}",
            hint="nothing was installed",
        )


def _keep(wheel: Path, sha256: str, settings: Settings) -> tuple[Path, bool]:
    """Keep the verified wheel at a path named by its sha256: that path, and whether the
    wheel was put there just now.

    uv caches a ``file://`` requirement by its location: a stable location lets a reinstall
    or a second environment reuse the unpacked wheel instead of adding a copy each time.
    """
    kept = settings.worksets_dir / ".wheels" / sha256 / wheel.name
    if kept.exists():
        # Kept by an earlier install: what uv installs must be what was verified, so check
        # it. One that differs (damaged by a crash: downloads are not fsynced, or changed)
        # is replaced by the copy verified just now.
        try:
            _check_pinned(kept, "wheel", sha256)
            return kept, False
        except RegistryError:
            pass
    kept.parent.mkdir(parents=True, exist_ok=True)
    os.replace(wheel, kept)
    return kept, True


def _forget_kept(kept: Path) -> None:
    """Remove a wheel this install kept, when the install failed."""
    kept.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        kept.parent.rmdir()


class _UvJob:
    """:func:`_install_files` in a thread, so uv unpacks while the main thread checks.

    uv writes only under the staging folder (and its own cache), so nothing is installed
    until the folder is renamed into place, which happens only after :meth:`wait`.
    :meth:`cancel` stops uv and waits for the thread, before the caller removes the folder.
    """

    def __init__(self, wheel: Path, sha256: str, isolation: str, staging: Path) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._error: BaseException | None = None
        self.cancelled = False
        self._thread = threading.Thread(
            target=self._run, args=(wheel, sha256, isolation, staging), name="modellab-uv"
        )
        self._thread.start()

    def _run(self, wheel: Path, sha256: str, isolation: str, staging: Path) -> None:
        try:
            _install_files(wheel, sha256, isolation, staging, self)
            shutil.rmtree(staging / "downloads", ignore_errors=True)
        except BaseException as exc:  # handed to the main thread by wait()
            self._error = exc

    def start(
        self, command: list[str], env: dict[str, str], pipes: dict[str, Any]
    ) -> subprocess.Popen[str]:
        """Start one uv process, unless the job was cancelled."""
        with self._lock:
            if self.cancelled:
                raise InstallError("the install was stopped", hint="nothing was installed")
            self._process = subprocess.Popen(command, text=True, env=env, **pipes)
            return self._process

    def wait(self) -> None:
        """Wait for uv; raise what stopped it, if anything did."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Stop uv (if it still runs) and wait for the thread to end."""
        with self._lock:
            self.cancelled = True
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
        self._thread.join()


def _install_files(
    wheel: Path, sha256: str, isolation: str, staging: Path, job: _UvJob | None = None
) -> None:
    """Install ``wheel`` (pinned by hash, offline, no dependencies) under ``staging``."""
    requirements = staging / "requirements.txt"
    name = wheel.name.split("-", 1)[0]
    requirements.write_text(f"{name} @ {wheel.as_uri()} --hash=sha256:{sha256}\n")
    pinned = ["--offline", "--no-index", "--no-deps", "--require-hashes", "-r", str(requirements)]
    # Copies, never hard links into uv's cache (uv's default on Linux): an installed file
    # edited in place would otherwise change the cached copy that the next install uses.
    pinned += ["--link-mode", "copy"]
    if isolation == "venv":
        venv = staging / "venv"
        _run_uv(["venv", "--offline", "--quiet", "--python", sys.executable, str(venv)], job)
        site = next(venv.glob("lib/python*/site-packages"))
        # Layered: the workset's own packages first, then the core's (research note §5 C).
        # addsitedir, not plain path lines: the core's own .pth files (an editable install
        # of Model Lab, for one) must be processed too.
        core_sites = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
        lines = [f"import site; site.addsitedir({p!r})" for p in core_sites]
        (site / "_modellab_core.pth").write_text("\n".join(lines) + "\n")
        python = ["--python", str(venv / "bin" / "python")]
        _run_uv(["pip", "install", "--quiet", *python, *pinned], job)
        # Then its own stack (torch, transformers, ...), held to the core's versions.
        from modellab.worksets._venv_deps import install_dependencies

        _shipped, requires = wheel_manifest(wheel)
        install_dependencies(
            venv / "bin" / "python", staging, requires, lambda arguments: _run_uv(arguments, job)
        )
    else:
        # --python: the target must suit this interpreter, whatever python is on PATH.
        target = ["--target", str(staging / "site"), "--python", sys.executable]
        _run_uv(["pip", "install", "--quiet", *target, *pinned], job)
    requirements.unlink()


def verify_release(
    release: Release, wheel: Path, bundle: Path, key: Path | None, trusted_root: Path | None
) -> Verified:
    """Verify ``wheel`` against the signer ``release`` pins (raises ``SignatureError``).

    :param key: the pinned public key file, for pinned-key releases.
    :param trusted_root: a Sigstore trusted root for keyless and PEP 740 releases
        (``None``: the production root shipped with Model Lab).
    """
    from modellab.registry import KeylessSpec, Pep740Spec
    from modellab.trust import (
        KeylessSigner,
        PinnedKeySigner,
        TrustConfig,
        verify_artifact,
        verify_pep740,
    )

    spec = release.signer
    if isinstance(spec, Pep740Spec):
        trust = TrustConfig(trusted_root=trusted_root)
        return verify_pep740(wheel, bundle, spec.repository, spec.workflow, trust)
    if isinstance(spec, KeylessSpec):
        signer: KeylessSigner | PinnedKeySigner = KeylessSigner(
            issuer=spec.issuer,
            repository=spec.repository,
            workflow=spec.workflow,
            identity=spec.identity,
            ref=spec.ref,
        )
        trust = TrustConfig(trusted_root=trusted_root)
    else:
        signer = PinnedKeySigner(key_id=spec.key_id)
        keys = {spec.key_id: key} if key else {}
        trust = TrustConfig(trusted_root=trusted_root, public_keys=keys)
    return verify_artifact(wheel, bundle, signer, trust)


@dataclass(frozen=True, slots=True)
class RegistrySource:
    """A registry as the installer needs it: a client and the trust it was configured with."""

    name: str
    client: Any  # modellab.registry.RegistryClient
    sigstore_root: Path | None


def install_workset(
    settings: Settings,
    catalog: Catalog,
    source: RegistrySource,
    name: str,
    version: str | None,
    *,
    accept_manifest: str | None = None,
    ask: Callable[[str], str] | None = None,
    say: Callable[[str], None] = print,
    show: Callable[[str], None] = print,
    reserved_commands: set[str] | frozenset[str],
) -> Installed:
    """Install (or upgrade to) ``name`` ``version`` from ``source``; see the module docstring.

    The caller holds :func:`install_lock`. ``say`` reports progress; ``show`` shows the
    manifest before consent (it must reach the user even when progress is silenced).
    ``reserved_commands`` are the core's top-level commands: a workset that adds one, or
    one another installed workset adds, is refused before its manifest is shown.
    """
    with _cyclic_gc_paused():
        return _install_workset(
            settings,
            catalog,
            source,
            name,
            version,
            accept_manifest=accept_manifest,
            ask=ask,
            say=say,
            show=show,
            reserved_commands=reserved_commands,
        )


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one install, then restore it as it was.

    An install imports most of what it uses (pydantic, python-tuf, cryptography: some 300
    modules) and keeps nearly every object they create. The collector, started by
    allocation counts, would walk that growing heap about a hundred times and find
    nothing to free (some 18 ms, 5% of an install). Reference counting frees everything
    else at once, as always. At the end, the objects allocated meanwhile are moved to the
    oldest generation (``freeze`` then ``unfreeze``: two list moves), so that the first
    collection afterwards does not walk them all at once either; they stay collectable.
    Nothing is moved when someone else has frozen objects (a forking server, say).
    """
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def _install_workset(
    settings: Settings,
    catalog: Catalog,
    source: RegistrySource,
    name: str,
    version: str | None,
    *,
    accept_manifest: str | None,
    ask: Callable[[str], str] | None,
    say: Callable[[str], None],
    show: Callable[[str], None],
    reserved_commands: set[str] | frozenset[str],
) -> Installed:
    from modellab.trust import key_id_of

    recover_interrupted(settings, catalog)
    state = WorksetState(catalog)
    say(f"Refreshing registry {source.name} ...")
    source.client.refresh()
    release = source.client.index().find(name, version)
    previous = state.install(name)
    if previous is not None and previous.version == release.version and previous.state == INSTALLED:
        raise UsageError(f"{name} {release.version} is already installed")
    settings.worksets_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=settings.worksets_dir))
    location = settings.worksets_dir / name / release.version
    job: _UvJob | None = None
    kept: Path | None = None
    placed: Path | None = None  # the kept wheel, when this install put it there
    try:
        downloads = staging / "downloads"
        downloads.mkdir()
        say(f"Fetching {release.artifact} ...")
        wheel = source.client.fetch(release.artifact, downloads)
        _check_pinned(wheel, "wheel", release.sha256, release.size)
        bundle = source.client.fetch(release.bundle, downloads)
        _check_pinned(bundle, "signature bundle", release.bundle_sha256)
        key = None
        if release.signer.kind == "pinned-key":
            key = source.client.fetch(f"{release.signer.key_id}.pub.pem", downloads)
            if key_id_of(key.read_bytes()) != release.signer.key_id:
                raise RegistryError(f"{key.name}: is not the key {release.signer.key_id}")
        verified = verify_release(release, wheel, bundle, key, source.sigstore_root)
        say(f"Signature verified: {verified.signer.describe()}.")
        from modellab.worksets._wheel_safety import check_wheel

        check_wheel(wheel)  # before uv ever reads it: safe entry names, bounded size
        signer = signer_record(release)
        # The signed index pins the manifest's sha256 (the bytes are checked against it
        # below), so whether the user already agreed to this manifest from this signer is
        # known before it is read. Then, and only then (no prompt can follow), uv starts
        # now on the verified wheel and works while the manifest and dependencies are checked.
        pinned = release.manifest_sha256
        asked = not state.has_consent(name, pinned, signer)
        if not asked or (accept_manifest is not None and accept_manifest.lower() == pinned):
            wheel, moved = _keep(wheel, release.sha256, settings)
            kept = placed = wheel if moved else None
            job = _UvJob(wheel, release.sha256, release.isolation, staging)
        manifest_data = source.client.read(release.manifest)  # bytes: no file to clean up
        actual = hashlib.sha256(manifest_data).hexdigest()
        _check_sha256(actual, release.manifest, "manifest", release.manifest_sha256)
        manifest, manifest_sha256 = _checked_manifest(release, manifest_data, wheel)
        check_command_clashes(manifest, reserved_commands, _installed_commands(state, name))
        if asked:
            ask_consent(
                manifest,
                manifest_sha256,
                verified.signer.describe(),
                accept_manifest=accept_manifest,
                ask=ask,
                say=show,
            )
        record = InstallRecord(
            name=name,
            version=release.version,
            state=INSTALLING,
            enabled=False,
            isolation=manifest.requirements.isolation,
            location=str(location),
            registry=source.name,
            artifact_sha256=release.sha256,
            manifest_sha256=manifest_sha256,
            signer=signer,
            updated_at="",
        )
        say(f"Installing with uv ({record.isolation}) ...")
        if job is None:
            wheel, moved = _keep(wheel, release.sha256, settings)
            kept = placed = wheel if moved else None
            _install_files(wheel, release.sha256, record.isolation, staging)
            shutil.rmtree(downloads)
        else:
            job.wait()
        kept = None  # installed from: kept for the next install
        record = _with_files(record, staging, wheel)
        _move_into_place(state, record, previous, staging, location)
        if asked:
            state.record_consent(name, release.version, manifest_sha256, signer)
        state.finish(name, enabled=True)
    except BaseException as exc:
        if job is not None:
            job.cancel()
        shutil.rmtree(staging, ignore_errors=True)
        if kept is not None:  # put there by this install, which failed before using it
            _forget_kept(kept)
        if is_disk_full(exc):  # the catalog's, the download's or uv's: all were undone
            if placed is not None and kept is None:  # no room: not even for a cached wheel
                _forget_kept(placed)
            raise disk_full(
                exc.path if isinstance(exc, DiskFullError) else staging,
                f"nothing of {name} was installed (its staging folder was removed and the "
                "catalog is unchanged)",
            ) from exc
        raise
    return Installed(
        name,
        release.version,
        location,
        manifest_sha256,
        verified.signer.describe(),
        asked,
        previous.version if previous else None,
    )


def _with_files(record: InstallRecord, staging: Path, wheel: Path) -> InstallRecord:
    """``record`` with every file uv installed under ``staging``, checked against the signed
    wheel's RECORD (see ``_files``); what later loads check the installed files against."""
    import dataclasses

    from modellab.worksets._files import install_root, record_files

    root = install_root(staging, record.isolation)
    site = root
    if record.isolation == "venv":
        site = next(root.glob("lib/python*/site-packages"))
    return dataclasses.replace(record, files=record_files(root, site, wheel))


def _checked_manifest(release: Release, data: bytes, wheel: Path) -> tuple[WorksetManifest, str]:
    from modellab.worksets._discovery import MANIFEST_NAME
    from modellab.worksets._manifest import load_manifest

    manifest, digest = load_manifest(data, release.manifest)
    if (manifest.name, manifest.version) != (release.name, release.version):
        raise ManifestError(
            f"{release.manifest}: describes {manifest.name} {manifest.version}, "
            f"the index lists {release.name} {release.version}"
        )
    if manifest.requirements.isolation != release.isolation:
        raise ManifestError(
            f"{release.manifest}: isolation {manifest.requirements.isolation!r}, the index "
            f"says {release.isolation!r}"
        )
    shipped, requires = wheel_manifest(wheel)
    if hashlib.sha256(shipped).hexdigest() != digest:
        raise ManifestError(
            f"{wheel.name}: ships a {MANIFEST_NAME} that differs from the signed-off "
            f"{release.manifest}; nothing was installed"
        )
    check_requires_dist(manifest.requirements.python, requires, release.manifest)
    if manifest.requirements.isolation == "shared":
        _check_dependencies(release.name, requires)
    return manifest, digest


def _move_into_place(
    state: WorksetState,
    record: InstallRecord,
    previous: InstallRecord | None,
    staging: Path,
    location: Path,
) -> None:
    """Swap the staged install in; an upgrade's old version is removed after the swap."""
    state.begin(record)  # a crash from here on is rolled back by recover_interrupted
    location.parent.mkdir(parents=True, exist_ok=True)
    if location.exists():
        shutil.rmtree(location)
    os.replace(staging, location)
    if previous is not None and Path(previous.location) != location:
        shutil.rmtree(previous.location, ignore_errors=True)
