"""The release workflow's signing step, run for real against a local test Sigstore.

``tools/release.py sign`` is the code ``.github/workflows/release.yml`` runs. Here it runs as
a subprocess, unchanged, with sigstore-python's own ``Signer``; only the services differ:
a Fulcio and a Rekor on 127.0.0.1, played by ``trust.minisigstore``'s authority, named in a
client trust config. Its bundles must then verify with the core's own verifier against the
official signer that the shipped index pins, and a run of another workflow, ref or
repository must be refused. Nothing here reaches the internet.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from trust.minisigstore import OID_SCT_LIST, Claims, MiniSigstore, _der

from modellab.errors import SignatureError
from modellab.registry._official import OFFICIAL_SIGNER, official_offers
from modellab.trust import KeylessSigner, TrustConfig, verify_artifact

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "release.py"
GITHUB = "https://token.actions.githubusercontent.com"
OFFICIAL_REPO = "modellab/modellab"
#: Signs the test tokens; the local Fulcio never checks it (32 bytes, as PyJWT asks).
_HMAC_KEY = "a-throwaway-key-for-test-tokens!"


# --- a Fulcio and a Rekor over the test authority, on loopback ------------------------------


def _claims_from_token(token: str) -> Claims:
    """What Fulcio copies from a GitHub Actions token into the certificate."""
    data = jwt.decode(token, options={"verify_signature": False})
    workflow = f"https://github.com/{data['job_workflow_ref']}"
    return Claims(
        san=workflow,
        issuer=data["iss"],
        repository=f"https://github.com/{data['repository']}",
        build_config=workflow,
        ref=data["ref"],
    )


def _certify(authority: MiniSigstore, csr_pem: bytes, claims: Claims) -> list[str]:
    """A leaf for the CSR's key with an embedded SCT, and its chain, as PEM (Fulcio v2)."""
    public_key = x509.load_pem_x509_csr(csr_pem).public_key()
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).replace(microsecond=0)
    end = start + dt.timedelta(minutes=10)
    serial = x509.random_serial_number()
    intermediate_key = authority._intermediate_key  # the test CA's own key, by design
    # Same two passes as MiniSigstore.issue_leaf, but for the client's key, not a fresh one.
    precert = authority._leaf_builder(public_key, claims, start, end, serial).sign(  # type: ignore[arg-type]
        intermediate_key, hashes.SHA256()
    )
    sct = authority._sct(precert.tbs_certificate_bytes, timestamp_ms=int(time.time() * 1000))
    sct_list = struct.pack("!H", len(sct)) + sct
    extension = _der(0x04, struct.pack("!H", len(sct_list)) + sct_list)
    leaf = (
        authority._leaf_builder(public_key, claims, start, end, serial)  # type: ignore[arg-type]
        .add_extension(x509.UnrecognizedExtension(OID_SCT_LIST, extension), critical=False)
        .sign(intermediate_key, hashes.SHA256())
    )
    chain = [leaf, authority.intermediate_cert, authority.root_cert]
    return [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]


def _rekor_response(authority: MiniSigstore, proposed: dict[str, Any]) -> dict[str, Any]:
    """Log the proposed entry and answer as Rekor v1's ``POST /api/v1/log/entries`` does."""
    body = rfc8785.dumps(proposed)
    entry = authority._log_entry(body, proposed["kind"], None)
    proof = entry["inclusionProof"]
    return {
        "entry-uuid": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
            "logIndex": int(entry["logIndex"]),
            "verification": {
                "signedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
                "inclusionProof": {
                    "checkpoint": proof["checkpoint"]["envelope"],
                    "hashes": [],
                    "logIndex": int(proof["logIndex"]),
                    "rootHash": base64.b64decode(proof["rootHash"]).hex(),
                    "treeSize": int(proof["treeSize"]),
                },
            },
        }
    }


