"""Run one trainer handler in a fresh interpreter, as the confined child would.

    python run_trainer.py REQUEST.json ENGINE [--guard-network LOG]

Prints the ``TrainResult`` as JSON on the last stdout line; on failure prints
``TypeName: message`` on stderr and exits 1 (like the child does).

Why a subprocess: the repository's pytest puts ``tests/`` on ``sys.path``, and
``tests/dataset_build`` there shadows Hugging Face ``datasets``, which TRL imports. A fresh
interpreter also starts with the trainer's offline switches set before any ML import, as
in the real child, and can be killed mid-run.

``--guard-network LOG`` replaces the socket functions that open a network connection or
resolve a name: every attempt is appended to LOG and fails. The no-network test reads LOG.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"


def guard_network(log: Path) -> None:
    """Make every IP connection or name lookup fail loudly, and write it down."""

    def record(what: str, detail: object) -> None:
        with log.open("a") as handle:
            handle.write(f"{what} {detail!r}\n")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            record("connect", address)
            raise OSError(f"network blocked by the test: connect {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            record("connect_ex", address)
            raise OSError(f"network blocked by the test: connect_ex {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        record("getaddrinfo", host)
        raise socket.gaierror(f"network blocked by the test: getaddrinfo {host!r}")

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    log.touch()


def main(argv: list[str]) -> int:
    request_file, engine = Path(argv[0]), argv[1]
    if len(argv) > 3 and argv[2] == "--guard-network":
        guard_network(Path(argv[3]))
    sys.path.insert(0, str(SRC))
    from modellab_unsloth.plugin import train_trl, train_unsloth

    from modellab.workset import TrainRequest

    request = TrainRequest.model_validate_json(request_file.read_text())
    handler = train_unsloth if engine == "unsloth" else train_trl
    try:
        result = handler(request)
    except Exception as error:  # reported the way the confined child reports it
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result.model_dump(mode="json")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
