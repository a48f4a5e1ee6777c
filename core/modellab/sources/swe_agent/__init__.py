"""The SWE-agent trajectory importer (``<instance>.traj``, imported by explicit path)."""

from modellab.sources.swe_agent._importer import PARSER_VERSION, SweAgentImporter, plugin

__all__ = ["PARSER_VERSION", "SweAgentImporter", "plugin"]
