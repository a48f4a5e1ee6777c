"""The OpenHands evaluation output importer (``output.jsonl``, imported by explicit path).

Reads both generations: V0 rows (``history`` of ``action``/``observation`` events) and V1
rows written by the software-agent-sdk benchmarks (``history`` of ``kind``-tagged events).
"""

from modellab.sources.openhands._importer import PARSER_VERSION, OpenHandsImporter, plugin

__all__ = ["PARSER_VERSION", "OpenHandsImporter", "plugin"]
