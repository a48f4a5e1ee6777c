"""The grammar of ``modellab worksets`` (user side) and ``modellab registry`` (publishers).

Kept apart from ``_app`` so each file describes one part of the command line. Only
``argparse`` is used here: this runs on every start.
"""

from __future__ import annotations

import argparse

# Not typing.TYPE_CHECKING: importing typing costs start-up time (see modellab.cli).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    _Add: TypeAlias = Callable[..., argparse.ArgumentParser]
    _Group: TypeAlias = Any  # argparse._SubParsersAction: private; not worth a cast per call

__all__ = ["add_registry_commands", "add_workset_commands", "add_worksets_commands"]


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_worksets_commands(commands: _Group, add: _Add) -> None:
    """``modellab worksets ...``."""
    worksets = add(
        commands,
        "worksets",
        help="install, list, enable and remove signed worksets",
        description="Worksets are optional, signed packs of commands and hooks. Installing "
        "one refreshes a trusted registry, verifies the signature against the pinned "
        "signer, shows the manifest and asks for consent before anything is installed. "
        "Listing, showing, disabling and removing never import workset code.",
    )
    sub = worksets.add_subparsers(dest="worksets_command", metavar="SUBCOMMAND")
    listing = add(sub, "list", help="installed worksets: version, status and trust")
    listing.add_argument(
        "--available",
        action="store_true",
        help="also refresh the trusted registries and list what they offer",
    )
    _json(listing)
    info = add(sub, "info", help="a workset's full manifest, signer and state")
    info.add_argument("name", metavar="NAME")
    _json(info)
    for verb, text in (("install", "install a workset"), ("upgrade", "upgrade a workset")):
        parser = add(
            sub,
            verb,
            help=f"{text} from a trusted registry (verify, consent, uv install)",
            epilog="exit codes: 0 installed, 2 bad arguments, 10 a trust check failed "
            "(nothing was installed)",
        )
        parser.add_argument("spec", metavar="NAME[==VERSION]" if verb == "install" else "NAME")
        parser.add_argument("--registry", metavar="NAME", help="which trusted registry")
        parser.add_argument(
            "--accept-manifest",
            metavar="SHA256",
            help="consent for scripts: the sha256 of the manifest you read (printed by a "
            "first run); anything else is refused",
        )
        _json(parser)
    for verb, text in (
        ("enable", "register a workset's hooks again"),
        ("disable", "stop loading a workset (its files stay)"),
        ("remove", "delete a workset's files and install record"),
    ):
        parser = add(sub, verb, help=text)
        parser.add_argument("name", metavar="NAME")
    verify = add(
        sub,
        "verify",
        help="hash every installed file of a workset (or all) against its install record",
        description="Loading a workset checks its installed files against the record taken "
        "at install, trusting a file whose size and mtime are unchanged; verify hashes every "
        "file. A changed, added or missing file marks the workset tampered: it is never "
        "loaded again until it is removed or reinstalled.",
        epilog="exit codes: 0 every file matches, 1 a workset is tampered or has no install "
        "record of its files, 2 bad arguments",
    )
    verify.add_argument("name", metavar="NAME", nargs="?", help="one workset (default: all)")
    _json(verify)
    backends = add(
        sub,
        "backends",
        help="every importer, grader, trainer, server and remote backend, by name",
        description="List every backend the built-ins and the enabled worksets register: "
        "importers, graders, trainers, servers and remote backends, each with its name "
        "and workset. Each workset is asked in a child process of its own. A backend name "
        "two worksets register is an error naming both.",
        epilog="exit codes: 0 listed, 1 a workset could not be asked or two register the "
        "same name (listed as problems), 2 bad arguments",
    )
    _json(backends)
    audit = add(sub, "audit", help="every install, consent, enable, disable and removal")
    audit.add_argument("--limit", type=int, default=200, metavar="N", help="newest N events")
    _json(audit)
    _add_dev_loop(sub, add)
    trust = add(
        sub,
        "add-registry",
        help="trust a registry: its location and the TUF root you pin for it",
        description="Record a registry (a folder or an http(s) URL) and pin the TUF root "
        "metadata that every later refresh must chain from.",
    )
    trust.add_argument("name", metavar="NAME")
    trust.add_argument("location", metavar="LOCATION", help="a folder or an http(s) URL")
    trust.add_argument("--root", required=True, metavar="FILE", help="the 1.root.json to pin")
    trust.add_argument(
        "--sigstore-root",
        metavar="FILE",
        help="a Sigstore trusted_root.json for keyless bundles (default: the production "
        "root shipped with Model Lab)",
    )