def _handler(authority: MiniSigstore) -> type[BaseHTTPRequestHandler]:
    class Services(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/api/v2/signingCert":
                token = self.headers["Authorization"].removeprefix("Bearer ")
                csr = base64.b64decode(request["certificateSigningRequest"])
                chain = _certify(authority, csr, _claims_from_token(token))
                answer: dict[str, Any] = {
                    "signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}
                }
            elif self.path == "/api/v1/log/entries":
                answer = _rekor_response(authority, request)
            else:
                self.send_error(404)
                return
            data = json.dumps(answer).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Services


@pytest.fixture(scope="module")
def authority() -> MiniSigstore:
    return MiniSigstore("release-sigstore.test")


@pytest.fixture(scope="module")
def services(authority: MiniSigstore) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(authority))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def root(authority: MiniSigstore, tmp_path: Path) -> Path:
    return authority.write_trusted_root(tmp_path / "trusted_root.json")


@pytest.fixture
def trust_config(authority: MiniSigstore, services: str, tmp_path: Path) -> Path:
    """A sigstore client trust config: the authority's root, our loopback services."""
    service = {
        "url": services,
        "majorApiVersion": 1,
        "validFor": {"start": "2020-01-01T00:00:00Z"},
        "operator": "release-sigstore.test",
    }
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": authority.trusted_root(),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service],
            "oidcUrls": [],
            "rekorTlogUrls": [service],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": [],
            "tsaConfig": {"selector": "ANY"},
        },
    }
    path = tmp_path / "trust_config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def _token(
    repo: str = OFFICIAL_REPO, workflow: str = "release.yml", ref: str = "refs/tags/v1.0.0"
) -> str:
    """A GitHub Actions OIDC token (audience ``sigstore``) for a run of ``workflow``."""
    now = int(time.time())
    claims = {
        "iss": GITHUB,
        "aud": "sigstore",
        "sub": f"repo:{repo}:ref:{ref}",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "repository": repo,
        "ref": ref,
        "job_workflow_ref": f"{repo}/.github/workflows/{workflow}@{ref}",
    }
    return jwt.encode(claims, _HMAC_KEY, algorithm="HS256")


