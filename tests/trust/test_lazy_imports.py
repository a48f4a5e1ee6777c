"""Importing modellab.trust (and building its values) loads no signing library.

sigstore, model-signing and pypi-attestations take about a second each to import, and
``modellab --help`` must stay fast, so they load only inside the verifying functions.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sigstore", "model_signing", "pypi_attestations", "tuf", "OpenSSL", "rfc8785")


def test_importing_the_package_loads_no_signing_library(tmp_path):
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import modellab.trust as t\n"
        "t.KeylessSigner('https://issuer.example', 'https://github.com/acme/ws-hf').describe()\n"
        "t.PinnedKeySigner('0' * 64).describe()\n"
        "t.TrustConfig(None, {'0' * 64: Path('k.pem')})\n"
        "t.production_trusted_root()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert [name for name in loaded if name.startswith(HEAVY)] == []