def _add_dev_loop(sub: _Group, add: _Add) -> None:
    """``worksets check``, ``new`` and ``dev``: writing a workset, before any registry."""
    check = add(
        sub,
        "check",
        help="lint a workset's source folder: one line per problem",
        description="Check a workset's source folder without running any of its code: "
        "pyproject.toml and its entry point, every manifest field and string, the version "
        "in one place (pyproject.toml), hooks declared against those implemented "
        "(@hookimpl), commands against Model Lab's and installed worksets', "
        "requirements.python against the dependencies (the wheel's Requires-Dist), and "
        "isolation against heavy imports and dependencies. Each problem is printed as "
        "PATH:FIELD: problem.",
        epilog="exit codes: 0 no problem, 1 problems found (one line each), 2 bad arguments",
    )
    check.add_argument("source", metavar="PATH", help="the workset's source folder")
    _json(check)
    new = add(
        sub,
        "new",
        help="create a workset project that passes 'worksets check' and its own tests",
        description="Write NAME/ (pyproject.toml with the entry point, README.md, "
        "src/modellab_NAME/ with workset.toml, plugin.py and cli.py, and tests/). An "
        "existing folder is never written into.",
        epilog="exit codes: 0 created, 2 bad arguments or the folder exists",
    )
    new.add_argument("name", metavar="NAME", help="the workset's name (and its command's)")
    new.add_argument("--dir", default=".", metavar="DIR", help="where to create NAME/ (default .)")
    new.add_argument(
        "--isolation",
        choices=("shared", "venv"),
        default="shared",
        help="shared (Model Lab's environment) or venv (heavy dependencies); default shared",
    )
    dev = add(
        sub,
        "dev",
        help="run a workset from its source folder: UNSIGNED, UNSAFE, nothing kept",
        description="Check and build a workset's source folder and run it in the same "
        "confined child as an installed workset, with its manifest's policy, but without "
        "a signature or consent: it is marked unsigned and unsafe on stderr, written to "
        "the audit log as workset-dev, never recorded as installed or consented, and "
        "nothing of it is kept. Without COMMAND it loads the workset and lists its "
        "commands and backends.",
        epilog="exit codes: the command's own; else 0 loaded, 2 bad arguments, 10 it fails "
        "'worksets check' or does not load",
    )
    dev.add_argument("source", metavar="PATH", help="the workset's source folder")
    dev.add_argument(
        "dev_argv",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ARGS",
        help="a command the manifest declares, and its arguments",
    )
    _json(dev)


