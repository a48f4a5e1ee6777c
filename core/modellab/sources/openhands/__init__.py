"""The OpenHands evaluation output importer (``output.jsonl``, imported by explicit path)."""

from modellab.sources.openhands._importer import PARSER_VERSION, OpenHandsImporter, plugin

__all__ = ["PARSER_VERSION", "OpenHandsImporter", "plugin"]
