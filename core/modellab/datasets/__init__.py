"""Training datasets built from approved exports: SFT rows, grouped splits, de-duplication.

Only :func:`build_dataset` reads an export, and it passes the redaction gate first.
"""

from modellab.datasets._build import OUTPUT_FILES, BuildOptions, build_dataset
from modellab.datasets._select import MODES, Filters, Mode

__all__ = ["MODES", "OUTPUT_FILES", "BuildOptions", "Filters", "Mode", "build_dataset"]
