"""Precision on real source code nobody here wrote: the packages installed in our own venv.

Every file of the installed third-party packages (Python, JavaScript, JSON, TOML, YAML,
Markdown…: tens of MB from hundreds of authors, fixed by ``uv.lock``) is scanned with the
export's scanner (our rules and kingfisher's provider rules). Code is full of names that
say key, token, secret or password (``token = _get_token()``, ``password: str``,
``private_key = RSAPrivateKey.load(...)``) and of documentation examples
(``postgres://user:pass@localhost``): none of that is a secret, and none may be reported as
one. Run with ``-s`` to see the table. A failure lists file, rule and the value's hash,
never the value.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from pathlib import Path

import pytest

from modellab.redact import RedactionConfig

_SUFFIXES = frozenset(
    {
        ".py",
        ".pyi",
        ".js",
        ".mjs",
        ".ts",
        ".json",
        ".toml",
        ".cfg",
        ".ini",
        ".yaml",
        ".yml",
        ".md",
        ".rst",
        ".txt",
        ".html",
        ".sh",
        ".xml",
    }
)


def _site_packages() -> Path:
    found = sorted(Path(sys.prefix).glob("lib/python3*/site-packages")) or sorted(
        Path(sys.prefix).glob("Lib/site-packages")
    )
    if not found:
        pytest.skip(f"no site-packages under {sys.prefix}")
    return found[0]


@pytest.mark.slow
def test_no_secret_is_reported_in_installed_third_party_code() -> None:
    scanner = RedactionConfig(hash_key=bytes(32)).scanner()
    root = _site_packages()
    files = size = 0
    by_category: Counter[str] = Counter()
    wrong: list[tuple[str, str, str]] = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in _SUFFIXES or not path.is_file():
            continue
        data = path.read_bytes()
        files += 1
        size += len(data)
        text = data.decode("utf-8", "replace")
        for finding in scanner.scan(text):
            by_category[finding.category] += 1
            if finding.category == "secret":
                value = text[finding.start : finding.end]
                digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
                wrong.append((str(path.relative_to(root)), finding.rule_id, digest[:12]))
    print(
        f"\n{files} files, {size / 1e6:.1f} MB of installed third-party code and text; "
        f"findings by category: {dict(by_category)}"
    )
    assert files > 1000 and size > 20_000_000, "the sample is too small to mean anything"
    assert wrong == [], f"{len(wrong)} secret false positives: {wrong[:20]}"
