"""``modellab serve`` through the real serving workset: a real llama.cpp server on
127.0.0.1, probed, smoke-tested, listed, stopped; a server killed behind Model Lab's back;
and the refusals (a missing stack, a port in use, an unknown model or backend)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from modellab.testing import run_modellab

pytestmark = pytest.mark.slow


def _serve(*argv: str, timeout: float = 300) -> tuple[int, str, str]:
    return run_modellab(["serve", *argv], timeout=timeout)


def _servers(*flags: str) -> list[dict]:
    code, out, err = _serve("list", "--json", *flags)
    assert code == 0, err
    return json.loads(out)


def _audit(home, action: str) -> list[dict]:
    import sqlite3

    with sqlite3.connect(home / "catalog.sqlite3") as db:
        rows = db.execute("SELECT details FROM audit_log WHERE action = ?", (action,)).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_serve_a_gguf_model_list_logs_and_stop(in_serving_lab):
    code, out, err = _serve(in_serving_lab.gguf_model, "--backend", "llama.cpp", "--json")
    assert code == 0, err
    server = json.loads(out)
    assert server["status"] == "running"
    assert server["host"] == "127.0.0.1"
    assert server["base_url"] == f"http://127.0.0.1:{server['port']}/v1"
    assert all(step["ok"] for step in server["smoke"]["steps"]), server["smoke"]
    assert "Smoke test passed" in err
    provider = server["provider"]["modellab-smollm2"]
    assert provider == {
        "kind": "openai-compatible",
        "base_url": server["base_url"],
        "model": server["served_model"],
        "context_window": server["context_window"],
        "auth_mode": "none",
    }
    # A real client gets a real answer from the endpoint it printed.
    answer = httpx.post(
        server["base_url"] + "/chat/completions",
        json={
            "model": server["served_model"],
            "messages": [{"role": "user", "content": "Say hi."}],
            "max_tokens": 4,
        },
        timeout=60,
    )
    assert answer.status_code == 200 and answer.json()["choices"]
    assert [s["id"] for s in _servers()] == [server["id"]]
    # Its HOME is its own writable folder, never the user's (which it cannot read anyway).
    environ = Path(f"/proc/{server['pid']}/environ").read_bytes().split(b"\0")
    home = next(v for v in environ if v.startswith(b"HOME=")).decode()[5:]
    assert home == str(Path(server["log"]).parent / "tmp")
    code, out, _ = _serve("logs", server["id"], "--lines", "5")
    assert code == 0 and out.strip()
    # It ran confined: listen on its port only, connect nowhere, files by Landlock.
    runs = [
        r for r in _audit(in_serving_lab.home, "workset-confined") if r["call"] == "serve:llama.cpp"
    ]
    assert runs and "tcp" in runs[-1]["enforced"] and "files" in runs[-1]["enforced"]
    assert f"port {server['port']} only" in runs[-1]["enforced"]["tcp"]

    code, out, err = _serve("stop", server["id"])
    assert code == 0, err
    assert "Stopped server" in out
    assert _servers() == []
    assert [s["status"] for s in _servers("--all") if s["id"] == server["id"]] == ["stopped"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(server["base_url"] + "/models", timeout=2)
    assert not _alive(server["pid"])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_server_killed_behind_our_back_is_marked_exited_by_the_next_command(in_serving_lab):
    code, out, err = _serve(in_serving_lab.gguf_model, "--json", "--no-smoke")
    assert code == 0, err
    server = json.loads(out)
    os.kill(server["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(server["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers() == []  # the list itself cleaned it up
    (found,) = [s for s in _servers("--all") if s["id"] == server["id"]]
    assert found["status"] == "exited"
    assert "without 'serve stop'" in found["error"]
    code, _, err = _serve("stop", server["id"])
    assert code == 2 and "not running (it is exited)" in err


def test_a_stack_that_is_not_installed_says_what_is_missing(in_serving_lab):
    code, _, err = _serve(in_serving_lab.gguf_model, "--backend", "vllm")
    assert code == 17, err
    assert "vllm" in err and "not" in err
    assert len(err.strip().splitlines()) <= 3  # one error line (and a hint), no traceback
    assert _servers() == []


def test_refusals_before_anything_starts(in_serving_lab):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = _serve(in_serving_lab.gguf_model, "--port", str(port))
        assert code == 2 and f"--port {port}: something already listens" in err
    code, _, err = _serve("no-such-model")
    assert code == 2 and "no-such-model" in err
    code, _, err = _serve(in_serving_lab.gguf_model, "--backend", "nope")
    assert code == 2 and "no server named 'nope'" in err
    code, _, err = _serve("candidate:nothing")
    assert code == 2 and "no candidate 'nothing'" in err
    code, _, err = _serve(in_serving_lab.gguf_model, "--host", "not-an-address")
    assert code == 2 and "is not an IP address" in err
    code, _, err = _serve("stop", "s-000000")
    assert code == 2
    assert _servers() == []


def test_another_address_is_served_only_with_a_warning(in_serving_lab):
    code, out, err = _serve(in_serving_lab.gguf_model, "--host", "0.0.0.0", "--json", "--no-smoke")
    assert code == 0, err
    assert "warning: serving on 0.0.0.0" in err
    server = json.loads(out)
    try:
        assert server["host"] == "0.0.0.0"
    finally:
        assert _serve("stop", server["id"])[0] == 0


def test_list_says_whether_each_server_answers_and_a_second_serve_notes_the_first(
    in_serving_lab,
):
    code, out, err = _serve(in_serving_lab.gguf_model, "--json", "--no-smoke")
    assert code == 0, err
    first = json.loads(out)
    try:
        (listed,) = _servers()
        assert listed["answering"] is True
        os.kill(first["pid"], signal.SIGSTOP)  # alive, but it cannot answer
        try:
            code, out, _ = _serve("list")
            assert code == 0 and "running, not answering" in out
        finally:
            os.kill(first["pid"], signal.SIGCONT)
        code, out, err = _serve(in_serving_lab.gguf_model, "--json", "--no-smoke")
        assert code == 0, err
        assert f"Note: server {first['id']} already serves smollm2 with llama.cpp" in err
        assert len(_servers()) == 2
    finally:
        assert _serve("stop", "--all")[0] == 0
    assert _servers() == []
