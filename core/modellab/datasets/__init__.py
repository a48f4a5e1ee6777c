"""Training datasets built from approved exports: SFT, preference and unpaired rows in
several layouts, grouped or time-ordered splits, de-duplication, token counts and a card.

:func:`build_dataset` reads an export only through the gate's
:class:`~modellab.gate.ApprovedExport`; :func:`verify_dataset` checks, before a dataset is
used, that the approval it was built from still stands.
"""

from modellab.datasets._build import OUTPUT_FILES, BuildOptions, build_dataset
from modellab.datasets._excluded import SESSION_REASONS, describe_exclusions
from modellab.datasets._formats import FORMATS, Format
from modellab.datasets._select import MODES, Filters, Mode
from modellab.datasets._split import SPLITS, SplitMethod
from modellab.datasets._verify import verify_dataset

__all__ = [
    "FORMATS",
    "MODES",
    "OUTPUT_FILES",
    "SESSION_REASONS",
    "SPLITS",
    "BuildOptions",
    "Filters",
    "Format",
    "Mode",
    "SplitMethod",
    "build_dataset",
    "describe_exclusions",
    "verify_dataset",
]
