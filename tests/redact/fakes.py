"""Realistic FAKE credentials and personal data, one generator per rule in ``rules.toml``.

Every value is assembled at run time from a seeded ``random.Random``: right prefix, length,
alphabet and checksum (Luhn for cards), random everywhere else. No literal in this file looks
like a usable key, so secret scanners and push protection have nothing to flag here.

``FAKES[rule_id](rng)`` returns the sensitive value itself (what must never survive an
export). ``in_context(rule_id, value, rng)`` returns it the way it shows up in real text
(``GITHUB_TOKEN=…``, a connection string, a URL, an ``Authorization`` header), and
``JSON_KEYS`` names the object key under which JSON carriers hold it.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from typing import Any

from modellab.redact import load_rules

__all__ = ["FAKES", "JSON_KEYS", "in_context", "luhn_complete"]

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
LETTERS = string.ascii_letters
DIGITS = string.digits
ALNUM = LETTERS + DIGITS
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
DASHES = "-" * 5


def _pick(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def luhn_complete(rng: random.Random, prefix: str, size: int) -> str:
    """A ``size``-digit number starting with ``prefix`` whose last digit makes Luhn pass."""
    body = prefix + _pick(rng, DIGITS, size - len(prefix) - 1)
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


# ---- cloud providers ---------------------------------------------------------------------


def aws_access_key_id(rng: random.Random) -> str:
    prefix = rng.choice(["AK", "AS", "AR", "AI"])
    prefix += {"AK": "IA", "AS": "IA", "AR": "OA", "AI": "DA"}[prefix]
    return prefix + _pick(rng, UPPER + "234567", 16)


def aws_secret_access_key(rng: random.Random) -> str:
    return _pick(rng, B64, 40)


def gcp_api_key(rng: random.Random) -> str:
    return "AI" + "za" + _pick(rng, URLSAFE, 35)


def gcp_oauth_client_secret(rng: random.Random) -> str:
    return "GOC" + "SPX-" + _pick(rng, URLSAFE, 28)


def gcp_service_account_key(rng: random.Random) -> str:
    return _pick(rng, HEX, 40)


def azure_storage_key(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(64)).decode()  # 86 characters and "=="


def azure_sas_signature(rng: random.Random) -> str:
    raw = base64.b64encode(rng.randbytes(32)).decode()
    return raw.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def azure_client_secret(rng: random.Random) -> str:
    tail = ALNUM + "_~.-"
    return (
        _pick(rng, ALNUM, 3)
        + rng.choice(DIGITS)
        + "Q~"
        + _pick(rng, tail, rng.randint(31, 34) - 1)
        + rng.choice(ALNUM)
    )


# ---- LLM and ML vendors ------------------------------------------------------------------


def anthropic_key(rng: random.Random) -> str:
    kind = rng.choice(["api03", "admin01"])
    return "sk-" + "ant-" + kind + "-" + _pick(rng, URLSAFE, 93) + "AA"


def openrouter_key(rng: random.Random) -> str:
    return "sk-" + "or-v1-" + _pick(rng, HEX, 64)


def openai_key(rng: random.Random) -> str:
    if rng.random() < 0.3:
        marker = base64.b64encode(b"OpenAI").decode()
        return "sk-" + _pick(rng, ALNUM, 20) + marker + _pick(rng, ALNUM, 20)
    kind = rng.choice(["proj", "svcacct", "admin"])
    return "sk-" + kind + "-" + _pick(rng, URLSAFE, rng.choice([48, 74, 156])) + rng.choice(ALNUM)


def deepseek_key(rng: random.Random) -> str:
    return "sk-" + (_pick(rng, HEX, 32) if rng.random() < 0.7 else _pick(rng, ALNUM, 48))


def huggingface_token(rng: random.Random) -> str:
    return rng.choice(["hf_", "api_" + "org_"]) + _pick(rng, LETTERS, 34)


def together_key(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "tgp_" + "v1_" + _pick(rng, URLSAFE, 42) + rng.choice(ALNUM)
    return _pick(rng, HEX, 64)  # the older form, recognised by its TOGETHER_* name


def fireworks_key(rng: random.Random) -> str:
    return "fw_" + _pick(rng, ALNUM, 24)


def nvidia_key(rng: random.Random) -> str:
    return "nv" + "api-" + _pick(rng, URLSAFE, 63) + rng.choice(ALNUM)


def replicate_token(rng: random.Random) -> str:
    return "r8_" + _pick(rng, ALNUM, 37)


def groq_key(rng: random.Random) -> str:
    return "gsk_" + _pick(rng, ALNUM, 52)


def mistral_key(rng: random.Random) -> str:
    return _pick(rng, ALNUM, 32)


# ---- version control, CI, chat, payments, registries ------------------------------------


def github_token(rng: random.Random) -> str:
    return "gh" + rng.choice("pousr") + "_" + _pick(rng, ALNUM, 36)


def github_fine_grained_token(rng: random.Random) -> str:
    return "github_" + "pat_" + _pick(rng, ALNUM, 22) + "_" + _pick(rng, ALNUM, 59)


def gitlab_token(rng: random.Random) -> str:
    prefix = rng.choice(["glpat", "gldt", "glrt", "glcbt", "glptt", "glft"])
    return prefix + "-" + _pick(rng, URLSAFE, 19) + rng.choice(ALNUM)


def slack_token(rng: random.Random) -> str:
    kind = rng.choice(["bot", "user", "app"])
    if kind == "bot":
        return (
            "xo"
            + "xb-"
            + _pick(rng, DIGITS, 12)
            + "-"
            + _pick(rng, DIGITS, 13)
            + "-"
            + (_pick(rng, ALNUM, 24))
        )
    if kind == "user":
        digits = "-".join(_pick(rng, DIGITS, 12) for _ in range(3))
        return "xo" + "xp-" + digits + "-" + _pick(rng, HEX, 32)
    return (
        "xa"
        + "pp-1-A"
        + _pick(rng, UPPER + DIGITS, 10)
        + "-"
        + _pick(rng, DIGITS, 13)
        + ("-" + _pick(rng, HEX, 64))
    )


def slack_webhook(rng: random.Random) -> str:
    return (
        "https://hooks.slack.com/services/T"
        + _pick(rng, UPPER + DIGITS, 8)
        + "/B"
        + _pick(rng, UPPER + DIGITS, 10)
        + "/"
        + _pick(rng, ALNUM, 24)
    )


def discord_bot_token(rng: random.Random) -> str:
    # The first part is the bot's numeric id in base64, which is why it starts with M, N or O.
    user_id = _b64url(str(rng.randint(10**17, 10**19 - 1)).encode())
    return user_id + "." + _pick(rng, URLSAFE, 6) + "." + _pick(rng, URLSAFE, 37) + "A"


def discord_webhook(rng: random.Random) -> str:
    return (
        "https://discord.com/api/webhooks/"
        + str(rng.randint(10**17, 10**18 - 1))
        + "/"
        + _pick(rng, URLSAFE, 67)
        + rng.choice(ALNUM)
    )


def telegram_bot_token(rng: random.Random) -> str:
    return str(rng.randint(10**8, 10**10 - 1)) + ":A" + "A" + _pick(rng, URLSAFE, 32) + "Q"


def stripe_key(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return "wh" + "sec_" + _pick(rng, ALNUM, 32)
    prefix = rng.choice(["sk", "rk"]) + "_" + rng.choice(["live", "test"]) + "_"
    return prefix + _pick(rng, ALNUM, rng.choice([24, 99]))


def npm_token(rng: random.Random) -> str:
    return "npm_" + _pick(rng, ALNUM, 36)


def pypi_token(rng: random.Random) -> str:
    # A macaroon: version, location "pypi.org", identifier, then caveats and a signature.
    head = b"\x02\x01\x08pypi.org\x02" + bytes([37]) + b"\x00\x01\x02"
    return "py" + "pi-" + _b64url(head + rng.randbytes(rng.randint(60, 140)))


# ---- keys, tokens and credentials in general ---------------------------------------------


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED ", "PGP ", "DSA "])
    label = f"{kind}PRIVATE KEY" + (" BLOCK" if kind == "PGP " else "")
    body = base64.b64encode(rng.randbytes(rng.randint(120, 900))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    if kind == "PGP ":
        lines = ["Version: GnuPG v2", "", *lines, "=" + _pick(rng, B64, 4)]
    elif kind == "RSA " and rng.random() < 0.3:
        iv = _pick(rng, "0123456789ABCDEF", 32)
        lines = ["Proc-Type: 4,ENCRYPTED", f"DEK-Info: AES-256-CBC,{iv}", "", *lines]
    return "\n".join([f"{DASHES}BEGIN {label}{DASHES}", *lines, f"{DASHES}END {label}{DASHES}"])


def putty_private_key(rng: random.Random) -> str:
    """A whole PuTTY .ppk file (format 2 or 3), private lines and MAC included."""
    version = rng.choice([2, 3])
    kind = rng.choice(["ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256"])
    public = base64.b64encode(rng.randbytes(rng.randint(51, 400))).decode()
    private = base64.b64encode(rng.randbytes(rng.randint(48, 1200))).decode()
    public_lines = [public[i : i + 64] for i in range(0, len(public), 64)]
    private_lines = [private[i : i + 64] for i in range(0, len(private), 64)]
    encrypted = rng.random() < 0.5
    lines = [
        f"PuTTY-User-Key-File-{version}: {kind}",
        "Encryption: " + ("aes256-cbc" if encrypted else "none"),
        f"Comment: {kind.split('-')[-1]}-key-2024{rng.randint(1000, 1231)}",
        f"Public-Lines: {len(public_lines)}",
        *public_lines,
    ]
    if version == 3 and encrypted:
        lines += [
            "Key-Derivation: Argon2id",
            "Argon2-Memory: 8192",
            "Argon2-Passes: 13",
            "Argon2-Parallelism: 1",
            "Argon2-Salt: " + _pick(rng, HEX, 32),
        ]
    lines += [f"Private-Lines: {len(private_lines)}", *private_lines]
    lines.append("Private-MAC: " + _pick(rng, HEX, 64 if version == 3 else 40))
    return "\n".join(lines)


def kubernetes_secret_data(rng: random.Random) -> str:
    """A base64 value of a Kubernetes Secret's data (a password, a token, a config file)."""
    inner = rng.choice(
        [url_credentials(rng), _pick(rng, ALNUM, 40), f"admin:{url_credentials(rng)}"]
    )
    return base64.b64encode(inner.encode()).decode()


def jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    claims = {
        "sub": _pick(rng, ALNUM, 12),
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
        "scope": "repo",
    }
    if rng.random() < 0.2:  # identity-provider tokens run to kilobytes
        claims["groups"] = [_pick(rng, HEX, 32) for _ in range(rng.randint(20, 80))]
    payload = _b64url(json.dumps(claims).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(rng.choice([32, 256])))}"


def bearer_token(rng: random.Random) -> str:
    return (
        _pick(rng, ALNUM, rng.randint(28, 60))
        + rng.choice(["", ".", "-", "_"])
        + (_pick(rng, ALNUM, 8))
    )


def http_authorization(rng: random.Random) -> str:
    """The credentials of an ``Authorization`` header: Basic user:password, or a token."""
    if rng.random() < 0.6:
        user = rng.choice(["deploy", "ci-bot", "admin", "api"])
        return base64.b64encode(f"{user}:{url_credentials(rng)}".encode()).decode()
    return _pick(rng, ALNUM, rng.randint(24, 64))


def http_cookie(rng: random.Random) -> str:
    """The name=value pairs of a ``Cookie`` header, at least one of them a session."""
    name = rng.choice(["session", "sid", "_gh_sess", "connect.sid", "JSESSIONID", "laravel_sess"])
    pairs = [f"{name}={_pick(rng, URLSAFE, rng.randint(24, 160))}"]
    if rng.random() < 0.5:
        pairs.append(rng.choice(["theme=dark", "lang=en", "_ga=GA1.2.1234.5678"]))
    rng.shuffle(pairs)
    return "; ".join(pairs)


