"""``modellab.testing``: the kit for testing a workset through Model Lab's real flows.

Its pytest plugin (``modellab.testing.plugin``; load it with ``-p modellab.testing.plugin``
or ``pytest_plugins = ["modellab.testing.plugin"]`` in a ``conftest.py``) gives these
fixtures, each working in a private temporary home and never touching the network:

* ``modellab_home``: a private ``MODELLAB_HOME`` and ``HOME``, set in the environment;
  returns the ``Settings``.
* ``workset_registry``: a signed local registry (a :class:`WorksetRegistry`) trusted by
  that home; ``.publish(source_dir)`` returns the release.
* ``install_workset``: ``install_workset(name)`` installs through the real flow, with
  consent given by the manifest's sha256; returns the install record.
* ``approved_export``: ``approved_export(files=None)`` imports sessions (or the bundled
  sample), exports them redacted and approves; returns an ``ApprovedExport``.
* ``run_workset``: ``run_workset(name, *args)`` runs ``modellab NAME ARGS...`` in a
  child process; returns ``(code, stdout, stderr)``.

The names below are for tests that need more than the fixtures; ``codewhale`` builds
synthetic CodeWhale session files (``saved_session``, ``user``, ``assistant``, ``result``,
``write_session``).
"""

from __future__ import annotations

from modellab.testing import codewhale
from modellab.testing._builders import make_workset
from modellab.testing._cli import cli, run_modellab
from modellab.testing._flows import sample_sessions
from modellab.testing._registry import WorksetRegistry

__all__ = [
    "WorksetRegistry",
    "cli",
    "codewhale",
    "make_workset",
    "run_modellab",
    "sample_sessions",
]
