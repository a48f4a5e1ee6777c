"""observability installed the way a user installs it: built from this folder, signed,
published to a local registry, installed with consent, and run as ``modellab observability``
in a child process: the core's discovery, consent check and hook call, not a shortcut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modellab.testing import cli, codewhale

PROJECT = Path(__file__).resolve().parents[1]


def test_published_installed_and_run_through_the_real_flow(
    workset_registry, install_workset, run_workset, tmp_path: Path, observed_session: dict[str, Any]
) -> None:
    release = workset_registry.publish(PROJECT)
    assert (release.name, release.version, release.isolation) == (
        "observability",
        "0.1.0",
        "shared",
    )

    record = install_workset("observability")
    assert (record.name, record.version, record.enabled) == ("observability", "0.1.0", True)
    assert record.manifest_sha256 == release.manifest_sha256

    cli("sessions", "import", str(codewhale.write_session(tmp_path / "sessions", observed_session)))
    code, out, err = run_workset("observability", "stats", "--json")
    assert code == 0, err
    (session,) = json.loads(out)["sessions"]
    assert session["id"] == "obs-1"
    assert session["tools"]["by_name"]["exec_shell"] == {"calls": 3, "failed": 1}


def test_an_empty_catalog_exits_3_through_the_installed_command(
    workset_registry, install_workset, run_workset
) -> None:
    workset_registry.publish(PROJECT)
    install_workset("observability")
    code, _, err = run_workset("observability", "stats")
    assert code == 3
    assert err.strip()