def curl_credentials(rng: random.Random) -> str:
    """``user:password`` after ``curl -u``, or an API key as the user with no password."""
    if rng.random() < 0.25:
        return "sk_" + _pick(rng, ALNUM, 32) + ":"
    return rng.choice(["deploy", "ci-bot", "api", "jenkins"]) + ":" + url_credentials(rng)


def url_credentials(rng: random.Random) -> str:
    """The password part of ``scheme://user:password@host``."""
    return (
        _pick(rng, ALNUM, rng.randint(6, 20))
        + rng.choice("!*_-.~")
        + rng.choice(DIGITS)
        + _pick(rng, LOWER, 1)
        + _pick(rng, ALNUM, 4)
    )


def secret_assignment(rng: random.Random) -> str:
    """A password or secret that only its variable name gives away."""
    symbols = "!#%^&*_-.+~"
    while True:
        value = rng.choice(LETTERS) + _pick(rng, ALNUM + symbols, rng.randint(10, 30))
        value += rng.choice("!#%^&*~") + rng.choice(ALNUM)  # a final "." would be punctuation
        if any(c.isdigit() for c in value) and any(c.isupper() for c in value):
            return value


def secret_key_assignment(rng: random.Random) -> str:
    """A random key (hex, base64 or a UUID) under a name that ends in key."""
    kind = rng.choice(["hex", "b64", "uuid"])
    if kind == "hex":
        return _pick(rng, HEX, rng.choice([32, 64]))
    if kind == "uuid":
        return uuid_value(rng)
    return base64.b64encode(rng.randbytes(rng.choice([24, 32, 48]))).decode()


