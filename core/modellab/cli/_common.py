"""Helpers every command shares: settings, selections, dates and output."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

# Shared with worksets (through ``modellab.workset``): they live in the public module.
from modellab.cli.options import checked_labels, emit_json, parse_since, selection_from_args

if TYPE_CHECKING:
    from modellab.settings import Settings

__all__ = [
    "checked_labels",
    "emit_json",
    "parse_since",
    "selection_from_args",
    "settings_from_args",
    "warn",
]


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Resolve settings once: flags, then environment, then defaults."""
    from modellab.settings import Settings

    return Settings.from_env(no_worksets=True if args.no_worksets else None)


def warn(message: str) -> None:
    """A warning on stderr (never on stdout, which may carry JSON)."""
    from modellab._internal.term import shown

    # Warnings quote file names and what a file held: shown escaped.
    print(f"modellab: warning: {shown(message, lines=True)}", file=sys.stderr)
