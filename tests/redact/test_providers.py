"""The provider detector (kingfisher-secret-scanner) inside our Scanner.

Values are assembled at run time from seeded randomness (see ``fakes.py``): nothing in this
file looks like a usable key.
"""

from __future__ import annotations

import random
import string

import pytest

from modellab.redact import Scanner, load_rules
from modellab.redact._providers import ProviderDetector, provider_detector, rule_id_for

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def _pick(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


@pytest.fixture(scope="module")
def detector() -> ProviderDetector:
    return provider_detector()


def _github(rng: random.Random) -> str:
    return "ghp" + "_" + _pick(rng, ALNUM, 36)


def _twilio(rng: random.Random) -> str:
    return "S" + "K" + _pick(rng, HEX, 32)


def test_rule_ids_are_ours() -> None:
    assert rule_id_for("betterleaks.github-pat") == "github-pat"
    assert rule_id_for("veles.secrets/sendgrid") == "sendgrid"
    assert rule_id_for("kingfisher.Weird_ID.2") == "weird-id-2"


def test_policy_keeps_secret_helpers_and_drops_ids(detector: ProviderDetector) -> None:
    ids = set(detector.rule_ids())
    assert "aws-secret-access-key" in ids  # not visible in kingfisher, but a secret
    assert "azure-client-id" not in ids  # an id on its own is not a secret
    assert "generic-credential-uri" not in ids  # our url-credentials rule owns it
    assert detector.rule_count > 400


def test_every_occurrence_is_found_with_character_offsets(detector: ProviderDetector) -> None:
    rng = random.Random(3)
    token = _github(rng)
    # Non-ASCII before, between and after: byte offsets must become character offsets.
    text = f"é {token} ü→ {token} 😀 {token}"
    spans = sorted(detector.find(text), key=lambda s: s.start)
    assert len(spans) == 3
    assert all(text[s.start : s.end] == token for s in spans)  # a bool: no value printed


def test_lone_surrogates_do_not_break_offsets(detector: ProviderDetector) -> None:
    token = _twilio(random.Random(4))
    text = f"\ud800 key {token} \udfff"
    (span,) = detector.find(text)
    assert (span.start, span.end) == (text.index(token), text.index(token) + len(token))


def test_scanner_reports_provider_tokens_and_respects_the_allowlist(
    detector: ProviderDetector,
) -> None:
    rng = random.Random(5)
    twilio = _twilio(rng)
    text = f"twilio sid {twilio} and more"
    scanner = Scanner(load_rules(), providers=detector)
    (finding,) = scanner.scan(text)
    assert (finding.rule_id, finding.category, finding.placeholder) == (
        "twilio-api-key",
        "secret",
        "SECRET",
    )
    assert (finding.start, finding.end) == (text.index(twilio), text.index(twilio) + len(twilio))
    allowed = Scanner(load_rules(), providers=detector, allow_hashes={finding.value_sha256})
    assert allowed.scan(text) == []


def test_batched_scans_find_what_single_scans_find(detector: ProviderDetector) -> None:
    rng = random.Random(6)
    texts = [f"line {i}: {_github(rng)} é" if i % 3 else f"plain text {i}" for i in range(60)]
    scanner = Scanner(load_rules(), providers=detector)
    assert scanner.scan_many(texts) == [scanner.scan(t) for t in texts]


def test_overlapping_findings_leave_no_piece_in_clear(detector: ProviderDetector) -> None:
    # A provider token inside a generic assignment: both detectors fire on overlapping
    # spans; the merged finding must cover every character of both.
    token = _github(random.Random(7))
    text = f'GITHUB_TOKEN="{token}"'
    findings = Scanner(load_rules(), providers=detector).scan(text)
    covered = set()
    for f in findings:
        covered.update(range(f.start, f.end))
    start = text.index(token)
    assert set(range(start, start + len(token))) <= covered


def test_a_match_inside_a_longer_token_covers_the_whole_token(detector: ProviderDetector) -> None:
    # The Twilio format is SK + 32 hex; a real token that runs on (or a look-alike prefix
    # in a longer credential) must not leave its tail in clear.
    rng = random.Random(8)
    token = _twilio(rng) + _pick(rng, HEX, 40) + "-" + _pick(rng, ALNUM, 12)
    text = f"token parts {token}; next"
    (finding,) = Scanner(load_rules(), providers=detector).scan(text)
    # "-" is not in the matched value, so the token ends there; nothing of the value is
    # left. (Compared as spans: a failing assertion must never print the value.)
    head = token.split("-")[0]
    assert (finding.start, finding.end) == (text.index(head), text.index(head) + len(head))


def test_widening_never_swallows_the_name_before_a_value() -> None:
    rng = random.Random(9)
    value = _pick(rng, ALNUM, 30) + "=="
    scanner = Scanner(load_rules())
    for text in (f"PASSWORD={value} x", f"export API_TOKEN={value}"):
        findings = scanner.scan(text)
        assert [text[f.start : f.end] for f in findings] == [value]


def test_a_widened_token_that_was_allowlisted_stays(detector: ProviderDetector) -> None:
    rng = random.Random(10)
    token = _twilio(rng) + _pick(rng, HEX, 8)
    text = f"value {token} end"
    scanner = Scanner(load_rules(), providers=detector)
    (finding,) = scanner.scan(text)
    kept = Scanner(load_rules(), providers=detector, allow_hashes={finding.value_sha256})
    assert kept.scan(text) == []


def test_kingfisher_ignore_comments_do_not_hide_a_token(detector: ProviderDetector) -> None:
    # A session is attacker-controlled text: inline "ignore" markers of scanners must not
    # switch redaction off.
    token = _github(random.Random(11))
    for marker in ("# kingfisher:ignore", "# gitleaks:allow", "# pragma: allowlist secret"):
        text = f"x = '{token}'  {marker}"
        findings = Scanner(load_rules(), providers=detector).scan(text)
        assert any(text[f.start : f.end] == token for f in findings), marker


def test_a_rule_whose_group_is_a_repeated_piece_redacts_the_whole_match(
    detector: ProviderDetector,
) -> None:
    # Kingfisher reports a rule's first group; in the Teams webhook rule that group is
    # ``([a-z0-9]{4}-){3}``, a 5-character piece, which left the rest of the URL in clear.
    rng = random.Random(12)

    def guid() -> str:
        return "-".join(_pick(rng, HEX, n) for n in (8, 4, 4, 4, 12))

    url = (
        f"https://acme.webhook.office.com/webhookb2/{guid()}@{guid()}"
        f"/IncomingWebhook/{_pick(rng, HEX, 32)}/{guid()}"
    )
    text = f"é curl -X POST {url} -d @body.json"
    (span,) = detector.find(text)
    assert (span.start, span.end) == (text.index(url), text.index(url) + len(url))