def uuid_value(rng: random.Random) -> str:
    """A random version-4 UUID (Heroku API keys, many vendors' keys look like one)."""
    digits = _pick(rng, HEX, 32)
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{rng.choice('89ab')}{digits[17:20]}"
        f"-{digits[20:]}"
    )


def long_token(rng: random.Random, size: int) -> str:
    """A ``size``-character token: 1Password service-account tokens (ops_eyJ…, up to ~900
    characters), AWS Bedrock keys (ABSK…), session blobs."""
    kind = rng.choice(["ops", "absk", "plain"])
    if kind == "ops":
        blob = _b64url(json.dumps({"signInAddress": "my.1password.com", "k": ""}).encode())
        return ("ops_" + blob + _pick(rng, URLSAFE, size))[:size]
    if kind == "absk":
        return ("ABSK" + base64.b64encode(rng.randbytes(size)).decode())[:size]
    return _pick(rng, ALNUM, size)


# ---- personal data -----------------------------------------------------------------------

_DOMAINS = ["acme-corp.io", "mailbox.org", "fastmail.fm", "uni-berlin.de", "corp.example.net"]


def email(rng: random.Random) -> str:
    local = _pick(rng, LOWER, rng.randint(3, 8)) + rng.choice(["", ".", "_", "+"])
    local += _pick(rng, LOWER + DIGITS, rng.randint(2, 6))
    domain = rng.choice(_DOMAINS).replace("example.net", _pick(rng, LOWER, 5) + ".net")
    return f"{local}@{domain}"


def phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        area = str(rng.randint(2, 9)) + _pick(rng, DIGITS, 2)
        exchange = str(rng.randint(2, 9)) + _pick(rng, DIGITS, 2)
        line = _pick(rng, DIGITS, 4)
        return rng.choice([f"({area}) {exchange}-{line}", f"+1 {area}-{exchange}-{line}"])
    country = rng.choice(["44", "49", "33", "39", "61"])
    return f"+{country} {rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"


