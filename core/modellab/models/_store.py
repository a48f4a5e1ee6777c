"""The model store: ``MODELLAB_HOME/models/<name>/`` on disk and the ``models`` catalog table.

An install is staged: the source copies the files into ``models/.staging-<pid>-<random>``
(same disk, so the final rename is atomic), the passport is built from those copies, the
caller asks for consent, and :func:`commit_install` records the row and renames the folder
into place inside one catalog transaction. A crash before the rename leaves only a staging
folder (removed by the next install); a crash between the rename and the commit leaves a
folder with no row, which nothing lists or opens and the next install of that name replaces.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from modellab.errors import UsageError
from modellab.models._errors import ModelFileChangedError, ModelNotFoundError
from modellab.models._passport import Passport, build_passport, model_files
from modellab.models._sources import (
    BUILTIN_SOURCES,
    Fetched,
    HfFolderSource,
    ModelSource,
    copy_model_folder,
    find_source,
)
from modellab.settings import Settings
from modellab.store import Catalog, utc_now

__all__ = [
    "InstalledModel",
    "StagedInstall",
    "already_installed",
    "check_name",
    "commit_install",
    "list_installed",
    "models_dir",
    "open_installed",
    "register_candidate",
    "remove_installed",
    "stage_install",
]

#: An installed model's name: it is a folder name and a command-line argument.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_STAGING = ".staging-"
_REMOVING = ".removing-"


def models_dir(settings: Settings) -> Path:
    """Where installed models live: ``MODELLAB_HOME/models``."""
    return settings.home / "models"


def check_name(name: str) -> str:
    """``name`` when it is usable as an installed model's name.

    :raises UsageError: it is not 1-100 letters, digits, ``.``, ``_`` or ``-``, starting
        with a letter or digit.
    """
    if _NAME.fullmatch(name) is None:
        raise UsageError(
            f"model name {name!r} is not usable: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            hint="choose another with --name",
        )
    return name


def _suggested(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:100]
    return cleaned or "model"


@dataclass(frozen=True)
class InstalledModel:
    """A model in the store: its folder, passport, and the sha256 of every file."""

    name: str
    path: Path
    passport: Passport
    #: ``base`` (installed by the user) or ``candidate`` (made by a training run).
    kind: str
    files: dict[str, str]
    source: dict[str, Any]
    license_accepted: str | None
    accepted_at: str | None
    parent: str | None
    train_run: str | None
    installed_at: str

    @property
    def format(self) -> str:
        """``hf`` or ``gguf``."""
        return self.passport.format

    @property
    def weights(self) -> Path:
        """What a loader opens: the GGUF file, or the model folder."""
        if self.format == "gguf":
            return self.path / next(name for name in self.files if name.endswith(".gguf"))
        return self.path

    def verify(self) -> None:
        """Re-hash every file against the hashes recorded at install.

        :raises ModelFileChangedError: a file is missing, changed, or was added; it names
            the file. A changed model is never used silently.
        """
        if not self.path.is_dir():
            raise ModelFileChangedError(self.name, self.path, "the model folder is missing")
        for relative, expected in sorted(self.files.items()):
            path = self.path / relative
            if not path.is_file():
                raise ModelFileChangedError(self.name, path, "the file is missing")
            actual, _ = hash_files_one(path)
            if actual != expected:
                raise ModelFileChangedError(
                    self.name, path, f"sha256 {actual[:12]}… is not the installed {expected[:12]}…"
                )
        extra = {p.as_posix() for p in model_files(self.path)} - set(self.files)
        if extra:
            raise ModelFileChangedError(
                self.name, self.path / sorted(extra)[0], "a file was added after install"
            )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``models info --json`` prints."""
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "parent": self.parent,
            "train_run": self.train_run,
            "license_accepted": self.license_accepted,
            "accepted_at": self.accepted_at,
            "installed_at": self.installed_at,
            "source": self.source,
            "passport": self.passport.model_dump(mode="json"),
        }


