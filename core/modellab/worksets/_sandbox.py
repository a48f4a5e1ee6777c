"""No network for a ``venv`` workset that declares none, enforced by the operating system.

On Linux the workset's child process is started through util-linux ``unshare`` in a new
network namespace: it holds only a loopback interface, left down, so every ``connect()``
fails with ``ENETUNREACH`` and name resolution fails, before a packet is sent. A new user
namespace comes with it whenever the kernel allows one (as root too): the workset then holds
capabilities only over its own namespaces and cannot join the host's network namespace
again. The namespace is entered by ``unshare`` before the workset's interpreter starts, so
nothing of the workset (not even a ``.pth`` file of its venv) runs outside it; and, unlike a
``preexec_fn``, no Python runs in the parent's forked child, which stays safe when the parent
has threads.

Whether namespaces can be made here is probed once per process (about 2 ms). Where they
cannot (macOS, Windows, a container whose seccomp profile or AppArmor forbids them, no
``unshare`` on ``PATH``), the workset still runs, with the network; the install says so
plainly and every such run is written to the audit log (``workset-unconfined``).

Not covered here: worksets that declare hosts (they run with the network until the
allow-list proxy exists), ``shared`` worksets (they run in the core's own process), and file
writes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modellab.settings import Settings
    from modellab.worksets._manifest import WorksetManifest

__all__ = [
    "NoNetwork",
    "confine",
    "install_notes",
    "no_network",
    "record_unconfined",
    "reset_probe",
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


def confine(argv: list[str], *, declares_no_network: bool) -> tuple[list[str], str]:
    """``argv`` to run a workset's child, and why its no-network was not enforced.

    The reason is empty when the workset declares hosts (nothing to enforce in this step)
    or when the network namespace is in place.
    """
    if not declares_no_network:
        return argv, ""
    how = no_network()
    if not how.enforced:
        return argv, how.reason
    return [*how.prefix, *argv], ""


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
    """What this OS will not enforce of ``manifest``'s network egress, said plainly."""
    name = manifest.workset.name
    if manifest.requirements.isolation == "shared":
        return [
            f"{name} runs inside Model Lab's own process (isolation = shared): its declared "
            "network egress is not enforced."
        ]
    if manifest.privacy.network_egress:
        return [
            f"{name} declares network hosts: they are not enforced yet, it runs with your network."
        ]
    how = no_network()
    if how.enforced:
        return []
    return [
        f"{name} declares no network, but this system cannot cut it off ({how.reason}): it "
        "will run with your network, and each run is written to the audit log."
    ]


def reset_probe() -> None:
    """Forget the probe (tests)."""
    global _probed
    _probed = None
