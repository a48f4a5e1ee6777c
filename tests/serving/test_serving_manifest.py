"""What a user reads before consenting to the serving workset: no egress, no telemetry,
and that its model servers listen on one loopback port (the core's confinement:
tests/serving/test_server_confinement.py). Here, not in the workset's own tests: it reads
the core's consent screen, past the facade a workset may import."""

from __future__ import annotations

from pathlib import Path

from modellab.worksets._consent import render_manifest
from modellab.worksets._manifest import load_manifest

MANIFEST = (
    Path(__file__).resolve().parents[2]
    / "worksets"
    / "serving"
    / "src"
    / "modellab_serving"
    / "workset.toml"
)


def test_the_consent_screen_says_its_servers_listen_on_one_loopback_port():
    manifest, _ = load_manifest(MANIFEST.read_bytes(), str(MANIFEST))
    screen = render_manifest(manifest)
    network = next(line for line in screen.splitlines() if line.strip().startswith("network"))
    assert network.split()[1] == "none"
    assert "listen on one port of 127.0.0.1" in network and "connect nowhere" in network
    assert "telemetry       off" in screen
    assert "isolation       venv" in screen
    assert manifest.hooks.implements == ["modellab_register_servers"]
    assert manifest.privacy.network_egress == []


def test_a_workset_without_servers_says_nothing_of_listening():
    text = MANIFEST.read_text().replace("modellab_register_servers", "modellab_register_graders")
    manifest, _ = load_manifest(text.encode(), "grader.toml")
    assert "listen" not in render_manifest(manifest)