def hash_files_one(path: Path) -> tuple[str, int]:
    """The sha256 and size of one file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


_COLUMNS = (
    "name, kind, format, path, passport, files, source, license_accepted, accepted_at, "
    "parent, train_run, installed_at"
)


def _from_row(row: Sequence[Any]) -> InstalledModel:
    (name, kind, _fmt, path, passport, files, source, accepted, at, parent, run, installed) = row
    return InstalledModel(
        name=name,
        path=Path(path),
        passport=Passport.model_validate_json(passport),
        kind=kind,
        files=json.loads(files),
        source=json.loads(source),
        license_accepted=accepted,
        accepted_at=at,
        parent=parent,
        train_run=run,
        installed_at=installed,
    )


def list_installed(catalog: Catalog) -> list[InstalledModel]:
    """Every installed model, by name."""
    return [_from_row(row) for row in catalog.query(f"SELECT {_COLUMNS} FROM models ORDER BY name")]


def open_installed(catalog: Catalog, settings: Settings, name: str) -> InstalledModel:
    """The installed model called ``name`` (call :meth:`InstalledModel.verify` before use).

    :raises ModelNotFoundError: no model has that name.
    """
    del settings  # the row records the folder; kept in the signature for later stores
    rows = catalog.query(f"SELECT {_COLUMNS} FROM models WHERE name = ?", (name,))
    if not rows:
        raise ModelNotFoundError(name)
    return _from_row(rows[0])


# -- staging -------------------------------------------------------------------------------
@dataclass
class StagedInstall:
    """Files fetched into a staging folder, with their passport; not installed yet."""

    name: str
    folder: Path
    passport: Passport
    fetched: Fetched
    source_kind: str

    @property
    def source(self) -> dict[str, Any]:
        """The ``source`` column: kind, location and details."""
        return {
            "kind": self.source_kind,
            "location": self.fetched.location,
            **self.fetched.details,
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(root: Path) -> None:
    """Remove staging and removal folders whose process is gone (a crash left them)."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        for prefix in (_STAGING, _REMOVING):
            if entry.name.startswith(prefix):
                pid = entry.name[len(prefix) :].split("-", 1)[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    _delete(entry)


def _new_temp(root: Path, prefix: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{prefix}{os.getpid()}-{secrets.token_hex(6)}"
    folder.mkdir(mode=0o700)
    return folder


@contextlib.contextmanager
def stage_install(
    settings: Settings,
    spec: str,
    *,
    name: str | None = None,
    sources: Sequence[ModelSource] = BUILTIN_SOURCES,
) -> Iterator[StagedInstall]:
    """Fetch ``spec`` into a staging folder and build its passport.

    The staging folder is removed when the block ends unless :func:`commit_install` renamed
    it into place: an error, a refusal or Ctrl-C leaves nothing behind.

    :raises UsageError: no source handles ``spec``, or the name is not usable.
    :raises ModelFormatError: a model file is damaged.
    """
    if name is not None:
        check_name(name)
    source = find_source(spec, sources)
    root = models_dir(settings)
    _sweep(root)
    staging = _new_temp(root, _STAGING)
    try:
        fetched = source.fetch(spec, staging)
        chosen = name if name is not None else check_name(_suggested(fetched.suggested_name))
        passport = build_passport(
            chosen,
            staging,
            fetched.format,
            source_kind=source.name,
            location=fetched.location,
            details=fetched.details,
            license_hint=fetched.license_hint,
        )
        yield StagedInstall(chosen, staging, passport, fetched, source.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def already_installed(catalog: Catalog, staged: StagedInstall) -> InstalledModel | None:
    """The installed model of the same name with the identical files, if any.

    :raises UsageError: a model of that name is installed with other files.
    """
    rows = catalog.query(f"SELECT {_COLUMNS} FROM models WHERE name = ?", (staged.name,))
    if not rows:
        return None
    installed = _from_row(rows[0])
    if installed.files == staged.passport.provenance.files:
        return installed
    raise UsageError(
        f"a different model named {staged.name!r} is installed (its files differ)",
        hint="install under another --name, or 'modellab models remove' the old one first",
    )


def _insert_and_rename(
    catalog: Catalog,
    settings: Settings,
    staged_folder: Path,
    passport: Passport,
    *,
    kind: str,
    source: dict[str, Any],
    license_accepted: str,
    parent: str | None = None,
    train_run: str | None = None,
) -> InstalledModel:
    root = models_dir(settings)
    final = root / passport.name
    now = utc_now()
    files = passport.provenance.files
    try:
        with catalog.transaction() as db:
            # Under the write lock: no other install is between its rename and its commit.
            if db.execute("SELECT 1 FROM models WHERE name = ?", (passport.name,)).fetchone():
                raise UsageError(f"a model named {passport.name!r} is already installed")
            if final.exists() or final.is_symlink():
                # A folder with no row: a crash after a rename and before its commit. It is
                # under the lab's own models folder, so it is ours to replace.
                _discard(final)
            db.execute(
                f"INSERT INTO models ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    passport.name,
                    kind,
                    passport.format,
                    str(final),
                    passport.model_dump_json(),
                    json.dumps(files, sort_keys=True),
                    json.dumps(source, sort_keys=True),
                    license_accepted,
                    now,
                    parent,
                    train_run,
                    now,
                ),
            )
            catalog.audit(
                db,
                "model.install" if kind == "base" else "model.register",
                {
                    "name": passport.name,
                    "kind": kind,
                    "source": source,
                    "license_accepted": license_accepted,
                    "parent": parent,
                    "train_run": train_run,
                    "files": files,
                },
            )
            # Last, inside the transaction: if the rename fails, the row is rolled back.
            os.rename(staged_folder, final)
    except sqlite3.IntegrityError:
        raise UsageError(f"a model named {passport.name!r} is already installed") from None
    return open_installed(catalog, settings, passport.name)


def commit_install(
    catalog: Catalog, settings: Settings, staged: StagedInstall, *, license_accepted: str
) -> InstalledModel:
    """Record a staged model (kind ``base``) with the licence the user accepted, and move
    its folder into place. The caller has checked consent."""
    return _insert_and_rename(
        catalog,
        settings,
        staged.folder,
        staged.passport,
        kind="base",
        source=staged.source,
        license_accepted=license_accepted,
    )


def register_candidate(
    catalog: Catalog,
    settings: Settings,
    *,
    name: str,
    folder: Path,
    parent: str,
    train_run: str,
    extra_passport: dict[str, Any] | None = None,
) -> InstalledModel:
    """Install what a training run made (a PEFT adapter or a merged model folder, or a
    GGUF) as kind ``candidate``.

    No licence is asked: the candidate inherits its parent's licence and the consent given
    to it, and both are recorded. The files are copied, so the run's folder can go.

    :raises ModelNotFoundError: ``parent`` is not installed.
    :raises UsageError: ``name`` is not usable or taken.
    """
    check_name(name)
    parent_model = open_installed(catalog, settings, parent)
    if not folder.exists():
        raise UsageError(f"{folder}: no such folder or file to register as {name!r}")
    root = models_dir(settings)
    _sweep(root)
    staging = _new_temp(root, _STAGING)
    try:
        ggufs = sorted(folder.glob("*.gguf")) if folder.is_dir() else [folder]
        if folder.is_file() or (ggufs and not HfFolderSource().matches(str(folder))):
            shutil.copyfile(ggufs[0], staging / ggufs[0].name)
            fmt: Literal["hf", "gguf"] = "gguf"
        else:
            copy_model_folder(folder, staging)
            fmt = "hf"
        details = {"train_run": train_run, "parent": parent}
        passport = build_passport(
            name,
            staging,
            fmt,
            source_kind="training",
            location=str(folder.resolve()),
            details=details,
            license_hint=parent_model.passport.license,
            extra=extra_passport,
        )
        # The parent's licence binds its fine-tunes, whatever a generated card says.
        passport = passport.model_copy(
            update={
                "license": parent_model.passport.license,
                "base_model": passport.base_model or parent,
            }
        )
        return _insert_and_rename(
            catalog,
            settings,
            staging,
            passport,
            kind="candidate",
            source={"kind": "training", "location": str(folder.resolve()), **details},
            license_accepted=parent_model.license_accepted or parent_model.passport.license_id,
            parent=parent,
            train_run=train_run,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _discard(path: Path) -> None:
    """Move ``path`` aside (atomic), then delete it: a crash never leaves half a model."""
    aside = path.parent / f"{_REMOVING}{os.getpid()}-{secrets.token_hex(6)}"
    os.rename(path, aside)
    _delete(aside)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_installed(catalog: Catalog, settings: Settings, name: str) -> InstalledModel:
    """Delete an installed model's row and the folder the lab created for it.

    Only a folder directly under ``MODELLAB_HOME/models`` with the model's name is ever
    deleted, whatever the row says.

    :raises ModelNotFoundError: no model has that name.
    """
    model = open_installed(catalog, settings, name)
    root = models_dir(settings)
    expected = root / model.name
    aside: Path | None = None
    try:
        with catalog.transaction() as db:
            db.execute("DELETE FROM models WHERE name = ?", (name,))
            catalog.audit(db, "model.remove", {"name": name, "kind": model.kind})
            if model.path == expected and (expected.exists() or expected.is_symlink()):
                aside = root / f"{_REMOVING}{os.getpid()}-{secrets.token_hex(6)}"
                os.rename(expected, aside)
    except BaseException:
        # The row is kept (rolled back), so the folder goes back where it was.
        if aside is not None and aside.exists():
            os.rename(aside, expected)
        raise
    if aside is not None:
        _delete(aside)
    return model