def ip_address(rng: random.Random) -> str:
    first = rng.choice([23, 34, 52, 81, 93, 104, 142, 151, 185, 203, 212])
    return ".".join(
        str(n) for n in (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    )


def card_number(rng: random.Random) -> str:
    number = luhn_complete(rng, rng.choice(["4", "51", "52", "55", "6011"]), 16)
    separator = rng.choice([" ", "-"])
    return separator.join(number[i : i + 4] for i in range(0, 16, 4))


def card_number_plain(rng: random.Random) -> str:
    return luhn_complete(rng, rng.choice(["4", "53", "6011"]), 16)


# ---- machine identity --------------------------------------------------------------------


def home_path(rng: random.Random) -> str:
    user = rng.choice(["mar", "ale", "jo", "fra", "kat", "lu"]) + _pick(
        rng, LOWER, rng.randint(2, 5)
    )
    return rng.choice([f"/home/{user}", f"/Users/{user.title()}", f"C:\\Users\\{user}"])


def workspace_path(rng: random.Random) -> str:
    project = rng.choice(["acme", "orbit", "ledger", "nimbus"]) + "-" + _pick(rng, LOWER, 5)
    return rng.choice(
        [f"/srv/work/{project}", f"{home_path(rng)}/src/{project}", f"/opt/{project}"]
    )


FAKES: dict[str, Callable[[random.Random], str]] = {
    "aws-access-key-id": aws_access_key_id,
    "aws-secret-access-key": aws_secret_access_key,
    "gcp-api-key": gcp_api_key,
    "gcp-oauth-client-secret": gcp_oauth_client_secret,
    "gcp-service-account-key": gcp_service_account_key,
    "azure-storage-key": azure_storage_key,
    "azure-sas-signature": azure_sas_signature,
    "azure-client-secret": azure_client_secret,
    "anthropic-key": anthropic_key,
    "openrouter-key": openrouter_key,
    "openai-key": openai_key,
    "deepseek-key": deepseek_key,
    "huggingface-token": huggingface_token,
    "together-key": together_key,
    "fireworks-key": fireworks_key,
    "nvidia-key": nvidia_key,
    "replicate-token": replicate_token,
    "groq-key": groq_key,
    "mistral-key": mistral_key,
    "github-token": github_token,
    "github-fine-grained-token": github_fine_grained_token,
    "gitlab-token": gitlab_token,
    "slack-token": slack_token,
    "slack-webhook": slack_webhook,
    "discord-bot-token": discord_bot_token,
    "discord-webhook": discord_webhook,
    "telegram-bot-token": telegram_bot_token,
    "stripe-key": stripe_key,
    "npm-token": npm_token,
    "pypi-token": pypi_token,
    "private-key": private_key,
    "putty-private-key": putty_private_key,
    "kubernetes-secret-data": kubernetes_secret_data,
    "jwt": jwt,
    "bearer-token": bearer_token,
    "http-authorization": http_authorization,
    "http-cookie": http_cookie,
    "curl-credentials": curl_credentials,
    "url-credentials": url_credentials,
    "secret-assignment": secret_assignment,
    "secret-key-assignment": secret_key_assignment,
    "email": email,
    "phone": phone,
    "ip-address": ip_address,
    "card-number": card_number,
    "card-number-plain": card_number_plain,
    "workspace-path": workspace_path,
    "home-path": home_path,
}

#: Where a JSON object holds the value (``{"KEY": value}``); other rules' values sit in a
#: text field of the object, in context.
JSON_KEYS: dict[str, str] = {
    "aws-access-key-id": "AWS_ACCESS_KEY_ID",
    "aws-secret-access-key": "aws_secret_access_key",
    "gcp-api-key": "GOOGLE_API_KEY",
    "gcp-service-account-key": "private_key_id",
    "anthropic-key": "ANTHROPIC_API_KEY",
    "openai-key": "OPENAI_API_KEY",
    "deepseek-key": "DEEPSEEK_API_KEY",
    "huggingface-token": "HF_TOKEN",
    "mistral-key": "MISTRAL_API_KEY",
    "github-token": "GITHUB_TOKEN",
    "stripe-key": "STRIPE_SECRET_KEY",
    "jwt": "id_token",
    "secret-assignment": "password",
    "secret-key-assignment": "encryption_key",
    "email": "author_email",
}

_ASSIGN = (
    "{name}={v}",
    "export {name}={v}",
    "{name}: {v}",
    '{name} = "{v}"',
    "{name}='{v}'",
    '{name} := "{v}"',
    "{name} ?= {v}",
    "'{name}' => '{v}',",
    "<{name}>{v}</{name}>",
    'System.setProperty("{name}", "{v}");',
    '<add key="{name}" value="{v}"/>',
    "--{name} '{v}'",
)
_SECRET_NAMES = ("DB_PASSWORD", "password", "SECRET_KEY", "client_secret", "AUTH_TOKEN", "api_key")
_KEY_NAMES = ("SIGNING_KEY", "encryptionKey", "app.master_key", "STRIPE_KEY", "hmac-key")

_CONTEXTS: dict[str, tuple[str, ...]] = {
    "aws-secret-access-key": (
        "AWS_SECRET_ACCESS_KEY={v}",
        "aws_secret_access_key = {v}",
        '"SecretAccessKey": "{v}"',
    ),
    "gcp-service-account-key": (
        '"private_key_id": "{v}"',
        '{{"type": "service_account", "private_key_id": "{v}"}}',
    ),
    "azure-storage-key": (
        "DefaultEndpointsProtocol=https;AccountName=stacct01;AccountKey={v};EndpointSuffix=core.windows.net",
    ),
    "azure-sas-signature": (
        "https://stacct01.blob.core.windows.net/data/x.csv?sv=2022-11-02&ss=b&sp=r&se=2030-01-01&sig={v}",
        "curl 'https://stacct01.blob.core.windows.net/c?restype=container&sig={v}&sp=rl'",
    ),
    "together-key": ("TOGETHER_API_KEY={v}", "together_api_key: {v}"),
    "mistral-key": ("MISTRAL_API_KEY={v}", 'mistral_api_key = "{v}"'),
    "discord-bot-token": ("DISCORD_BOT_TOKEN={v}", "Authorization: Bot {v}"),
    "npm-token": ("{v}", "//registry.npmjs.org/:_authToken={v}", "NPM_TOKEN={v}"),
    "bearer-token": ("Authorization: Bearer {v}", "curl -H 'Authorization: bearer {v}' $URL"),
    "http-authorization": (
        "Authorization: Basic {v}",
        "curl -sS -H 'Authorization: Basic {v}' https://api.acme-corp.io/v1/me",
        '{{"headers": {{"Authorization": "Token {v}"}}}}',
        "proxy-authorization: {v}",
    ),
    "kubernetes-secret-data": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-db\ntype: Opaque\ndata:\n"
        "  username: YWRtaW4=\n  db-url: {v}\n",
        "apiVersion: v1\ndata:\n  .secret-file: {v}\nkind: Secret\nmetadata:\n  name: creds\n",
        '{{"apiVersion": "v1", "data": {{"api-key": "{v}"}}, "kind": "Secret"}}',
    ),
    "http-cookie": (
        "Cookie: {v}",
        "curl --cookie '{v}' https://app.acme-corp.io/dashboard",
        "< set-cookie: {v}; Path=/; HttpOnly; Secure",
    ),
    "curl-credentials": (
        "curl -u {v} https://api.acme-corp.io/v1/charges",
        "curl -sS -X POST --user '{v}' -d @body.json https://ci.acme-corp.io/job/build",
        'curl -fsSL -u "{v}" https://repo.acme-corp.io/artifactory/api/npm/auth',
    ),
    "url-credentials": (
        "postgres://app:{v}@db.internal.example.com:5432/prod",
        "git clone https://deploy:{v}@git.acme-corp.io/team/repo.git",
        "REDIS_URL=redis://default:{v}@10.0.0.5:6379",
    ),
    "card-number-plain": ("card number: {v}", "charge the credit card {v} now", "cc_num={v}"),
    "workspace-path": (
        "<turn_meta>\nCurrent workspace: {v}\nCurrent local date: 2026-03-04\n</turn_meta>",
        "Current workspace: {v}",
    ),
    "home-path": ("{v}/src/app/main.py", "cd {v}/work && ls", "{v}\\projects\\app"),
}


