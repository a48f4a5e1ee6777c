"""The steps of the release workflow (``.github/workflows/release.yml``), one command each.

The workflow only calls this script, so every step can be run and tested outside GitHub
Actions. It cannot publish from here: signing needs the workflow's OIDC token, and the
production Sigstore, TUF role keys and GitHub release live on the network.

Usage::

    python3 tools/release.py build --out DIR              # check the index, build every wheel
    python3 tools/release.py sign WHEEL... --out DIR      # one keyless bundle per wheel
    python3 tools/release.py publish --registry DIR --keys DIR --bundles DIR WHEEL...

``sign`` takes the identity token from ``$SIGSTORE_ID_TOKEN`` when set, or else from the
ambient credential of the CI run (GitHub Actions with ``id-token: write``). It signs against
the production Sigstore unless ``--trust-config FILE`` names a Sigstore client trust config
(a trusted root plus a signing config, as ``sigstore`` reads it): the tests point it at a
private, local Sigstore. ``publish`` adds each wheel and its bundle to the official registry
with the repository's own ``modellab registry`` commands, pinned to the official signer.

Exit codes: 0 done; 1 a step failed (the line says which file and why); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The variable that carries an explicit identity token (a JWT) to ``sign``.
TOKEN_VARIABLE = "SIGSTORE_ID_TOKEN"
BUNDLE_SUFFIX = ".sigstore.json"


class StepError(Exception):
    """A release step failed; the message is the one line printed to stderr."""


def bundle_path(wheel: Path, out: Path) -> Path:
    """Where ``sign`` writes the bundle of ``wheel``: ``OUT/<wheel name>.sigstore.json``."""
    return out / (wheel.name + BUNDLE_SUFFIX)


def _identity_token() -> object:
    """The token to sign with: ``$SIGSTORE_ID_TOKEN``, or the CI run's ambient credential."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.oidc import IdentityError, IdentityToken, detect_credential

    raw = os.environ.get(TOKEN_VARIABLE)
    if not raw:
        try:
            raw = detect_credential()
        except SigstoreError as exc:
            raise StepError(f"no ambient OIDC credential: {exc}") from None
    if not raw:
        raise StepError(
            f"no identity token: set {TOKEN_VARIABLE} or run in CI with 'id-token: write'"
        )
    try:
        return IdentityToken(raw)
    except IdentityError as exc:
        # Never print the token itself: only why it was refused.
        raise StepError(f"identity token refused: {exc}") from None


def _signing_context(trust_config: Path | None) -> object:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    try:
        if trust_config is None:
            config = ClientTrustConfig.production()
        else:
            config = ClientTrustConfig.from_json(trust_config.read_text(encoding="utf-8"))
        return SigningContext.from_trust_config(config)
    except OSError as exc:
        raise StepError(f"--trust-config {trust_config}: {exc.strerror or exc}") from None
    except (SigstoreError, ValueError) as exc:
        where = f"--trust-config {trust_config}" if trust_config else "production Sigstore"
        raise StepError(f"{where}: not a usable Sigstore client trust config ({exc})") from None


def sign(wheels: list[Path], out: Path, trust_config: Path | None = None) -> list[Path]:
    """Sign every wheel keyless with sigstore-python; return the bundles written to ``out``.

    :raises StepError: a wheel is unreadable, there is no usable token, or Sigstore refused.
    """
    from sigstore.errors import Error as SigstoreError
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    contents: list[tuple[Path, bytes]] = []
    for wheel in wheels:
        try:
            contents.append((wheel, wheel.read_bytes()))
        except OSError as exc:
            raise StepError(f"wheel {wheel}: cannot read ({exc.strerror or exc})") from None
    token = _identity_token()
    context = _signing_context(trust_config)
    assert isinstance(token, IdentityToken) and isinstance(context, SigningContext)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        # One short-lived certificate for the whole run: every wheel shares its identity.
        with context.signer(token) as signer:
            for wheel, data in contents:
                bundle = signer.sign_artifact(data)
                target = bundle_path(wheel, out)
                target.write_text(bundle.to_json(), encoding="utf-8")
                written.append(target)
    except (SigstoreError, OSError) as exc:
        raise StepError(f"signing failed: {exc}") from None
    return written


