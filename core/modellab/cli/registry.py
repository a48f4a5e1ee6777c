"""``modellab registry``: what workset maintainers and third-party publishers run.

A registry is a folder of TUF metadata and targets. These commands make its keys, build
and sign wheels, add releases (checking the signature before publishing it), yank or
revoke them, re-sign the metadata, and verify everything end to end.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modellab.cli._common import emit_json

if TYPE_CHECKING:
    from modellab.registry import Index, RegistryRepository, Release

__all__ = ["HANDLERS"]

INDEX = "index.toml"


def _repository(args: argparse.Namespace) -> RegistryRepository:
    from modellab.registry import RegistryRepository

    return RegistryRepository(Path(args.registry).expanduser(), Path(args.keys).expanduser())


def _index(repository: RegistryRepository) -> Index:
    from modellab.errors import RegistryError
    from modellab.registry import Index

    try:
        return Index.from_toml(repository.target_bytes(INDEX), INDEX)
    except RegistryError:
        if INDEX in repository.target_names():
            raise
        return Index(releases=())


def cmd_keys(args: argparse.Namespace) -> int:
    """Create TUF role keys, or (``--signing``) a pinned key to sign wheels with."""
    keys_dir = Path(args.keys_dir).expanduser()
    if args.signing:
        from modellab.trust import create_signing_key

        key_id = create_signing_key(keys_dir)
        print(f"Signing key {key_id} written to {keys_dir} (private.pem is mode 0600).")
        return 0
    from modellab.registry import create_keys

    roles = create_keys(keys_dir, root_keys=args.root_keys, root_threshold=args.root_threshold)
    for role, key_id in roles.items():
        print(f"  {role:<9} {key_id}")
    if args.root_keys > 1:
        print(
            f"  root has {args.root_keys} keys (root.pem, root-2.pem, ...); each new root "
            f"version needs {args.root_threshold} of them."
        )
    print(f"TUF role keys written to {keys_dir}. Keep them out of the registry folder.")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create an empty, signed registry."""
    repository = _repository(args)
    repository.init()
    repository.add_targets({INDEX: b"format_version = 1\n"})
    print(f"Registry created at {args.registry}. Users pin {args.registry}/metadata/1.root.json.")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Build a workset's wheel, reproducibly."""
    from modellab.worksets._build import build_wheel

    built = build_wheel(Path(args.source).expanduser(), Path(args.out).expanduser())
    print(f"Built {built.path} (sha256 {built.sha256}).")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign a wheel with a pinned key; the bundle goes beside it."""
    from modellab.trust import sign_with_key

    wheel = Path(args.wheel).expanduser()
    bundle = wheel.with_name(wheel.name + ".sigstore.json")
    key_id = sign_with_key(wheel, Path(args.key).expanduser() / "private.pem", bundle)
    print(f"Signed {wheel.name} with key {key_id}: {bundle}")
    return 0


def _signer_spec(args: argparse.Namespace, files: dict[str, bytes]) -> Any:
    from modellab.errors import UsageError
    from modellab.registry import KeylessSpec, Pep740Spec, PinnedKeySpec
    from modellab.trust import key_id_of

    if args.signing_key:
        public = (Path(args.signing_key).expanduser() / "public.pem").read_bytes()
        key_id = key_id_of(public)
        files[f"{key_id}.pub.pem"] = public  # delivered to users under TUF's protection
        return PinnedKeySpec(key_id=key_id)
    if args.provenance:
        if not (args.repository and args.workflow):
            raise UsageError("--provenance needs --repository OWNER/NAME and --workflow FILE.yml")
        return Pep740Spec(repository=args.repository, workflow=args.workflow)
    if args.issuer and args.repository:
        return KeylessSpec(
            issuer=args.issuer, repository=args.repository, workflow=args.workflow, ref=args.ref
        )
    raise UsageError(
        "name the signer: --signing-key DIR, --issuer and --repository (keyless), or "
        "--provenance with --repository and --workflow (PyPI PEP 740)"
    )


def cmd_add(args: argparse.Namespace) -> int:
    """Add a signed wheel to the index, after checking its signature, and re-sign."""
    from modellab.errors import UsageError
    from modellab.registry import Release
    from modellab.worksets._install import check_requires_dist, verify_release, wheel_manifest
    from modellab.worksets._manifest import load_manifest

    repository = _repository(args)
    wheel = Path(args.wheel).expanduser()
    if args.provenance:
        bundle = Path(args.provenance).expanduser()
    elif args.bundle:
        bundle = Path(args.bundle).expanduser()
    else:
        bundle = wheel.with_name(wheel.name + ".sigstore.json")
    for path, what in ((wheel, "wheel"), (bundle, "signature bundle")):
        if not path.is_file():
            raise UsageError(
                f"{path}: no such {what}", hint="build and sign it first (registry build, sign)"
            )
    data = wheel.read_bytes()
    from modellab.worksets._wheel_safety import check_wheel_bytes

    check_wheel_bytes(data, wheel.name)  # the bytes published: safe entries, bounded size
    shipped, requires = wheel_manifest(wheel)
    manifest, manifest_sha256 = load_manifest(shipped, f"{wheel.name}: workset.toml")
    check_requires_dist(manifest.requirements.python, requires, f"{wheel.name}: workset.toml")
    files: dict[str, bytes] = {}
    signer = _signer_spec(args, files)
    manifest_name = f"{manifest.name}-{manifest.version}.workset.toml"
    release = Release(
        name=manifest.name,
        version=manifest.version,
        artifact=wheel.name,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        bundle=bundle.name,
        bundle_sha256=hashlib.sha256(bundle.read_bytes()).hexdigest(),
        manifest=manifest_name,
        manifest_sha256=manifest_sha256,
        isolation=manifest.requirements.isolation,
        signer=signer,
    )
    key = None
    if args.signing_key:
        key = Path(args.signing_key).expanduser() / "public.pem"
    sigstore_root = Path(args.sigstore_root).expanduser() if args.sigstore_root else None
    # Never publish what would not verify for users.
    verified = verify_release(release, wheel, bundle, key, sigstore_root)
    index = _index(repository).add(release)
    files.update(
        {
            INDEX: index.to_toml(),
            wheel.name: data,
            bundle.name: bundle.read_bytes(),
            manifest_name: shipped,
        }
    )
    repository.add_targets(files)
    from modellab._internal.term import shown

    print(
        shown(f"Added {release.label} to {args.registry} (signed by {verified.signer.describe()})")
        + "; metadata re-signed."
    )
    return 0


def cmd_yank(args: argparse.Namespace) -> int:
    """Mark a release yanked (not picked any more) or revoked (refused for ever)."""
    from modellab.errors import RegistryError
    from modellab.registry import Index

    repository = _repository(args)
    index = _index(repository)
    releases: list[Release] = []
    hit = False
    for release in index.releases:
        if (release.name, release.version) == (args.name, args.release_version):
            field = "revoked" if args.revoke else "yanked"
            release = release.model_copy(update={field: args.reason})
            hit = True
        releases.append(release)
    if not hit:
        raise RegistryError(f"{INDEX}: no release {args.name} {args.release_version}")
    updated = Index(releases=tuple(releases))
    repository.add_targets({INDEX: updated.to_toml()})
    print(f"{args.name} {args.release_version} is now {'revoked' if args.revoke else 'yanked'}.")
    return 0


def cmd_resign(args: argparse.Namespace) -> int:
    """Re-sign the metadata with fresh expiries (run it before the timestamp expires)."""
    _repository(args).resign()
    print(f"Re-signed {args.registry}.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a registry folder: TUF metadata, every target's hash, every signature."""
    from modellab.registry import RegistryRepository
    from modellab.worksets._install import verify_release

    path = Path(args.registry).expanduser()
    sigstore_root = Path(args.sigstore_root).expanduser() if args.sigstore_root else None
    repository = RegistryRepository(path, path / "no-keys-needed")
    lines = repository.verify()
    index = _index(repository)
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for release in index.releases:
            paths = {}
            for name in (release.artifact, release.bundle, release.manifest):
                paths[name] = folder / name
                paths[name].write_bytes(repository.target_bytes(name))
            key = None
            if release.signer.kind == "pinned-key":
                key = folder / f"{release.signer.key_id}.pub.pem"
                key.write_bytes(repository.target_bytes(key.name))
            verified = verify_release(
                release, paths[release.artifact], paths[release.bundle], key, sigstore_root
            )
            from modellab.worksets._wheel_safety import check_wheel

            check_wheel(paths[release.artifact])
            state = (release.revoked and "revoked") or (release.yanked and "yanked") or "ok"
            lines.append(f"{release.label}: signature ok ({verified.signer.describe()}); {state}")
    if args.json:
        emit_json({"registry": str(path), "checks": lines, "ok": True})
    else:
        from modellab._internal.term import shown

        # Release labels and signer identities come from the registry: shown escaped.
        print("\n".join(shown(line) for line in lines))
        print(f"{shown(path)}: every check passed.")
    return 0


HANDLERS = {
    "keys": cmd_keys,
    "init": cmd_init,
    "build": cmd_build,
    "sign": cmd_sign,
    "add": cmd_add,
    "yank": cmd_yank,
    "resign": cmd_resign,
    "verify": cmd_verify,
}
