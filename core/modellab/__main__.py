"""``python -m modellab``: the same entry point as the ``modellab`` command."""

from modellab.cli import run_command

run_command()