def _run(argv: list[str]) -> None:
    """Run one step as a subprocess; its own last line is the reason when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # Name the command without the interpreter's path: "modellab registry add", etc.
        words = argv[2:5] if argv[1:2] == ["-m"] else [Path(argv[1]).name, *argv[2:3]]
        reason = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise StepError(f"{' '.join(words)}: {reason[-1] if reason else 'failed'}")


def build(out: Path) -> list[Path]:
    """Check the official index against ``worksets/``, then build every wheel into ``out``."""
    _run([sys.executable, str(ROOT / "tools" / "official_index.py"), "--check"])
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted(p.parent for p in (ROOT / "worksets").glob("*/pyproject.toml")):
        _run(
            [sys.executable, "-m", "modellab", "registry", "build", "--out", str(out), str(source)]
        )
    return sorted(out.glob("*.whl"))


def publish(
    registry: Path, keys: Path, bundles: Path, wheels: list[Path], sigstore_root: Path | None
) -> None:
    """Add each wheel with its bundle to ``registry``, pinned to the official signer.

    An empty or missing ``registry`` is initialised with ``keys`` first.
    """
    from modellab.registry._official import OFFICIAL_SIGNER

    cli = [sys.executable, "-m", "modellab", "registry"]
    if not registry.is_dir() or not any(registry.iterdir()):
        _run([*cli, "init", "--keys", str(keys), str(registry)])
    pin = ["--issuer", OFFICIAL_SIGNER.issuer, "--repository", OFFICIAL_SIGNER.repository]
    if OFFICIAL_SIGNER.workflow:
        pin += ["--workflow", OFFICIAL_SIGNER.workflow]
    if OFFICIAL_SIGNER.ref:
        pin += ["--ref", OFFICIAL_SIGNER.ref]
    if sigstore_root is not None:
        pin += ["--sigstore-root", str(sigstore_root)]
    for wheel in wheels:
        bundle = bundle_path(wheel, bundles)
        if not bundle.is_file():
            raise StepError(f"bundle {bundle}: missing; run 'sign' first")
        _run(
            [
                *cli,
                "add",
                "--keys",
                str(keys),
                "--bundle",
                str(bundle),
                *pin,
                str(registry),
                str(wheel),
            ]
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    b = steps.add_parser("build", help="check the official index, build every workset wheel")
    b.add_argument("--out", type=Path, required=True, metavar="DIR")
    s = steps.add_parser("sign", help="sign wheels keyless (writes WHEEL.sigstore.json)")
    s.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    s.add_argument("--out", type=Path, required=True, metavar="DIR")
    s.add_argument(
        "--trust-config", type=Path, metavar="FILE", help="default: the production Sigstore"
    )
    p = steps.add_parser("publish", help="add signed wheels to the official registry")
    p.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    p.add_argument("--registry", type=Path, required=True, metavar="DIR")
    p.add_argument("--keys", type=Path, required=True, metavar="DIR", help="TUF role keys")
    p.add_argument("--bundles", type=Path, required=True, metavar="DIR")
    p.add_argument("--sigstore-root", type=Path, metavar="FILE", help="tests: a private root")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one release step; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.step == "build":
            for wheel in build(args.out):
                print(wheel)
        elif args.step == "sign":
            for bundle in sign(args.wheels, args.out, args.trust_config):
                print(bundle)
        else:
            publish(args.registry, args.keys, args.bundles, args.wheels, args.sigstore_root)
            print(f"published {len(args.wheels)} wheel(s) to {args.registry}")
    except StepError as exc:
        print(f"release {args.step}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
