"""What a workset's child process may do, enforced by the operating system.

One entry point, :func:`confined`, wraps every start of a workset's child (commands and hook
calls alike): give it the child's ``argv`` (``PYTHON -m MODULE ARGS``), its environment and a
:class:`Policy` (built from the consented manifest and the call by :func:`policy_for`), and
it hands back the ``argv`` and environment to start instead. On Linux:

* **No network** for a workset that declares no egress: the child is started through
  util-linux ``unshare`` in a new network namespace (and a user namespace where the kernel
  allows one), holding only a loopback interface, left down, so every ``connect()`` fails
  with ``ENETUNREACH`` before a packet is sent. Landlock (ABI 4+) refuses TCP ``bind`` and
  ``connect`` as well, as a second wall.
* **Files** with Landlock, applied by :mod:`modellab.worksets._confine_child` before
  ``site`` or any workset code runs: read only the Python installation(s), the core, the
  workset's own install folder, system folders, the call's inputs; write only the
  workset's data folder (:func:`data_dir`), the call's outputs and a private temporary
  folder. Everything else (the catalog, the redaction key, other worksets, the rest of
  ``$HOME``) cannot be opened, whatever its mode.
* Each confined run's policy is written to the audit log (``workset-confined``), and each
  attempt the child made outside it, as seen by its audit hook, too (``workset-refused``).

Whether namespaces and Landlock are available is probed once per process (about 2 ms and a
system call). Where one is missing (macOS, Windows, an old kernel, a container that forbids
user namespaces) the workset still runs without that wall: the install says so plainly
(:func:`install_notes`) and every such run is in the audit log (``workset-unconfined``).
The one exception: a workset that reads the catalog (``[privacy] reads_catalog``) is
refused where its network cannot be cut off, since raw session data is only handed to a
call with no network at all.

A workset that declares hosts runs in the same empty network namespace and reaches them
only through the allow-list proxy of :mod:`modellab.worksets._egress` (parent side started
in :func:`confined`, forwarder forked by the child's bootstrap).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from modellab.settings import Settings
    from modellab.worksets._manifest import WorksetManifest

__all__ = [
    "NoNetwork",
    "Policy",
    "command_outputs",
    "confined",
    "data_dir",
    "files_confinement",
    "gpu_paths",
    "install_notes",
    "no_network",
    "policy_for",
    "record_unconfined",
    "reset_probe",
    "server_launch",
    "server_refusals",
]

#: ``unshare`` options, best first: a user namespace keeping the caller's uid (util-linux
#: 2.38+), one mapping it to root inside (older util-linux), a network namespace alone (root
#: where user namespaces are refused).
_ATTEMPTS: tuple[tuple[str, ...], ...] = (
    ("--map-current-user", "--net"),
    ("--map-root-user", "--net"),
    ("--net",),
)


@dataclass(frozen=True)
class NoNetwork:
    """How to start a process with no network here: ``prefix`` + its command.

    ``prefix`` is empty when it cannot be done; ``reason`` then says why, in words.
    """

    prefix: tuple[str, ...]
    reason: str = ""

    @property
    def enforced(self) -> bool:
        """Whether a process started with :attr:`prefix` really has no network."""
        return bool(self.prefix)


_probed: NoNetwork | None = None


def no_network() -> NoNetwork:
    """How this machine cuts a child off the network (probed once per process)."""
    global _probed
    if _probed is None:
        _probed = _probe()
    return _probed


def _probe() -> NoNetwork:
    if not sys.platform.startswith("linux"):
        return NoNetwork((), f"{sys.platform} has no network namespaces (not built there yet)")
    unshare = shutil.which("unshare")
    if unshare is None:
        return NoNetwork((), "no 'unshare' command (util-linux) on PATH")
    last = ""
    for options in _ATTEMPTS:
        try:
            done = subprocess.run(
                [unshare, *options, "true"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            last = str(exc)
            continue
        if done.returncode == 0:
            return NoNetwork((unshare, *options))
        said = done.stderr.decode(errors="replace").strip().splitlines()
        last = said[-1] if said else f"exit {done.returncode}"
    return NoNetwork((), f"network namespaces cannot be created here ({last})")


def record_unconfined(settings: Settings, workset: str, call: str, reason: str) -> None:
    """Write to the audit log that ``workset`` ran ``call`` with the network it declared none of."""
    from modellab.store import Catalog

    with Catalog(settings.catalog_path) as catalog, catalog.transaction() as db:
        catalog.audit(
            db,
            "workset-unconfined",
            {"name": workset, "call": call, "boundary": "no network", "reason": reason},
        )


def install_notes(manifest: WorksetManifest) -> list[str]:
    """What this OS will not enforce of ``manifest`` (network, files), said plainly."""
    # Both isolations run every call in a confined child (a "shared" one under the core's
    # own interpreter): what differs from one system to another is only what it can enforce.
    name = manifest.workset.name
    notes = []
    how = no_network()
    if manifest.privacy.network_egress:
        if not how.enforced:
            notes.append(
                f"{name} declares network hosts, but this system cannot hold it to them "
                f"({how.reason}): it will run with your network, and each run is written "
                "to the audit log."
            )
    else:
        raw = getattr(manifest.privacy, "reads_catalog", False) or (
            "modellab_register_importers" in manifest.hooks.implements
        )
        if not how.enforced and raw:
            notes.append(
                f"{name} reads your raw sessions and this system cannot cut it off the network "
                f"({how.reason}): it will be refused each time it is run."
            )
        elif not how.enforced:
            notes.append(
                f"{name} declares no network, but this system cannot cut it off ({how.reason}): "
                "it will run with your network, and each run is written to the audit log."
            )
    abi, why_not = files_confinement()
    if not abi:
        notes.append(
            f"{name}'s files are not confined here ({why_not}): it can read and write "
            "whatever your user can, and each run is written to the audit log."
        )
    return notes


def reset_probe() -> None:
    """Forget the probes (tests)."""
    global _probed, _landlock_abi
    _probed = None
    _landlock_abi = None


# -- files: Landlock ---------------------------------------------------------------------

_landlock_abi: int | None = None


def files_confinement() -> tuple[int, str]:
    """The Landlock ABI that confines files here, or 0 and why not (probed once)."""
    global _landlock_abi
    if _landlock_abi is None:
        from modellab.worksets import _landlock

        _landlock_abi = _landlock.abi_version()
    if _landlock_abi:
        return _landlock_abi, ""
    if not sys.platform.startswith("linux"):
        return 0, f"{sys.platform} has no Landlock (file confinement is not built there yet)"
    return 0, "this Linux kernel has no Landlock (5.13 or later, enabled in the LSM list)"


#: System paths every child may read: the dynamic linker's libraries, the C library's
#: configuration (names, time zones, certificates), and harmless device and process files.
_SYSTEM_READ = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/os-release",
    "/etc/mime.types",
    "/etc/fonts",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/proc/self",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/sys/devices/system/cpu",
)
#: Written by everyone: discarding output is never a leak.
_SYSTEM_WRITE = ("/dev/null",)
#: What a GPU stack opens (NVIDIA's CUDA, AMD's ROCm, DRM render nodes), granted only to a
#: workset whose manifest declares a GPU (``requirements.gpu``), and only where present.
_GPU_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
_GPU_DEVICE_GLOBS = ("/dev/nvidia[0-9]*", "/dev/nvidia-caps", "/dev/dri", "/dev/kfd")
_GPU_READ = ("/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/sys/class/drm")


def gpu_paths() -> tuple[list[Path], list[Path]]:
    """The GPU device files present here (read and write) and the driver's state files a
    GPU stack reads: for a workset that declares a GPU."""
    import glob

    devices = [Path(p) for p in _GPU_DEVICES if Path(p).exists()]
    for pattern in _GPU_DEVICE_GLOBS:
        devices += [Path(p) for p in sorted(glob.glob(pattern))]
    return [Path(p) for p in _GPU_READ if Path(p).exists()], devices


@dataclass(frozen=True)
class Policy:
    """What one workset call may touch, beyond what every child may (the system, Python).

    :param workset: the workset's name (its data folder is :func:`data_dir`).
    :param egress: the hosts it declared, as the manifest spells them (``host`` or
        ``host:port``); empty: no network at all.
    :param read_only: paths it may read (its install folder, the call's inputs).
    :param writable: paths it may write (the call's outputs); its data folder and a private
        temporary folder are added by :func:`confined`.
    :param reads_catalog: it declared ``reads_catalog``: the catalog's files are among
        ``read_only``, and it may only run with no network.
    :param reads_sessions: it registers importers, which read the user's raw session files:
        it may only run with no network.
    """

    workset: str
    egress: tuple[str, ...] = ()
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    reads_catalog: bool = False
    reads_sessions: bool = False

    @property
    def raw(self) -> bool:
        """Whether the call may see raw session data (then: no network, or no run)."""
        return self.reads_catalog or self.reads_sessions

    def summary(self) -> dict[str, object]:
        """The policy as the audit log records it."""
        return {
            "network": list(self.egress) or "none",
            "reads": [str(path) for path in self.read_only],
            "writes": [str(path) for path in self.writable],
            "reads_catalog": self.reads_catalog,
            "reads_sessions": self.reads_sessions,
        }


def data_dir(settings: Settings, workset: str) -> Path:
    """The folder a workset may write to between runs: ``$MODELLAB_HOME/worksets/NAME/data``.

    Beside the workset's installed versions (``worksets/NAME/VERSION``), so an upgrade keeps
    it and a removal can take it away.
    """
    return settings.worksets_dir / workset / "data"


def _option_values(argv: Sequence[str], options: Sequence[str]) -> list[str]:
    """The values given to ``options`` in ``argv`` (``--out X`` and ``--out=X`` forms)."""
    values: list[str] = []
    for index, word in enumerate(argv):
        if word == "--":
            break
        for option in options:
            if word == option and index + 1 < len(argv):
                values.append(argv[index + 1])
            elif word.startswith(option + "="):
                values.append(word[len(option) + 1 :])
    return values


def _contains(outer: Path, inner: Path) -> bool:
    return inner.is_relative_to(outer)


def _checked_output(settings: Settings, option: str, value: str) -> Path:
    """``value`` as an output path the child may write, or a :class:`UsageError`."""
    from modellab.errors import UsageError

    path = Path(value).expanduser().absolute()
    real = path.resolve()
    home = settings.home.resolve()
    if _contains(real, home) or _contains(home, real):
        raise UsageError(
            f"{option} {value}: a workset may not write to, into or around Model Lab's home "
            f"({settings.home})",
            hint="give it a path of its own, outside that folder",
        )
    if not real.parent.is_dir():
        raise UsageError(f"{option} {value}: folder {real.parent} does not exist")
    return path


def command_outputs(
    manifest: WorksetManifest, command: str, argv: Sequence[str], settings: Settings
) -> list[Path]:
    """The paths ``argv`` gives to the options ``command``'s manifest entry names as outputs.

    :raises UsageError: an output is, holds or sits in Model Lab's home, or its folder is
        missing.
    """
    entry = next((c for c in manifest.commands if c.name == command), None)
    found = []
    for option in getattr(entry, "outputs", None) or []:
        for value in _option_values(argv, [option]):
            found.append(_checked_output(settings, option, value))
    return found


def policy_for(
    manifest: WorksetManifest,
    location: Path | None,
    settings: Settings,
    *,
    command: str | None = None,
    argv: Sequence[str] = (),
    inputs: Sequence[Path] = (),
    outputs: Sequence[Path] = (),
) -> Policy:
    """The :class:`Policy` for one call of a consented workset installed at ``location``.

    ``command`` and ``argv``: a command call; the values ``argv`` gives to the options that
    command's manifest entry lists in ``outputs`` become writable. ``inputs`` and
    ``outputs``: paths a hook call is handed. A workset that declares ``reads_catalog`` may
    read the catalog's files and its objects, nothing else of Model Lab's home. Egress: the
    hosts the manifest declares (for a command, those declared for it).

    :raises UsageError: an output is, holds or sits in Model Lab's home.
    """
    writable = list(outputs)
    if command is not None:
        writable += command_outputs(manifest, command, argv, settings)
    read_only = [*([location] if location is not None else []), *inputs]
    if manifest.requirements.gpu != "none":
        gpu_read, gpu_devices = gpu_paths()
        read_only += gpu_read
        writable += gpu_devices  # opened read-write for ioctl; they exist: never created
    reads_catalog = bool(getattr(manifest.privacy, "reads_catalog", False))
    if reads_catalog:
        catalog = settings.catalog_path
        read_only += [catalog, Path(f"{catalog}-wal"), Path(f"{catalog}-shm")]
        read_only.append(catalog.parent / "objects")
    egress = tuple(
        e.host for e in manifest.privacy.network_egress if command is None or command in e.commands
    )
    return Policy(
        workset=manifest.workset.name,
        egress=egress,
        read_only=tuple(read_only),
        writable=tuple(writable),
        reads_catalog=reads_catalog,
        reads_sessions="modellab_register_importers" in manifest.hooks.implements,
    )


def _python_roots(python: str) -> list[str]:
    """What the interpreters (the core's and the child's) read: prefixes and import paths.

    The core's import path, minus the current folder and anything that is, holds or sits in
    ``$HOME``'s top or ``$MODELLAB_HOME``: a child sees the core's packages (through its
    venv's ``.pth``), never Model Lab's data.
    """
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    child = Path(python)
    roots.add(str(child.parent.parent))  # its venv
    roots.add(str(child.resolve().parent.parent))  # the installation the venv points at
    import modellab

    roots.add(str(Path(modellab.__file__).resolve().parent.parent))
    here = Path.cwd().resolve()
    for entry in sys.path:
        if entry and Path(entry).is_dir() and Path(entry).resolve() != here:
            roots.add(entry)
    return sorted(roots)


def _forbidden_roots(settings: Settings, roots: list[str]) -> list[str]:
    """``roots`` without any that would open Model Lab's home or the whole of ``$HOME``."""
    home = settings.home.resolve()
    user = Path.home().resolve()
    kept = []
    for root in roots:
        real = Path(root).resolve()
        if _contains(real, home) or _contains(home, real) or real == user or real == Path("/"):
            continue
        kept.append(root)
    return kept


def _write_refusals(settings: Settings, policy: Policy, call: str, log: Path) -> None:
    """Copy what the child tried outside its policy into the audit log."""
    try:
        lines = log.read_bytes().splitlines()[:100]
    except OSError:
        return
    noted = []
    for line in lines:
        try:
            entry = json.loads(line)
            noted.append({"kind": str(entry["kind"])[:20], "target": str(entry["target"])[:500]})
        except (ValueError, KeyError, TypeError):
            continue  # the child could write to this file: take only well-formed entries
    if not noted:
        return
    from modellab.store import Catalog

    with Catalog(settings.catalog_path) as catalog, catalog.transaction() as db:
        for entry in noted:
            details = {"name": policy.workset, "call": call, **entry}
            catalog.audit(db, "workset-refused", details)


def _record_run(
    settings: Settings,
    policy: Policy,
    call: str,
    enforced: dict[str, str],
    unenforced: dict[str, str],
) -> None:
    from modellab.store import Catalog

    with Catalog(settings.catalog_path) as catalog, catalog.transaction() as db:
        catalog.audit(
            db,
            "workset-confined",
            {"name": policy.workset, "call": call, **policy.summary(), "enforced": enforced},
        )
        for boundary, reason in unenforced.items():
            catalog.audit(
                db,
                "workset-unconfined",
                {"name": policy.workset, "call": call, "boundary": boundary, "reason": reason},
            )


def _empty_outputs(paths: Sequence[Path]) -> list[Path]:
    """Create each output that does not exist yet as an empty file (so a rule can name
    just that file, not its whole folder); returns those created, to remove if unused."""
    created = []
    for path in paths:
        if not path.exists():
            try:
                path.touch(exist_ok=False)
                created.append(path)
            except OSError:
                continue  # the write will be refused; the workset says so
    return created


def _file_rules(
    settings: Settings, policy: Policy, python: str, data: Path, scratch: Path
) -> tuple[list[str], list[str]]:
    """What a child may read (Python, the system, the policy's inputs) and write (its data
    folder, its temporary folder, the policy's outputs)."""
    read = _forbidden_roots(settings, _python_roots(python))
    read += [*_SYSTEM_READ, *(str(p) for p in policy.read_only)]
    write = [str(data), str(scratch), *_SYSTEM_WRITE, *(str(p) for p in policy.writable)]
    return read, write


@contextlib.contextmanager
def confined(
    argv: Sequence[str],
    env: Mapping[str, str],
    policy: Policy,
    settings: Settings,
    call: str,
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Start a workset's child confined to ``policy``: yields the ``argv`` and ``env`` to use.

    The contract, for every caller that starts a workset's process:

    * ``argv`` is ``[PYTHON, "-m", MODULE, *ARGS]`` (the workset's interpreter); anything
      else is a ``ValueError``. ``env`` is the environment it would get.
    * Start the child with the yielded ``argv`` and ``env``, and wait for it, inside the
      ``with`` block: leaving it removes the run's private folder and writes the run's
      refusals to the audit log.
    * The child gets ``TMPDIR`` (a private folder, removed afterwards) and
      ``MODELLAB_WORKSET_DATA`` (its :func:`data_dir`, created if needed).
    * Every run is written to the audit log (``workset-confined``, with the policy), and
      each boundary this system cannot enforce too (``workset-unconfined``); the run still
      happens, except a ``reads_catalog`` workset whose network cannot be cut off here,
      refused with a :class:`~modellab.errors.ConsentError` before anything starts.
    * ``call``: the command or hook, as the audit log names it.
    """
    if len(argv) < 3 or argv[1] != "-m":
        raise ValueError(f"confined() needs [PYTHON, '-m', MODULE, ...], not {list(argv)!r}")
    python, module, rest = argv[0], argv[2], list(argv[3:])
    enforced: dict[str, str] = {}
    unenforced: dict[str, str] = {}
    prefix: tuple[str, ...] = ()
    tcp_connect: list[int] | None = None
    how = no_network()
    files_abi = files_confinement()[0]
    proxy: Any = None
    if how.enforced:
        prefix = how.prefix
        enforced["network"] = "network namespace"
    elif policy.raw:
        from modellab.errors import ConsentError

        raise ConsentError(
            f"workset {policy.workset} reads your raw sessions, and this system cannot "
            f"cut it off the network ({how.reason}); it was not started",
            hint="raw session data is only handed to a workset that runs with no network",
        )
    elif policy.egress:
        unenforced["declared hosts"] = how.reason  # it keeps the whole network
    else:
        unenforced["no network"] = how.reason
    if policy.egress and how.enforced:
        # -- declared hosts: the allow-list proxy (modellab.worksets._egress). The parent
        # runs it on a UNIX socket; the child's bootstrap forks a forwarder on
        # 127.0.0.1:PORT inside the namespace (loopback up) before Landlock, then allows
        # TCP connect to that port only. The namespace has no other route.
        from modellab.worksets._egress import EgressProxy, keeping_caps

        proxy = EgressProxy(hosts=policy.egress, workset=policy.workset, call=call)
        # The forwarder brings lo up: an unprivileged user needs --keep-caps for that.
        prefix = keeping_caps(prefix)
        enforced["network"] = "network namespace, declared hosts through the allow-list proxy"
    if not policy.egress or proxy is not None:
        tcp_connect = []  # Landlock refuses TCP too (but the forwarder's port), a second wall
        if files_abi >= 4:
            enforced["tcp"] = f"landlock ABI {files_abi}"
    abi, why_not = files_confinement()
    if abi:
        enforced["files"] = f"landlock ABI {abi}"
    else:
        unenforced["files"] = why_not

    data = data_dir(settings, policy.workset)
    data.mkdir(parents=True, exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix=f"modellab-{policy.workset}-"))  # 0700
    created: list[Path] = []
    holder = None
    stack = contextlib.ExitStack()
    try:
        scratch = run / "tmp"
        scratch.mkdir()
        refusals = run / "refusals.jsonl"
        refusals.touch()
        created = _empty_outputs(policy.writable)
        if policy.reads_catalog and settings.catalog_path.is_file():
            # SQLite opens a WAL database read-only (mode=ro) only while its -wal and -shm
            # files exist, which the child cannot create: hold a connection open in the
            # parent for the whole run, so they do.
            import sqlite3

            holder = sqlite3.connect(settings.catalog_path, timeout=30)
            holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if proxy is not None:
            stack.enter_context(proxy)
        read, write = _file_rules(settings, policy, python, data, scratch)
        config = {
            "files": bool(abi),
            "read": read,
            "write": write,
            "tcp_connect": tcp_connect,
            "refusals": str(refusals),
            "egress_socket": str(proxy.socket_path) if proxy is not None else None,
        }
        (run / "policy.json").write_text(json.dumps(config))
        child_env = {**env, "TMPDIR": str(scratch), "MODELLAB_WORKSET_DATA": str(data)}
        bootstrap = str(Path(__file__).with_name("_confine_child.py"))
        wrapped = [*prefix, python, "-I", "-S", bootstrap, str(run / "policy.json"), "--"]
        _record_run(settings, policy, call, enforced, unenforced)
        yield [*wrapped, "-m", module, *rest], child_env
        _write_refusals(settings, policy, call, refusals)
    finally:
        if holder is not None:
            holder.close()
        stack.close()  # the proxy, when there is one: stopped before its events are read
        if proxy is not None and proxy.events:
            from modellab.worksets._egress import record_egress

            record_egress(settings, proxy.events)
        for path in created:
            with contextlib.suppress(OSError):
                if path.stat().st_size == 0:
                    path.unlink()
        shutil.rmtree(run, ignore_errors=True)


def server_launch(
    argv: Sequence[str],
    env: Mapping[str, str],
    policy: Policy,
    settings: Settings,
    *,
    call: str,
    folder: Path,
    port: int,
) -> tuple[list[str], dict[str, str]]:
    """The ``argv`` and ``env`` that start a model server confined to ``policy``.

    Like :func:`confined`, for a process that outlives the command that starts it (``modellab
    serve``), so nothing is removed on return. The difference is the network: a server must
    be reachable from this machine, so it runs in the host's network namespace, and
    Landlock (ABI 4+) lets it *listen* on ``port`` alone and *connect* nowhere; the caller
    checks that it listens on the address it was given. Its private files (policy, the
    temporary folder, the refusal log) live in ``folder``; :func:`server_refusals` copies
    the refusals to the audit log when the server is stopped. Any declared egress is
    ignored: a server never gets it.
    """
    if len(argv) < 3 or argv[1] != "-m":
        raise ValueError(f"server_launch() needs [PYTHON, '-m', MODULE, ...], not {list(argv)!r}")
    python, module, rest = argv[0], argv[2], list(argv[3:])
    abi, why_not = files_confinement()
    enforced: dict[str, str] = {}
    unenforced: dict[str, str] = {}
    if abi >= 4:
        enforced["tcp"] = f"landlock ABI {abi}: listen on port {port} only, connect nowhere"
    else:
        unenforced["tcp"] = why_not or f"landlock ABI {abi} cannot restrict TCP (needs 4)"
    if abi:
        enforced["files"] = f"landlock ABI {abi}"
    else:
        unenforced["files"] = why_not
    data = data_dir(settings, policy.workset)
    data.mkdir(parents=True, exist_ok=True)
    scratch = folder / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    refusals = folder / "refusals.jsonl"
    refusals.touch()
    read, write = _file_rules(settings, policy, python, data, scratch)
    config = {
        "files": bool(abi),
        "read": read,
        "write": write,
        "tcp_connect": [],
        "tcp_bind": [port],
        "refusals": str(refusals),
        "egress_socket": None,
        "detached": True,
    }
    (folder / "policy.json").write_text(json.dumps(config))
    child_env = {**env, "TMPDIR": str(scratch), "MODELLAB_WORKSET_DATA": str(data)}
    bootstrap = str(Path(__file__).with_name("_confine_child.py"))
    wrapped = [python, "-I", "-S", bootstrap, str(folder / "policy.json"), "--"]
    server_policy = Policy(
        workset=policy.workset, read_only=policy.read_only, writable=policy.writable
    )
    _record_run(settings, server_policy, call, enforced, unenforced)
    return [*wrapped, "-m", module, *rest], child_env


def server_refusals(settings: Settings, workset: str, call: str, folder: Path) -> None:
    """Copy what a stopped server tried outside its policy into the audit log."""
    _write_refusals(settings, Policy(workset=workset), call, folder / "refusals.jsonl")