def in_context(rule_id: str, value: str, rng: random.Random) -> str:
    """``value`` the way it appears in real text for ``rule_id``."""
    if rule_id == "secret-assignment":
        return rng.choice(_ASSIGN).format(name=rng.choice(_SECRET_NAMES), v=value)
    if rule_id == "secret-key-assignment":
        return rng.choice(_ASSIGN).format(name=rng.choice(_KEY_NAMES), v=value)
    if rule_id == "together-key" and not value.startswith("tgp_"):
        return rng.choice(_CONTEXTS[rule_id]).format(v=value)
    if rule_id == "home-path":
        template = rng.choice(_CONTEXTS[rule_id])
        if value.startswith("C:"):
            return template.replace("/", "\\").format(v=value)
        return template.replace("\\", "/").format(v=value)
    templates = _CONTEXTS.get(rule_id)
    if templates is None or rule_id == "together-key":
        name = JSON_KEYS.get(rule_id)
        if name and rng.random() < 0.5:
            return rng.choice(_ASSIGN[:3]).format(name=name, v=value)
        return value
    return rng.choice(templates).format(v=value)


# ---- planting fakes in text -------------------------------------------------------------

#: Generic rules: a planted value may be reported by any more specific secret rule.
GENERIC = {
    "secret-assignment",
    "secret-key-assignment",
    "bearer-token",
    "http-authorization",
    "http-cookie",
    "curl-credentials",
    "url-credentials",
}
SECRET_RULES = {rule.id for rule in load_rules() if rule.category == "secret"}
CARRIERS = ("prompt", "reply", "arguments", "output", "diff", "json", "escaped", "base64")
_FILLER = (
    "the test fails because config loads before env so we patch it and rerun pytest -q "
    "def main(): return 0 import os sys json path = Path(__file__) if not ok: raise "
    "ValueError('bad') for item in items: print(item) git diff HEAD~1 --stat done. "
    "Running 12 tests in 0.4s, 3 failed; see log above. Let me look at src/app/settings.py"
)
_WORDS = _FILLER.split()
_BEFORE = (" ", "\n", "\t", " (", ' "', " '", " `", " [", ": ", "\n\n")
_AFTER = (" ", "\n", ")", '"', "'", "`", "]", ", ", ". ", ";\n")


