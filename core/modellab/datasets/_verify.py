"""The gate at the moment a dataset is used: its approval must still stand, here.

Training on a dataset, or uploading it, sends what it holds somewhere; what it holds came
from an export whose approval may have been withdrawn, replaced or never been this
catalog's. :func:`verify_dataset` checks, before such a use, that this catalog built the
dataset (its audit log names this very manifest) and that the approval it was built from
still stands (:func:`modellab.gate.verify_built_from`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from modellab._internal import jsonio
from modellab.datasets._build import BUILD_ACTION, DATASET_MANIFEST
from modellab.errors import NotApprovedError, UsageError
from modellab.gate import ApprovedExport, verify_built_from
from modellab.store import Catalog

__all__ = ["verify_dataset"]

_REBUILD = "build the dataset again here: 'modellab dataset build EXPORT --out DIR'"


def _built_here(catalog: Catalog, manifest_sha256: str) -> dict[str, str] | None:
    """The catalog's record of the build that wrote this manifest, or ``None``."""
    rows = catalog.query(
        "SELECT details FROM audit_log WHERE action = ? AND details LIKE ? ORDER BY id DESC",
        (BUILD_ACTION, f"%{manifest_sha256}%"),
    )
    for (details,) in rows:
        entry = jsonio.loads(details)
        if isinstance(entry, dict) and entry.get("manifest_sha256") == manifest_sha256:
            return {str(k): str(v) for k, v in entry.items()}
    return None


def verify_dataset(dataset_dir: Path, *, catalog: Catalog) -> ApprovedExport:
    """Return the approval ``dataset_dir`` was built from, if it stands now; else raise.

    :raises UsageError: no readable dataset manifest.
    :raises NotApprovedError: the manifest records no approval, another catalog's, or one
        this catalog never built this dataset from; or the export is gone or unapproved.
    :raises RawExportError: the export is not redacted (now).
    :raises StaleApprovalError: the export changed, or is approved for other files now.
    """
    path = dataset_dir / DATASET_MANIFEST
    try:
        data = path.read_bytes()
        manifest = jsonio.loads(data)
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read ({exc.strerror})",
            hint="give a folder written by 'modellab dataset build'",
        ) from None
    except jsonio.JSONError as exc:
        raise UsageError(f"{path}: {jsonio.describe_json_error(data, exc)}") from None
    record = manifest.get("approval") if isinstance(manifest, dict) else None
    # The catalog check first only for a record that names this catalog: another home's
    # dataset gets the clearer "another Model Lab home" refusal from the gate.
    if isinstance(record, dict) and record.get("catalog_id") == catalog.catalog_id:
        built = _built_here(catalog, hashlib.sha256(data).hexdigest())
        if built is None or built.get("export_dir") != record.get("export_dir"):
            raise NotApprovedError(
                dataset_dir,
                f"this catalog never built this dataset (its {DATASET_MANIFEST} was edited, "
                "or the folder was made elsewhere), so no approval here covers it",
                hint=_REBUILD,
            )
    return verify_built_from(record, catalog, built=dataset_dir, kind="dataset", rebuild=_REBUILD)
