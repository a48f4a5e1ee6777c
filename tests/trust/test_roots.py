"""The vendored production root is pinned by hash; explicit roots are used as given."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from modellab.errors import SignatureError
from modellab.trust import production_trusted_root
from modellab.trust._roots import PRODUCTION_ROOT_SHA256, check_root_digest


def test_vendored_root_matches_its_pinned_hash():
    path = production_trusted_root()
    assert path.name == "production.trusted_root.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == PRODUCTION_ROOT_SHA256
    assert json.loads(path.read_bytes())["mediaType"].startswith(
        "application/vnd.dev.sigstore.trustedroot+json"
    )


def test_vendored_root_is_sigstores_published_one(shared):
    golden = shared / "corpus" / "sigstore-golden" / "trusted_root" / "production.trusted_root.json"
    assert production_trusted_root().read_bytes() == golden.read_bytes()


def test_a_modified_root_is_refused(tmp_path):
    copy = tmp_path / "production.trusted_root.json"
    shutil.copy(production_trusted_root(), copy)
    check_root_digest(copy)  # the unmodified copy passes
    data = json.loads(copy.read_text())
    data["ctlogs"] = data["ctlogs"][:1]  # e.g. a key quietly dropped, or one swapped in
    copy.write_text(json.dumps(data))
    with pytest.raises(SignatureError, match="vendored Sigstore root was modified") as caught:
        check_root_digest(copy)
    assert str(copy) in caught.value.message and PRODUCTION_ROOT_SHA256 in caught.value.message


def test_a_missing_root_is_named(tmp_path):
    with pytest.raises(SignatureError, match="cannot be read") as caught:
        check_root_digest(tmp_path / "absent.json")
    assert str(tmp_path / "absent.json") in caught.value.message


def test_the_pin_is_checked_against_the_file_on_every_load(tmp_path, monkeypatch):
    import modellab.trust._roots as roots

    planted = tmp_path / "production.trusted_root.json"
    planted.write_text('{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}')
    monkeypatch.setattr(roots, "_PRODUCTION_ROOT", planted)
    with pytest.raises(SignatureError, match="modified"):
        production_trusted_root()
