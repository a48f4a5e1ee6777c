"""The install-time attack matrix: every case fails closed, names what failed, installs nothing.

The registry-level TUF attacks (rollback, freeze, mix-and-match, unauthorised keys) are in
``tests/registry/test_attacks.py`` and the signature-level ones (foreign roots, forged log
entries, planted cache roots) in ``tests/trust``; here each attack goes through the real
``modellab worksets install``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from trust.minisigstore import (
    MiniSigstore,
    github_claims,
    in_toto_statement,
    provenance,
    write_json,
)

from modellab.cli import main
from modellab.errors import InstallError
from modellab.registry import Index, KeylessSpec, Pep740Spec, PinnedKeySpec, RegistryRepository
from modellab.settings import Settings
from modellab.store import Catalog
from modellab.trust import create_signing_key, sign_with_key
from modellab.worksets import InstallRecord, WorksetState
from modellab.worksets._install import _install_files
from workset_core.builders import make_workset
from workset_core.test_install import _install, _manifest_sha, _nothing_installed


def _refused(capsys, *argv: str, expect: str) -> None:
    code = main(["worksets", "install", "hello", *argv, "--accept-manifest", "0" * 64])
    err = capsys.readouterr().err
    assert code == 10, err
    assert expect in err, err
    _nothing_installed()


def _republish(publisher, replace: dict[str, bytes], **release_changes: object) -> None:
    """What an attacker holding the registry's TUF keys (not the publisher's) can do."""
    repository = RegistryRepository(publisher.registry, publisher.keys)
    index = Index.from_toml(repository.target_bytes("index.toml"), "index.toml")
    (release,) = index.releases
    changes = dict(release_changes)
    for name, data in replace.items():
        if name == release.bundle:
            changes["bundle_sha256"] = hashlib.sha256(data).hexdigest()
        if name == release.manifest:
            changes["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    updated = Index(releases=(release.model_copy(update=changes),))
    repository.add_targets({**replace, "index.toml": updated.to_toml()})


def _target(publisher, suffix: str) -> Path:
    (path,) = (publisher.registry / "targets").glob(f"*{suffix}")
    return path


def test_a_wheel_tampered_on_the_mirror(publisher, capsys):
    publisher.workset()
    wheel = _target(publisher, ".whl")
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    _refused(capsys, expect="tampered file refused")


def test_a_bundle_from_another_key(publisher, capsys, tmp_path):
    publisher.workset()
    wheel = next((publisher.root / "dist").rglob("*.whl"))
    create_signing_key(tmp_path / "attacker")
    forged = tmp_path / "forged.sigstore.json"
    sign_with_key(wheel, tmp_path / "attacker" / "private.pem", forged)
    _republish(publisher, {wheel.name + ".sigstore.json": forged.read_bytes()})
    _refused(capsys, expect="key")


def test_a_tampered_bundle(publisher, capsys):
    publisher.workset()
    bundle = _target(publisher, ".sigstore.json")
    data = json.loads(bundle.read_bytes())
    data["dsseEnvelope"]["signatures"][0]["sig"] = "A" * 96
    name = bundle.name.split(".", 1)[1]
    _republish(publisher, {name: json.dumps(data).encode()})
    _refused(capsys, expect="signature")


def test_a_manifest_that_is_not_the_one_the_wheel_ships(publisher, capsys):
    publisher.workset()
    manifest = _target(publisher, ".workset.toml")
    honest = manifest.read_text()
    assert 'telemetry = "off"' in honest
    # The consent screen would show this text, the code would run with the other.
    _republish(
        publisher,
        {"hello-0.1.0.workset.toml": honest.replace("A test workset", "Totally harmless").encode()},
    )
    _refused(capsys, expect="ships a workset.toml that differs")


@pytest.mark.parametrize(("flag", "word"), [([], "yanked"), (["--revoke"], "revoked")])
def test_yanked_and_revoked_releases(publisher, capsys, flag, word):
    publisher.workset()
    registry, keys = str(publisher.registry), str(publisher.keys)
    assert (
        main(
            [
                "registry",
                "yank",
                registry,
                "hello",
                "0.1.0",
                "--reason",
                "bad build",
                "--keys",
                keys,
                *flag,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["worksets", "install", "hello==0.1.0"]) == 10
    err = capsys.readouterr().err
    assert word in err and "bad build" in err
    _nothing_installed()
    # info says why too, instead of "not offered" and a hint back to the list that shows it.
    assert main(["worksets", "info", "hello"]) != 0
    err = capsys.readouterr().err
    assert word in err and "bad build" in err and "list --available" not in err


def test_a_workset_that_would_change_a_core_dependency(publisher, capsys):
    publisher.workset(dependencies=("modellab>=0.1", "pydantic<2"))
    _refused(capsys, expect="would change a core dependency")


def test_a_workset_that_needs_a_package_the_core_lacks(publisher, capsys):
    publisher.workset(dependencies=("surely-not-installed-anywhere>=1",))
    _refused(capsys, expect="does not have; a shared workset may not add packages")


def test_a_dependency_hash_mismatch_stops_uv(publisher, tmp_path):
    publisher.workset()
    wheel = next((publisher.root / "dist").rglob("*.whl"))
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(InstallError, match="uv refused the install") as refused:
        _install_files(wheel, "0" * 64, "shared", staging)
    assert "hash" in refused.value.message.lower()
    assert not list((staging / "site").rglob("*.py")) if (staging / "site").exists() else True


def test_keyless_signatures_from_a_private_sigstore(publisher, capsys, tmp_path):
    authority = MiniSigstore("private-sigstore.test")
    sigstore_root = authority.write_trusted_root(tmp_path / "trusted_root.json")
    source = publisher.root / "sources"

    src = make_workset(source, "hello")
    dist = tmp_path / "dist"
    assert main(["registry", "build", str(src), "--out", str(dist)]) == 0
    (wheel,) = dist.glob("*.whl")
    claims = github_claims("acme/ws-hello", "release.yml", "refs/tags/v0.1.0")
    bundle = wheel.with_name(wheel.name + ".sigstore.json")
    bundle.write_text(json.dumps(authority.sign_artifact(wheel.read_bytes(), claims)))
    repo, workflow = (
        "https://github.com/acme/ws-hello",
        ("https://github.com/acme/ws-hello/.github/workflows/release.yml"),
    )
    add = [
        "registry",
        "add",
        str(publisher.registry),
        str(wheel),
        "--keys",
        str(publisher.keys),
        "--issuer",
        claims.issuer,
        "--repository",
        repo,
        "--workflow",
        workflow,
    ]
    # The publisher's own check uses the production root unless told otherwise.
    assert main(add) == 10
    assert main([*add, "--sigstore-root", str(sigstore_root)]) == 0
    # A user who trusts only the production Sigstore refuses it ...
    capsys.readouterr()
    _refused(capsys, expect="certificate chain")
    # ... one configured with the private root installs it.
    publisher.trust(sigstore_root)
    _install(capsys)
    # A release whose index pins another repository is refused.
    assert main(["worksets", "remove", "hello"]) == 0
    evil = KeylessSpec(issuer=claims.issuer, repository="https://github.com/evil/ws-hello")
    _republish(publisher, {}, signer=evil)
    capsys.readouterr()
    _refused(capsys, expect="repository")


def test_an_interrupted_install_is_rolled_back(publisher, capsys):
    publisher.workset()
    settings = Settings.from_env()
    location = settings.worksets_dir / "hello" / "0.1.0"
    (location / "site").mkdir(parents=True)  # what a kill -9 after the rename leaves
    with Catalog(settings.catalog_path) as catalog:
        WorksetState(catalog).begin(
            InstallRecord(
                "hello",
                "0.1.0",
                "installing",
                False,
                "shared",
                str(location),
                "local",
                "0" * 64,
                "0" * 64,
                {"kind": "pinned-key"},
                "",
            )
        )
    assert main(["worksets", "list"]) == 0
    assert "rolled back the interrupted install of hello" in capsys.readouterr().err
    assert not location.exists()
    _install(capsys)  # and a clean install works afterwards


def test_concurrent_installs_are_serialised(publisher, capsys):
    publisher.workset("alpha")
    publisher.workset("beta")
    shas = {}
    for name in ("alpha", "beta"):
        main(["worksets", "install", name])
        shas[name] = capsys.readouterr().out.split("manifest sha256 ")[1][:64]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modellab",
                "worksets",
                "install",
                name,
                "--accept-manifest",
                sha,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, sha in shas.items()
    ]
    for process in processes:
        _out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert main(["worksets", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["worksets"]
    assert {(w["name"], w["status"]) for w in listed} == {("alpha", "enabled"), ("beta", "enabled")}


def test_pypi_provenance_as_the_signature(publisher, capsys, tmp_path):
    """A workset published on PyPI with PEP 740 attestations, listed in a registry."""
    authority = MiniSigstore("pypi-sigstore.test")
    sigstore_root = authority.write_trusted_root(tmp_path / "trusted_root.json")

    src = make_workset(publisher.root / "sources", "hello")
    dist = tmp_path / "dist"
    assert main(["registry", "build", str(src), "--out", str(dist)]) == 0
    (wheel,) = dist.glob("*.whl")
    statement = in_toto_statement(wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())
    attestation = authority.attest(statement, github_claims("acme/ws-hello", "release.yml"))
    proof = write_json(
        tmp_path / f"{wheel.name}.provenance",
        provenance([attestation], repository="acme/ws-hello", workflow="release.yml"),
    )
    add = [
        "registry",
        "add",
        str(publisher.registry),
        str(wheel),
        "--keys",
        str(publisher.keys),
        "--provenance",
        str(proof),
        "--repository",
        "acme/ws-hello",
        "--workflow",
        "release.yml",
        "--sigstore-root",
        str(sigstore_root),
    ]
    assert main(add) == 0
    publisher.trust(sigstore_root)
    capsys.readouterr()
    _, out = _install(capsys)
    assert "Signature verified" in out
    assert main(["worksets", "remove", "hello"]) == 0
    # The index now claims another publisher: the provenance does not name it.
    _republish(publisher, {}, signer=Pep740Spec(repository="evil/ws-hello", workflow="release.yml"))
    capsys.readouterr()
    _refused(capsys, expect="evil/ws-hello")


def test_a_new_signer_needs_consent_again_even_for_the_same_manifest(publisher, capsys, tmp_path):
    publisher.workset()
    sha, _out = _install(capsys)
    assert main(["worksets", "remove", "hello"]) == 0
    # The publisher moves to a new key (the registry publishes it under TUF).
    wheel = next((publisher.root / "dist").rglob("*.whl"))
    key_id = create_signing_key(tmp_path / "new-key")
    bundle = tmp_path / "new.sigstore.json"
    sign_with_key(wheel, tmp_path / "new-key" / "private.pem", bundle)
    public = (tmp_path / "new-key" / "public.pem").read_bytes()
    _republish(
        publisher,
        {wheel.name + ".sigstore.json": bundle.read_bytes(), f"{key_id}.pub.pem": public},
        signer=PinnedKeySpec(key_id=key_id),
    )
    capsys.readouterr()
    # Same manifest bytes, same sha256: consent was for the old signer, so it is asked again.
    assert main(["worksets", "install", "hello"]) == 10
    captured = capsys.readouterr()
    assert f"manifest sha256 {sha}" in captured.out and "consent needed" in captured.err
    assert main(["worksets", "install", "hello", "--accept-manifest", sha]) == 0


@pytest.mark.slow
def test_kill_9_during_an_install_leaves_nothing_behind(publisher, capsys):
    """A real SIGKILL while uv unpacks a large wheel; the next command cleans up."""
    import os
    import signal
    import time

    source = make_workset(publisher.root / "sources" / "big", "big")
    (source / "src" / "modellab_big" / "blob.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    publisher.publish(source)
    sha = _manifest_sha(capsys, "big")
    settings = Settings.from_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "modellab", "worksets", "install", "big", "--accept-manifest", sha],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(settings.worksets_dir.glob(".staging-big-*/site")):  # uv is writing files
            break
        time.sleep(0.005)
    assert process.poll() is None, "the install finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert any(settings.worksets_dir.glob(".staging-*"))  # what the kill left
    assert main(["worksets", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["worksets"] == []
    assert not any(settings.worksets_dir.glob(".staging-*"))
    assert not (settings.worksets_dir / "big").exists()
    assert main(["worksets", "install", "big", "--accept-manifest", sha]) == 0
