"""index.toml: round trip, field-named errors, and which release find() picks."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from modellab.errors import RegistryError, TrustError
from modellab.registry import Index, KeylessSpec, PinnedKeySpec, SignerSpec
from registry.tuf_helpers import KEY_ID, release

HEX = "0123456789abcdef" * 4
INDEX_TOML = f"""\
format_version = 1

[[release]]
name = "observability"
version = "0.1.0"
artifact = "modellab_observability-0.1.0-py3-none-any.whl"
sha256 = "{HEX}"
size = 12345
bundle = "modellab_observability-0.1.0-py3-none-any.whl.sigstore.json"
bundle_sha256 = "{HEX}"
manifest = "observability-0.1.0.workset.toml"
manifest_sha256 = "{HEX}"
isolation = "shared"
signer = {{ kind = "pinned-key", key_id = "{HEX}" }}

[[release]]
name = "finetune"
version = "2.0.0"
artifact = "modellab_finetune-2.0.0-py3-none-any.whl"
sha256 = "{HEX}"
size = 1
bundle = "modellab_finetune-2.0.0-py3-none-any.whl.sigstore.json"
bundle_sha256 = "{HEX}"
manifest = "finetune-2.0.0.workset.toml"
manifest_sha256 = "{HEX}"
isolation = "venv"
signer = {{ kind = "keyless", issuer = "https://token.actions.githubusercontent.com", \
repository = "https://github.com/acme/ws", \
workflow = "https://github.com/acme/ws/.github/workflows/release.yml" }}
yanked = "broken on Python 3.13"
"""


def parse(text: str) -> Index:
    return Index.from_toml(text.encode(), "index.toml")


def test_parses_both_signer_kinds_and_optional_fields():
    index = parse(INDEX_TOML)
    assert index.names() == ["finetune", "observability"]
    finetune, observability = index.releases  # kept sorted by name
    assert isinstance(observability.signer, PinnedKeySpec)
    assert observability.signer.key_id == HEX
    assert isinstance(finetune.signer, KeylessSpec)
    assert finetune.signer.workflow is not None and finetune.signer.identity is None
    assert finetune.isolation == "venv"
    assert finetune.yanked == "broken on Python 3.13"
    assert observability.revoked is None


def test_round_trip_is_lossless_and_canonical():
    index = parse(INDEX_TOML)
    data = index.to_toml()
    assert parse(data.decode()) == index
    assert parse(data.decode()).to_toml() == data
    # The same releases added in another order serialise to the same bytes.
    reordered = Index(releases=tuple(reversed(index.releases)))
    assert reordered.to_toml() == data
    assert b"yanked" in data and b"identity" not in data  # None fields are left out


def test_empty_index_round_trips():
    assert parse(Index().to_toml().decode()) == Index()
    assert Index().to_toml() == b"format_version = 1\n"


def test_signer_spec_is_a_discriminated_union():
    adapter: TypeAdapter[PinnedKeySpec | KeylessSpec] = TypeAdapter(SignerSpec)
    assert isinstance(adapter.validate_python({"kind": "pinned-key", "key_id": HEX}), PinnedKeySpec)
    keyless = adapter.validate_python(
        {"kind": "keyless", "issuer": "https://issuer", "repository": "https://github.com/a/b"}
    )
    assert isinstance(keyless, KeylessSpec)


def first_release(text: str) -> str:
    return text.split('[[release]]\nname = "finetune"')[0]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (f'sha256 = "{HEX}"', 'sha256 = "XYZ"', "release[0].sha256: 'XYZ' is not a sha256"),
        ("size = 12345", 'size = "12345"', "release[0].size: Input should be a valid integer"),
        ("size = 12345", "size = -1", "release[0].size: Input should be greater than or equal"),
        ('name = "observability"', 'name = "Obs"', "release[0].name: 'Obs' is not a workset"),
        ('name = "observability"', 'name = "obs\\n"', "release[0].name: 'obs\\n' is not a"),
        (f'sha256 = "{HEX}"', f'sha256 = "{HEX}\\n"', "release[0].sha256: "),
        ('version = "0.1.0"', 'version = "one"', "release[0].version: 'one' is not a PEP 440"),
        (
            'artifact = "modellab_observability-0.1.0-py3-none-any.whl"',
            'artifact = "../evil.whl"',
            "release[0].artifact: '../evil.whl' is not a plain file name",
        ),
        ('isolation = "shared"', 'isolation = "none"', "release[0].isolation: Input should be"),
        (f'key_id = "{HEX}"', 'key_id = "short"', "release[0].signer.key_id: 'short' is not"),
        (
            'kind = "pinned-key"',
            'kind = "gpg"',
            "release[0].signer: Input tag 'gpg' found using 'kind'",
        ),
        ('isolation = "shared"', 'isolation = "shared"\nextra = 1', "release[0].extra: Extra"),
        (f'bundle_sha256 = "{HEX}"\n', "", "release[0].bundle_sha256: Field required"),
    ],
)
def test_errors_name_the_source_and_field_path(old, new, expected):
    text = first_release(INDEX_TOML).replace(old, new, 1)
    with pytest.raises(RegistryError) as caught:
        parse(text)
    assert str(caught.value).startswith(f"index.toml: {expected}")


def test_error_path_counts_entries_in_file_order():
    broken = INDEX_TOML.replace('issuer = "https://token', 'issuer = "http://token')
    with pytest.raises(RegistryError, match=r"^index\.toml: release\[1\]\.signer\.issuer: "):
        parse(broken)


def test_registry_errors_are_trust_errors():
    with pytest.raises(TrustError):
        parse("format_version = 1\n[[release]]\n")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"format_version = ", "index.toml: not valid TOML"),
        (b"\xff\xfe", "index.toml: not valid TOML"),
        (b"release = []", "index.toml: format_version: expected 1, got None"),
        (b'format_version = "1"', "index.toml: format_version: expected 1, got '1'"),
    ],
)
def test_unreadable_documents(data, expected):
    with pytest.raises(RegistryError, match=f"^{expected}"):
        Index.from_toml(data, "index.toml")


def test_newer_format_asks_for_an_upgrade():
    with pytest.raises(RegistryError) as caught:
        Index.from_toml(b"format_version = 2\n", "mirror/index.toml")
    assert str(caught.value) == "mirror/index.toml: format_version: expected 1, got 2"
    assert caught.value.hint == "upgrade Model Lab to read this registry"


def test_duplicate_versions_are_refused_even_when_spelled_differently():
    index = Index(releases=(release(version="1.0"),))
    with pytest.raises(RegistryError, match=r"cannot add observability 1\.0\.0: .*duplicates"):
        index.add(release(version="1.0.0", artifact="other.whl", bundle="o.b", manifest="o.m"))
    text = index.add(release(version="2.0")).to_toml().decode()
    doubled = text + text[text.index("[[release]]") :]
    with pytest.raises(RegistryError, match=r"^index\.toml: release\[2\] \(observability 1\.0\)"):
        parse(doubled)


def test_two_releases_cannot_claim_one_file():
    index = Index(releases=(release(version="1.0"),))
    clash = release(version="1.1", bundle=index.releases[0].bundle)
    with pytest.raises(RegistryError, match=r"reuses the file name"):
        index.add(clash)


def test_add_returns_a_new_index():
    empty = Index()
    grown = empty.add(release()).add(release("finetune"))
    assert empty.releases == ()
    assert grown.names() == ["finetune", "observability"]


# ---- find() --------------------------------------------------------------------------------


def catalogue() -> Index:
    return Index(
        releases=(
            release(version="0.9.0"),
            release(version="0.10.0"),  # newer than 0.9.0 by PEP 440, older as a string
            release(version="0.11.0", yanked="crashes on import"),
            release(version="0.12.0", revoked="signing key leaked"),
            release(version="1.0.0rc1"),
            release("beta-only", version="0.1.0b1"),
            release("beta-only", version="0.1.0b2"),
            release("gone", version="1.0", yanked="superseded"),
            release("gone", version="2.0", revoked="malware"),
        )
    )


def test_find_picks_newest_usable_final_release():
    assert catalogue().find("observability").version == "0.10.0"


def test_find_falls_back_to_pre_releases_when_there_is_nothing_else():
    assert catalogue().find("beta-only").version == "0.1.0b2"


def test_find_exact_version_compares_pep440_versions():
    assert catalogue().find("observability", "0.9").version == "0.9.0"
    assert catalogue().find("observability", "1.0.0rc1").version == "1.0.0rc1"


def test_explicit_yanked_version_is_refused_with_its_reason():
    with pytest.raises(RegistryError, match=r"observability 0.11.0 is yanked: crashes on import"):
        catalogue().find("observability", "0.11.0")


def test_revoked_version_is_always_refused():
    with pytest.raises(RegistryError, match=r"observability 0.12.0 is revoked: signing key leaked"):
        catalogue().find("observability", "0.12.0")


def test_unknown_name_lists_what_exists():
    with pytest.raises(RegistryError) as caught:
        catalogue().find("nope")
    assert "it lists: beta-only, gone, observability" in str(caught.value)
    with pytest.raises(RegistryError, match=r"the index is empty"):
        Index().find("nope")


def test_unknown_version_lists_versions_and_their_state():
    with pytest.raises(RegistryError) as caught:
        catalogue().find("observability", "3.0")
    message = str(caught.value)
    assert "observability has no version 3.0" in message
    assert "0.11.0 (yanked: crashes on import)" in message
    assert "0.12.0 (revoked: signing key leaked)" in message


def test_nothing_installable_left():
    expected = r"gone has no installable version: 1\.0 \(yanked: superseded\)"
    with pytest.raises(RegistryError, match=expected):
        catalogue().find("gone")


def test_invalid_requested_version():
    with pytest.raises(RegistryError, match=r"not a PEP 440 version"):
        catalogue().find("observability", "latest")


def test_keyless_signer_must_use_https():
    with pytest.raises(ValueError, match=r"is not an https:// URL"):
        KeylessSpec(issuer="http://issuer", repository="https://github.com/a/b")
    assert PinnedKeySpec(key_id=KEY_ID).kind == "pinned-key"
