"""Model servers: ``modellab serve MODEL --backend NAME``, supervised and confined.

A backend (``llama.cpp``, ``vllm``, ``sglang``, ``tgi``, ``ollama``) is registered by a
workset (``serving``) through ``modellab_register_servers``; its handler answers a launch
plan, which the core starts itself, detached and confined (listen on one port, connect
nowhere, read only the model), waits for, checks and smoke-tests
(:func:`start_server`). Each server is a row of the catalog (:class:`Server`);
``serve list | stop | logs`` work on them, and a server killed behind Model Lab's back is
marked ``exited`` by the next command (:func:`reap`).
"""

from __future__ import annotations

from modellab.serving._provider import provider_name, provider_table, provider_toml
from modellab.serving._records import LIVE, Server, find_server, list_servers, reap, served_at
from modellab.serving._resolve import CANDIDATE_PREFIX, ServeTarget, resolve_model
from modellab.serving._serve import ServeOptions, serve_dir, start_server, stop_server

__all__ = [
    "CANDIDATE_PREFIX",
    "LIVE",
    "ServeOptions",
    "ServeTarget",
    "Server",
    "find_server",
    "list_servers",
    "provider_name",
    "provider_table",
    "provider_toml",
    "reap",
    "resolve_model",
    "serve_dir",
    "served_at",
    "start_server",
    "stop_server",
]
