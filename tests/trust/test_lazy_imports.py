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


def test_pinned_key_signing_and_verifying_load_no_signing_library(tmp_path):
    # Pinned-key bundles are read and written with cryptography alone: model-signing (and
    # the sigstore, protobuf and pydantic models it pulls in) was most of an install's time.
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import modellab.trust as t\n"
        f"root = Path({str(tmp_path)!r})\n"
        "key_id = t.create_signing_key(root / 'keys')\n"
        "wheel = root / 'ws-1.0-py3-none-any.whl'\n"
        "wheel.write_bytes(b'wheel')\n"
        "bundle = root / 'ws.sigstore.json'\n"
        "t.sign_with_key(wheel, root / 'keys' / 'private.pem', bundle)\n"
        "trust = t.TrustConfig(None, {key_id: root / 'keys' / 'public.pem'})\n"
        "verified = t.verify_artifact(wheel, bundle, t.PinnedKeySigner(key_id), trust)\n"
        "assert verified.mode == 'pinned-key'\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert [name for name in loaded if name.startswith((*HEAVY, "pydantic", "google"))] == []
    assert "modellab.trust._keys" in loaded  # the probe really took the pinned-key path