def filler(rng: random.Random, size: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(size))


def embed(rng: random.Random, snippet: str) -> str:
    return (
        filler(rng, rng.randint(0, 12))
        + rng.choice(_BEFORE)
        + snippet
        + rng.choice(_AFTER)
        + filler(rng, rng.randint(0, 12))
    )


def plant(rng: random.Random, rule_id: str, carrier: str) -> tuple[str, str, str]:
    """(text to put in a field, the value, the form the value takes inside that text)."""
    value = FAKES[rule_id](rng)
    snippet = in_context(rule_id, value, rng)
    if carrier == "diff":
        marker = rng.choice("+- ")  # an added, removed or unchanged block
        lines = [f"{marker}{line}" for line in snippet.split("\n")]
        text = (
            "diff --git a/.env b/.env\n--- a/.env\n+++ b/.env\n@@ -1,3 +1,4 @@\n"
            f" {filler(rng, 3)}\n" + "\n".join(lines) + f"\n {filler(rng, 2)}\n"
        )
        return embed(rng, text), value, value.replace("\n", "\n" + marker)
    if carrier in {"json", "escaped"}:
        key = JSON_KEYS.get(rule_id)
        held: dict[str, Any] = (
            {key: value} if key and rng.random() < 0.6 else {"line": snippet, "n": 3}
        )
        document = json.dumps({"config": held, "ok": True})
        form = json.dumps(value)[1:-1]
        if carrier == "escaped":
            document = json.dumps(document)
            form = json.dumps(form)[1:-1]
        return embed(rng, document), value, form
    if carrier == "base64":
        name = JSON_KEYS.get(rule_id)
        line = f"{name}={value}" if name and snippet == value else snippet
        blob = base64.b64encode(line.encode()).decode()
        command = f"echo {blob} | base64 -d >> .env"
        return embed(rng, command), value, blob
    return embed(rng, snippet), value, value


def survivors(value: str) -> list[str]:
    """Every form of ``value`` that would show it in a JSON dump of redacted output."""
    forms = {value}
    escaped = value
    for _ in range(3):
        escaped = json.dumps(escaped)[1:-1]
        forms.add(escaped)
    if "\n" in value:  # a key block: no line of its body may survive either
        forms.update(
            line for line in value.split("\n") if len(line) >= 16 and "PRIVATE" not in line
        )
    return sorted(forms)
