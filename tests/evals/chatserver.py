"""A scripted OpenAI-compatible chat server on 127.0.0.1, for the runner's failure paths.

It speaks the documented ``POST /v1/chat/completions`` protocol over a real socket. A
``script`` decides each reply from the request and how many times that conversation was
asked before, so tests can make a server that rate-limits, fails, refuses or goes away.
The happy path against a real model is tested with llama-cpp-python's server.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: (status, headers, body) for one request.
Reply = tuple[int, dict[str, str], dict[str, Any] | str]
Script = Callable[[dict[str, Any], int], Reply]


def tool_reply(name: str, arguments: dict[str, Any]) -> Reply:
    """A 200 with one tool call."""
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }
    return 200, {}, _completion(message)


def text_reply(text: str) -> Reply:
    """A 200 with a text answer."""
    return 200, {}, _completion({"role": "assistant", "content": text})


def _completion(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


def conversation_key(body: dict[str, Any]) -> str:
    """Identifies a case by its context: the same case always sends the same messages."""
    return json.dumps(body["messages"], sort_keys=True)


@dataclass
class ChatServer:
    """The running server: its URL and every request it received."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    asked: Counter[str] = field(default_factory=Counter)


@contextmanager
def chat_server(script: Script, *, port: int = 0) -> Iterator[ChatServer]:
    """Serve ``script`` on a loopback port (ephemeral by default) until the block ends."""
    lock = threading.Lock()
    state: dict[str, ChatServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            server = state["server"]
            with lock:
                key = conversation_key(body)
                server.asked[key] += 1
                count = server.asked[key]
                server.requests.append(body)
                server.headers.append(dict(self.headers))
            status, headers, payload = script(body, count)
            data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    state["server"] = ChatServer(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