def _sign(
    wheels: list[Path], out: Path, trust_config: Path | None, token: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.pop("SIGSTORE_ID_TOKEN", None)
    if token is not None:
        env["SIGSTORE_ID_TOKEN"] = token
    argv = [sys.executable, str(TOOL), "sign", *map(str, wheels), "--out", str(out)]
    if trust_config is not None:
        argv += ["--trust-config", str(trust_config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    made = []
    for name in ("modellab_alpha-1.0.0-py3-none-any.whl", "modellab_beta-0.2.0-py3-none-any.whl"):
        path = tmp_path / "dist" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"PK\x03\x04 " + name.encode())
        made.append(path)
    return made


def _official_signer() -> KeylessSigner:
    """The signer the shipped official index pins, as the core's verifier takes it."""
    spec = official_offers()[0].release.signer
    assert spec == OFFICIAL_SIGNER
    return KeylessSigner(
        issuer=spec.issuer, repository=spec.repository, workflow=spec.workflow, ref=spec.ref
    )


def test_release_bundles_verify_against_the_official_signer(
    wheels: list[Path], trust_config: Path, root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundles"
    done = _sign(wheels, out, trust_config, _token(ref="refs/tags/v0.3.0"))
    assert done.returncode == 0, done.stderr
    bundles = sorted(out.glob("*.sigstore.json"))
    assert [b.name for b in bundles] == [w.name + ".sigstore.json" for w in wheels]
    assert done.stdout.split() == [str(b) for b in bundles]
    for wheel in wheels:
        bundle = out / (wheel.name + ".sigstore.json")
        verified = verify_artifact(wheel, bundle, _official_signer(), TrustConfig(root))
        assert verified.mode == "keyless"
        # The bundle signs that wheel and no other.
        other = next(w for w in wheels if w != wheel)
        with pytest.raises(SignatureError, match="digest mismatch"):
            verify_artifact(other, bundle, _official_signer(), TrustConfig(root))


@pytest.mark.parametrize(
    ("identity", "needle"),
    [
        ({"workflow": "nightly.yml"}, "workflow does not match"),
        ({"ref": "refs/heads/main"}, "ref does not match"),
        ({"repo": "mallory/modellab"}, "OIDCSourceRepositoryURI"),
    ],
    ids=["other-workflow", "branch-not-tag", "other-repository"],
)
def test_a_bundle_from_another_identity_is_refused(
    wheels: list[Path],
    trust_config: Path,
    root: Path,
    tmp_path: Path,
    identity: dict[str, str],
    needle: str,
) -> None:
    out = tmp_path / "bundles"
    done = _sign(wheels[:1], out, trust_config, _token(**identity))
    assert done.returncode == 0, done.stderr  # Sigstore signs anyone; the pin is what refuses
    bundle = out / (wheels[0].name + ".sigstore.json")
    with pytest.raises(SignatureError, match=needle):
        verify_artifact(wheels[0], bundle, _official_signer(), TrustConfig(root))


def test_a_bundle_under_another_trusted_root_is_refused(
    wheels: list[Path], trust_config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundles"
    assert _sign(wheels[:1], out, trust_config, _token()).returncode == 0
    elsewhere = MiniSigstore("other-sigstore.test").write_trusted_root(tmp_path / "other.json")
    with pytest.raises(SignatureError, match="untrusted certificate chain"):
        verify_artifact(
            wheels[0],
            out / (wheels[0].name + ".sigstore.json"),
            _official_signer(),
            TrustConfig(elsewhere),
        )


def test_sign_without_a_token_says_how_to_get_one(
    wheels: list[Path], trust_config: Path, tmp_path: Path
) -> None:
    done = _sign(wheels, tmp_path / "bundles", trust_config, None)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "SIGSTORE_ID_TOKEN" in done.stderr
    assert not (tmp_path / "bundles").exists()


def test_a_refused_token_is_named_but_never_printed(
    wheels: list[Path], trust_config: Path, tmp_path: Path
) -> None:
    expired = jwt.encode(
        {"iss": GITHUB, "aud": "other", "sub": "x", "iat": 1, "exp": 2},
        _HMAC_KEY,
        algorithm="HS256",
    )
    done = _sign(wheels, tmp_path / "bundles", trust_config, expired)
    assert done.returncode == 1 and "identity token refused" in done.stderr
    assert expired not in done.stdout + done.stderr


def test_bad_files_are_named(wheels: list[Path], trust_config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "gone.whl"
    done = _sign([missing], tmp_path / "bundles", trust_config, _token())
    assert done.returncode == 1 and f"wheel {missing}" in done.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}", encoding="utf-8")
    done = _sign(wheels, tmp_path / "bundles", garbage, _token())
    assert done.returncode == 1 and f"--trust-config {garbage}" in done.stderr


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *argv], capture_output=True, text=True, timeout=300
    )


def _current_index(registry: Path) -> str:
    """The index.toml that the registry's newest targets metadata pins (consistent snapshot)."""
    newest = max(registry.glob("metadata/*.targets.json"), key=lambda p: int(p.name.split(".")[0]))
    target = json.loads(newest.read_text())["signed"]["targets"]["index.toml"]
    path = registry / "targets" / f"{target['hashes']['sha256']}.index.toml"
    return path.read_text(encoding="utf-8")


def test_build_sign_publish_make_an_official_registry_that_verifies(
    trust_config: Path, root: Path, tmp_path: Path
) -> None:
    dist, registry, keys = tmp_path / "dist", tmp_path / "registry", tmp_path / "keys"
    built = _tool("build", "--out", str(dist))
    assert built.returncode == 0, built.stderr
    wheels = sorted(dist.glob("*.whl"))
    # The release builds exactly the wheels the shipped official index pins.
    pinned = {o.release.artifact: o.release.sha256 for o in official_offers()}
    assert {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in wheels} == pinned

    assert _sign(wheels, dist, trust_config, _token()).returncode == 0
    cli = [sys.executable, "-m", "modellab", "registry"]
    subprocess.run([*cli, "keys", str(keys)], check=True, capture_output=True, timeout=60)
    published = _tool(
        "publish",
        "--registry",
        str(registry),
        "--keys",
        str(keys),
        "--bundles",
        str(dist),
        "--sigstore-root",
        str(root),
        *map(str, wheels),
    )
    assert published.returncode == 0, published.stderr
    index = tomllib.loads(_current_index(registry))
    assert [r["name"] for r in index["release"]] == sorted(
        o.release.name for o in official_offers()
    )
    for release in index["release"]:
        assert release["signer"] == OFFICIAL_SIGNER.model_dump(mode="json", exclude_none=True)
    verify = subprocess.run(
        [*cli, "verify", "--sigstore-root", str(root), str(registry)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_publish_refuses_a_bundle_from_a_branch_run(
    trust_config: Path, root: Path, tmp_path: Path
) -> None:
    dist, keys = tmp_path / "dist", tmp_path / "keys"
    assert _tool("build", "--out", str(dist)).returncode == 0
    wheels = sorted(dist.glob("*.whl"))
    assert _sign(wheels, dist, trust_config, _token(ref="refs/heads/main")).returncode == 0
    cli = [sys.executable, "-m", "modellab", "registry"]
    subprocess.run([*cli, "keys", str(keys)], check=True, capture_output=True, timeout=60)
    published = _tool(
        "publish",
        "--registry",
        str(tmp_path / "registry"),
        "--keys",
        str(keys),
        "--bundles",
        str(dist),
        "--sigstore-root",
        str(root),
        *map(str, wheels),
    )
    assert published.returncode == 1
    assert "ref does not match" in published.stderr and published.stderr.count("\n") == 1
    assert published.stderr.startswith("release publish: modellab registry add: ")


def test_the_release_assets_install_through_the_ordinary_flow(
    trust_config: Path, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of release assets, trusted by hand, installs with the official identity pinned."""
    from modellab.cli import main

    dist, registry, keys = tmp_path / "dist", tmp_path / "registry", tmp_path / "keys"
    assert _tool("build", "--out", str(dist)).returncode == 0
    wheels = sorted(dist.glob("*.whl"))
    assert _sign(wheels, dist, trust_config, _token()).returncode == 0
    cli = [sys.executable, "-m", "modellab", "registry"]
    subprocess.run([*cli, "keys", str(keys)], check=True, capture_output=True, timeout=60)
    published = _tool(
        "publish",
        "--registry",
        str(registry),
        "--keys",
        str(keys),
        "--bundles",
        str(dist),
        "--sigstore-root",
        str(root),
        *map(str, wheels),
    )
    assert published.returncode == 0, published.stderr
    first_root = registry / "metadata" / "1.root.json"
    trust = ["--root", str(first_root), "--sigstore-root", str(root)]
    assert main(["worksets", "add-registry", "official", str(registry), *trust]) == 0
    capsys.readouterr()

    offer = next(o for o in official_offers() if o.release.name == "observability")
    install = ["worksets", "install", "observability", "--registry", "official"]
    assert main(install) == 10  # consent first: the manifest shown is the one the core pins
    shown = capsys.readouterr()
    assert f"manifest sha256 {offer.release.manifest_sha256}" in shown.out
    accepted = [*install, "--accept-manifest", offer.release.manifest_sha256]
    status = main(accepted)
    installed = capsys.readouterr()
    assert status == 0, installed.err
    verified = next(line for line in installed.out.splitlines() if "Signature verified" in line)
    assert OFFICIAL_SIGNER.repository in verified and "release.yml" in verified
    assert "refs/tags/v*" in verified
    assert main(["worksets", "list", "--json"]) == 0
    listed = {w["name"]: w for w in json.loads(capsys.readouterr().out)["worksets"]}
    assert listed["observability"]["version"] == offer.release.version