def add_registry_commands(commands: _Group, add: _Add) -> None:
    """``modellab registry ...``: what maintainers and third-party publishers run."""
    registry = add(
        commands,
        "registry",
        help="publish worksets: keys, build, sign, add releases, re-sign, verify",
        description="Maintain a workset registry: a folder of TUF metadata and targets "
        "(index.toml, wheels, Sigstore bundles, manifests, public keys) that can be served "
        "from any static HTTP host. Signing keys never go inside the registry folder.",
    )
    sub = registry.add_subparsers(dest="registry_command", metavar="SUBCOMMAND")
    keys = add(sub, "keys", help="create the TUF role keys, or a workset signing key")
    keys.add_argument("keys_dir", metavar="DIR")
    keys.add_argument(
        "--signing", action="store_true", help="an ECDSA P-256 key to sign wheels with instead"
    )
    keys.add_argument(
        "--root-keys",
        type=int,
        default=1,
        metavar="N",
        help="give the root role N keys (root.pem, root-2.pem, ...); default 1",
    )
    keys.add_argument(
        "--root-threshold",
        type=int,
        default=1,
        metavar="T",
        help="how many root keys must sign each root version (e.g. 2 of 3); default 1",
    )
    init = add(sub, "init", help="create an empty registry signed with the role keys")
    init.add_argument("registry", metavar="REGISTRY")
    init.add_argument("--keys", required=True, metavar="DIR")
    build = add(sub, "build", help="build a workset's wheel from its source folder")
    build.add_argument("source", metavar="WORKSET_DIR")
    build.add_argument("--out", required=True, metavar="DIR")
    sign = add(sub, "sign", help="sign a wheel with a pinned key (writes WHEEL.sigstore.json)")
    sign.add_argument("wheel", metavar="WHEEL")
    sign.add_argument("--key", required=True, metavar="KEY_DIR")
    add_release = add(sub, "add", help="add a signed wheel to the index and re-sign")
    add_release.add_argument("registry", metavar="REGISTRY")
    add_release.add_argument("wheel", metavar="WHEEL")
    add_release.add_argument("--keys", required=True, metavar="DIR", help="the TUF role keys")
    add_release.add_argument("--bundle", metavar="FILE", help="default: WHEEL.sigstore.json")
    add_release.add_argument(
        "--signing-key", metavar="KEY_DIR", help="pinned-key signer: publish its public key"
    )
    add_release.add_argument("--issuer", help="keyless signer: the OIDC issuer")
    add_release.add_argument(
        "--repository",
        help="keyless: the source repository URI; PEP 740: the publisher's OWNER/NAME",
    )
    add_release.add_argument(
        "--workflow", help="keyless: the workflow URI; PEP 740: its file name (release.yml)"
    )
    add_release.add_argument(
        "--ref",
        metavar="PATTERN",
        help="keyless: the git ref the signing run must come from (e.g. 'refs/tags/v*')",
    )
    add_release.add_argument(
        "--provenance",
        metavar="FILE",
        help="PyPI PEP 740 provenance of the wheel (its Integrity API object) as the signature",
    )
    add_release.add_argument(
        "--sigstore-root",
        metavar="FILE",
        help="keyless signer: verify against this trusted_root.json (a private Sigstore)",
    )
    yank = add(sub, "yank", help="mark a release yanked or revoked, with a reason")
    yank.add_argument("registry", metavar="REGISTRY")
    yank.add_argument("name", metavar="NAME")
    yank.add_argument("release_version", metavar="VERSION")
    yank.add_argument("--reason", required=True)
    yank.add_argument("--revoke", action="store_true", help="revoked: refused for ever")
    yank.add_argument("--keys", required=True, metavar="DIR")
    resign = add(sub, "resign", help="re-sign snapshot and timestamp with fresh expiries")
    resign.add_argument("registry", metavar="REGISTRY")
    resign.add_argument("--keys", required=True, metavar="DIR")
    verify = add(sub, "verify", help="check a whole registry folder: metadata, targets, bundles")
    verify.add_argument("registry", metavar="REGISTRY")
    verify.add_argument(
        "--sigstore-root", metavar="FILE", help="trusted_root.json for keyless bundles"
    )
    _json(verify)


def add_workset_commands(commands: _Group, add: _Add, index: dict[str, tuple[str, str]]) -> None:
    """One top-level command per entry of the workset command index (no workset imported).

    The summary comes from a manifest: shown escaped, and with ``%`` doubled, because
    argparse %-formats help strings (a lone ``%`` would crash ``--help``).
    """
    if not index:
        return
    from modellab._internal.term import shown

    for name, (workset, summary) in sorted(index.items()):
        text = shown(f"{summary} [workset {workset}]").replace("%", "%%")
        parser = add(
            commands,
            name,
            help=text,
            add_help=False,
            prefix_chars="\0",  # every argument, --help included, goes to the workset
        )
        parser.add_argument("workset_argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(workset_command=name, workset=workset)
