"""What the catalog knows about worksets: trusted registries, installs, consents, audit.

Every change here is one SQLite transaction with its audit-log entry, so the record of
who consented to what, and when, can never disagree with what is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modellab._internal import jsonio
from modellab.store import Catalog, utc_now

__all__ = [
    "REGISTRY_NAME",
    "InstallRecord",
    "RegistryRecord",
    "WorksetState",
    "check_registry_name",
]

#: A registry's name: a plain name, never a path (it names ``$MODELLAB_HOME/registries/NAME``).
#: Letters, digits, ``-``, ``_`` and ``.``, starting with a letter or digit, at most 64.
REGISTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_registry_name(name: str) -> str:
    """Return ``name`` if it is a plain registry name; raise before anything touches disk.

    :raises modellab.errors.UsageError: naming the value and what a name may hold.
    """
    if not REGISTRY_NAME.fullmatch(name):
        from modellab.errors import UsageError

        raise UsageError(
            f"registry NAME {name!r}: not a plain name",
            hint="use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or "
            "digit (a name, never a path)",
        )
    return name


INSTALLING, INSTALLED, REMOVING = "installing", "installed", "removing"
#: Installed files differ from what was recorded at install: never loaded again until it is
#: reinstalled or removed (the state stays even if the files are put back).
TAMPERED = "tampered"


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """A registry the user added, with the sha256 of the TUF root they pinned."""

    name: str
    location: str
    root_sha256: str
    added_at: str


@dataclass(frozen=True, slots=True)
class InstallRecord:
    """One installed (or half-installed) workset."""

    name: str
    version: str
    state: str
    enabled: bool
    isolation: str
    location: str
    registry: str
    artifact_sha256: str
    manifest_sha256: str
    signer: dict[str, Any]
    updated_at: str
    #: Every installed file: {path: [sha256, size, mtime_ns]} (see ``_files``); ``None`` for
    #: an install made before files were recorded.
    files: dict[str, list[Any]] | None = None


class WorksetState:
    """Reads and writes the workset tables of ``catalog``; ``who`` signs consents."""

    def __init__(self, catalog: Catalog, who: str = "") -> None:
        self._catalog = catalog
        self._who = who

    # -- registries -----------------------------------------------------------------------
    def add_registry(self, name: str, location: str, root_sha256: str) -> None:
        """Trust a registry (replacing one of the same name); ``name`` must be plain."""
        check_registry_name(name)
        with self._catalog.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO registries VALUES (?, ?, ?, ?)",
                (name, location, root_sha256, utc_now()),
            )
            self._catalog.audit(
                db, "registry-add", {"name": name, "location": location, "root": root_sha256}
            )

    def registries(self) -> list[RegistryRecord]:
        """Every trusted registry, by name."""
        rows = self._catalog.query("SELECT * FROM registries ORDER BY name")
        return [RegistryRecord(*map(str, row)) for row in rows]

    # -- installs -------------------------------------------------------------------------
    def installs(self) -> list[InstallRecord]:
        """Every install record, by name (including ones a crash left half-done)."""
        rows = self._catalog.query("SELECT * FROM workset_installs ORDER BY name")
        return [_install(row) for row in rows]

    def install(self, name: str) -> InstallRecord | None:
        """The install record of ``name``, if any."""
        rows = self._catalog.query("SELECT * FROM workset_installs WHERE name = ?", (name,))
        return _install(rows[0]) if rows else None

    def begin(self, record: InstallRecord) -> None:
        """Record that an install of ``record`` started (state ``installing``)."""
        with self._catalog.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO workset_installs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.name,
                    record.version,
                    INSTALLING,
                    int(record.enabled),
                    record.isolation,
                    record.location,
                    record.registry,
                    record.artifact_sha256,
                    record.manifest_sha256,
                    jsonio.dumps(record.signer, sort_keys=True).decode(),
                    utc_now(),
                    None if record.files is None else jsonio.dumps(record.files).decode(),
                ),
            )
            self._catalog.audit(
                db,
                "workset-install-start",
                {
                    "name": record.name,
                    "version": record.version,
                    "files": len(record.files or ()),
                },
            )

    def finish(self, name: str, *, enabled: bool) -> None:
        """Mark an install complete, and enable its hooks or not."""
        self._set(name, "workset-install", state=INSTALLED, enabled=enabled)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable an installed workset's hooks."""
        self._set(name, "workset-enable" if enabled else "workset-disable", enabled=enabled)

    def mark_tampered(self, name: str, version: str, problems: list[str]) -> None:
        """Record that ``name``'s installed files are not the ones recorded at install."""
        with self._catalog.transaction() as db:
            changed = db.execute(
                "UPDATE workset_installs SET state = ?, updated_at = ? WHERE name = ? "
                "AND version = ? AND state = ?",
                (TAMPERED, utc_now(), name, version, INSTALLED),
            ).rowcount
            if changed:
                self._catalog.audit(
                    db,
                    "workset-tampered",
                    {"name": name, "version": version, "differences": problems[:50]},
                )

    def mark_removing(self, name: str) -> None:
        """Record that a removal started (so a crash midway is finished next time)."""
        self._set(name, "workset-remove-start", state=REMOVING, enabled=False)

    def forget(self, name: str, action: str = "workset-remove") -> None:
        """Drop the install record (after its files are gone)."""
        with self._catalog.transaction() as db:
            db.execute("DELETE FROM workset_installs WHERE name = ?", (name,))
            self._catalog.audit(db, action, {"name": name})

    def _set(self, name: str, action: str, **values: Any) -> None:
        columns = ", ".join(f"{column} = ?" for column in values)
        params = [int(v) if isinstance(v, bool) else v for v in values.values()]
        with self._catalog.transaction() as db:
            db.execute(
                f"UPDATE workset_installs SET {columns}, updated_at = ? WHERE name = ?",
                (*params, utc_now(), name),
            )
            self._catalog.audit(db, action, {"name": name, **values})

    # -- consent --------------------------------------------------------------------------
    def record_consent(
        self, name: str, version: str, manifest_sha256: str, signer: dict[str, Any]
    ) -> None:
        """Record that the user accepted exactly this manifest from exactly this signer."""
        signer_json = jsonio.dumps(signer, sort_keys=True).decode()
        with self._catalog.transaction() as db:
            db.execute(
                "INSERT INTO workset_consents (name, version, manifest_sha256, signer, "
                "consented_at, consented_by) VALUES (?, ?, ?, ?, ?, ?)",
                (name, version, manifest_sha256, signer_json, utc_now(), self._who),
            )
            self._catalog.audit(
                db,
                "workset-consent",
                {"name": name, "version": version, "manifest_sha256": manifest_sha256},
            )

    def has_consent(self, name: str, manifest_sha256: str, signer: dict[str, Any]) -> bool:
        """Whether the user consented to this exact manifest from this exact signer."""
        signer_json = jsonio.dumps(signer, sort_keys=True).decode()
        rows = self._catalog.query(
            "SELECT 1 FROM workset_consents WHERE name = ? AND manifest_sha256 = ? "
            "AND signer = ? LIMIT 1",
            (name, manifest_sha256, signer_json),
        )
        return bool(rows)

    # -- audit ----------------------------------------------------------------------------
    def audit_log(self, limit: int = 200) -> list[tuple[str, str, dict[str, Any]]]:
        """(time, action, details) of workset and registry events, newest last."""
        rows = self._catalog.query(
            "SELECT at, action, details FROM audit_log WHERE action LIKE 'workset-%' "
            "OR action LIKE 'registry-%' ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [(str(at), str(action), dict(jsonio.loads(d))) for at, action, d in reversed(rows)]


def _install(row: tuple[Any, ...]) -> InstallRecord:
    values = list(row)
    values[3] = bool(values[3])
    values[9] = dict(jsonio.loads(values[9]))
    if len(values) > 11 and values[11] is not None:
        values[11] = dict(jsonio.loads(values[11]))
    return InstallRecord(*values)
