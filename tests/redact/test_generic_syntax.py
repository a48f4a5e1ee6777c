"""Generic secrets in every common syntax (issue 10, item 4), and no partial leaks.

A value is a secret here because of the name it is assigned to (password, token, secret,
key, credential, auth…) or the syntax it sits in (an ``Authorization`` header, ``curl -u``,
a URL's user:password, a key block), not because of a provider's token format. Each case
is one realistic line, built at run time from the fakes (no literal here looks like a usable
credential). For each: the value lies wholly inside one secret finding, and after the
findings are spliced out nothing of it is left. The negative cases are code and config that
name a secret without holding one: they must not be findings.

Failure messages name the case and a hash of the value, never the value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from redact.fakes import (
    FAKES,
    long_token,
    putty_private_key,
    survivors,
    uuid_value,
)

from modellab.redact import (
    Placeholders,
    Scanner,
    apply_findings,
    load_rules,
    redact_trajectory,
)

Make = Callable[[random.Random], str]


def _password(rng: random.Random) -> str:
    return FAKES["secret-assignment"](rng)


def _hex(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


def _b64(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(30)).decode()


def _words(rng: random.Random) -> str:
    """Words only: in XML configuration under a password name, still a password."""
    words = ["Test", "Source", "Blue", "Harbor", "Nugget", "Feed", "Cargo", "Vault", "Mirror"]
    return "".join(rng.sample(words, 3))


def _basic(rng: random.Random) -> str:
    return base64.b64encode(f"deploy:{_password(rng)}".encode()).decode()


def _human(rng: random.Random) -> str:
    """A password a person chose: words and digits (Summer2024), no symbol."""
    return rng.choice(["Summer", "thisIsDog", "Welcome", "Falcon"]) + str(rng.randint(10, 9999))


def _long(size: int) -> Make:
    return lambda rng: long_token(rng, size)


def _urlsafe(size: int) -> Make:
    alphabet = string.ascii_letters + string.digits + "-_.~"
    return lambda rng: "".join(rng.choice(alphabet) for _ in range(size))


def _pem(kind: str, size: int = 600, end: bool = True, sep: str = "\n") -> Make:
    def make(rng: random.Random) -> str:
        body = base64.b64encode(rng.randbytes(size)).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        dashes = "-" * 5
        label = f"{kind}PRIVATE KEY"
        tail = [f"{dashes}END {label}{dashes}"] if end else []
        return sep.join([f"{dashes}BEGIN {label}{dashes}", *lines, *tail])

    return make


def _jwt(size: int) -> Make:
    def make(rng: random.Random) -> str:
        head = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
        claims = {"sub": _hex(rng), "groups": [_hex(rng) for _ in range(size // 40)]}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        sig = base64.urlsafe_b64encode(rng.randbytes(256)).decode().rstrip("=")
        return f"{head}.{body}.{sig}"

    return make


#: (case id, line template with {v}, how to make the value). One realistic line per syntax.
CASES: list[tuple[str, str, Make]] = [
    # shell and dotenv
    ("shell-export", "export DEPLOY_TOKEN={v}", _password),
    ("shell-quoted", "DB_PASSWORD='{v}' ./manage.py migrate", _password),
    ("shell-double-quoted", 'export CLIENT_SECRET="{v}"', _b64),
    ("shell-default", 'TOKEN="${{TOKEN:-{v}}}"', _hex),
    ("docker-env", "docker run -e API_KEY={v} -p 8080:80 app", _hex),
    ("dotenv", "SECRET_KEY={v}", _password),
    ("dotenv-uuid", "HEROKU_API_KEY={v}", uuid_value),
    ("cli-flag", "vault login --password {v} --method userpass", _password),
    ("cli-flag-equals", "mysqldump --password={v} app > dump.sql", _password),
    ("netrc", "machine api.acme-corp.io login deploy password {v}", _password),
    ("human-password-bare", "DB_PASSWORD={v}", _human),
    # YAML, JSON, TOML, INI
    ("yaml", "  api_key: {v}", _hex),
    ("yaml-quoted", '    password: "{v}"', _password),
    ("yaml-tag", "client_secret: !!str {v}", _b64),
    ("yaml-uuid", "auth_token: {v}", uuid_value),
    ("json", '{{"apiKey": "{v}", "region": "eu-west-1"}}', _hex),
    ("json-uuid", '{{"client_secret": "{v}"}}', uuid_value),
    ("json-escaped", '"{{\\"apiKey\\": \\"{v}\\", \\"debug\\": false}}"', _b64),
    ("json-escaped-twice", '{{\\\\\\"password\\\\\\": \\\\\\"{v}\\\\\\"}}', _password),
    ("toml", 'token = "{v}"', _hex),
    ("ini", "password = {v}", _password),
    ("ini-colon", "secret: {v}", _b64),
    # Go, Makefile, PHP, Perl, Rust, Kotlin, TypeScript, Python
    ("go-walrus", 'token := "{v}"', _hex),
    ("go-var", 'var apiToken string = "{v}"', _b64),
    ("go-const", 'const clientSecret = "{v}"', _password),
    ("make-conditional", "REGISTRY_TOKEN ?= {v}", _hex),
    ("make-immediate", "AUTH_TOKEN := {v}", _b64),
    ("make-posix", "DEPLOY_SECRET ::= {v}", _password),
    ("php-array", "    'api_key' => '{v}',", _hex),
    ("php-variable", "$password = '{v}';", _password),
    ("php-append", "$token .= '{v}';", _b64),
    ("php-define", "define('DB_PASSWORD', '{v}');", _password),
    ("perl-append", '$secret .= "{v}";', _password),
    ("rust-const", 'const API_TOKEN: &str = "{v}";', _hex),
    ("kotlin-typed", 'val apiKey: String = "{v}"', _b64),
    ("typescript-typed", "const clientSecret: string = '{v}';", _password),
    ("python-typed", 'DB_PASSWORD: Final[str] = "{v}"', _password),
    ("python-bytes", 'SECRET = b"{v}"', _b64),
    ("python-environ", 'os.environ["OPENROUTER_TOKEN"] = "{v}"', _hex),
    ("python-requests-auth", 'requests.get(url, auth=("deploy", "{v}"))', _password),
    ("python-creds", "creds = {v}", _b64),
    ("terraform-human", 'administrator_login_password = "{v}"', _human),
    # Java and Kotlin properties and setters
    ("properties", "spring.datasource.password={v}", _password),
    ("properties-colon", "db.password: {v}", _password),
    ("java-system-property", 'System.setProperty("SERVICE_TOKEN", "{v}");', _hex),
    ("java-setter", 'dataSource.setPassword("{v}");', _password),
    ("builder", 'Client.builder().apiKey("{v}").build()', _b64),
    # XML elements and attributes
    ("xml-element", "<password>{v}</password>", _password),
    ("xml-element-camel", "  <apiKey>{v}</apiKey>", _hex),
    ("xml-add-value", '<add key="ApiKey" value="{v}"/>', _b64),
    ("xml-property", '<property name="password" value="{v}"/>', _password),
    ("xml-attribute", '<user name="deploy" password="{v}" roles="admin"/>', _password),
    ("xml-entry", '<entry key="db.password">{v}</entry>', _password),
    ("xml-multiline", "<apiToken>\n    {v}\n</apiToken>", _hex),
    ("nuget-cleartext", '<add key="ClearTextPassword" value="{v}" />', _words),
    # HTTP headers, also in curl -H
    ("authorization-bearer", "Authorization: Bearer {v}", _long(48)),
    ("authorization-basic", "Authorization: Basic {v}", _basic),
    ("authorization-token", "Authorization: token {v}", _hex),
    ("authorization-raw", '"authorization": "{v}"', _b64),
    ("x-api-key", "X-Api-Key: {v}", _hex),
    ("x-auth-token", "x-auth-token: {v}", uuid_value),
    ("cookie", "Cookie: theme=dark; session={v}; lang=en", _b64),
    ("set-cookie", "Set-Cookie: sid={v}; Path=/; HttpOnly; Secure", _hex),
    (
        "curl-header-basic",
        "curl -sS -H 'Authorization: Basic {v}' https://api.acme-corp.io/v1",
        _basic,
    ),
    ("curl-header-api-key", 'curl -H "X-API-Key: {v}" https://api.acme-corp.io/v1/items', _hex),
    ("curl-cookie", "curl --cookie 'session={v}' https://app.acme-corp.io/", _b64),
    # curl -u, URLs, connection strings
    ("curl-user", "curl -u deploy:{v} https://ci.acme-corp.io/api/json", _password),
    (
        "curl-user-long",
        "curl -s -X POST --user 'deploy:{v}' -d @job.json https://ci.acme-corp.io/",
        _password,
    ),
    ("curl-user-key-only", "curl https://api.acme-corp.io/v1/charges -u {v}:", _hex),
    (
        "curl-continued",
        "curl -X POST \\\n  -u deploy:{v} \\\n  https://ci.acme-corp.io/",
        _password,
    ),
    ("url-credentials", "git clone https://deploy:{v}@git.acme-corp.io/team/app.git", _password),
    ("url-query-access-token", "GET https://api.acme-corp.io/v1/me?access_token={v}&page=2", _hex),
    ("url-query-token", "https://hooks.acme-corp.io/notify?channel=ops&token={v}", _b64),
    ("url-query-api-key", "https://maps.acme-corp.io/geo?q=berlin&api_key={v}", _hex),
    (
        "ado-net",
        "Server=tcp:db.acme-corp.io;Database=app;User Id=sa;Password={v};Encrypt=true",
        _password,
    ),
    ("ado-net-pwd", "Driver={{ODBC}};Server=db;Uid=app;Pwd={v};", _password),
    ("postgres-url", "DATABASE_URL=postgres://app:{v}@db.internal:5432/prod", _password),
    ("mongodb-srv", "mongodb+srv://app:{v}@cluster0.acme-corp.net/db?retryWrites=true", _password),
    ("jdbc", "jdbc:mysql://db:3306/app?user=app&password={v}&useSSL=true", _password),
    # Kubernetes Secret manifests (kubectl get secret -o yaml / -o json)
    ("k8s-yaml", "apiVersion: v1\nkind: Secret\ndata:\n  config: {v}\ntype: Opaque", _b64),
    ("k8s-yaml-data-first", "apiVersion: v1\ndata:\n  .dockercfg: |\n    {v}\nkind: Secret", _b64),
    ("k8s-json", '{{"apiVersion": "v1", "data": {{"tls.key": "{v}"}}, "kind": "Secret"}}', _b64),
    # key blocks, JWTs
    ("pem-rsa", "{v}", _pem("RSA ")),
    ("pem-pkcs8", "key = '''{v}'''", _pem("")),
    ("pem-encrypted", "{v}", _pem("ENCRYPTED ")),
    ("pem-json-escaped", '"key": "{v}"', _pem("EC ", sep="\\n")),
    ("pem-cut-short", "$ head -6 id_rsa\n{v}\n$ ", _pem("RSA ", end=False)),
    ("openssh-long", "{v}", _pem("OPENSSH ", size=12_000)),
    ("pem-very-long", "{v}", _pem("RSA ", size=40_000)),
    ("putty", "$ cat deploy.ppk\n{v}\n", putty_private_key),
    ("jwt", "id_token={v}", _jwt(200)),
    ("jwt-long", '{{"access_token": "{v}"}}', _jwt(4000)),
    # long values: no part of them may be left
    ("long-1password", "OP_SERVICE_ACCOUNT_TOKEN={v}", _long(870)),
    ("long-bedrock", 'AWS_BEARER_TOKEN_BEDROCK="{v}"', _long(140)),
    ("long-2000-bare", "SESSION_TOKEN={v}", _long(2000)),
    ("long-2000-json", '{{"token": "{v}"}}', _long(2000)),
    ("long-2000-yaml", "secret: {v}", _long(2000)),
    ("long-20000", "export BLOB_SECRET={v}", _long(20_000)),
    ("long-bearer", "Authorization: Bearer {v}", _long(3000)),
    ("long-url-password", "https://ci:{v}@git.acme-corp.io/x.git", _urlsafe(600)),
    # names that end in key
    ("key-env", "SIGNING_KEY={v}", _hex),
    ("key-camel", 'encryptionKey: "{v}"', _b64),
    ("key-dotted", "app.master_key = {v}", _b64),
    ("key-uuid", "LICENSE_KEY={v}", uuid_value),
]

#: Code and config that name a secret but hold none. None may be a secret finding.
NEGATIVE = [
    'password = os.environ["DB_PASSWORD"]',
    "token = os.getenv('GITHUB_TOKEN')",
    "token = self.token",
    "api_key=None",
    "password: str",
    "token: Optional[str] = None",
    "    password: _PasswordType | None = None,",
    '"password": password,',
    "secret = get_secret(name)",
    "stored_tokens = _read_token_file()",
    "api_key = settings.OPENAI_API_KEY",
    "const apiKey = process.env.API_KEY;",
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    "max_tokens: 4096",
    '"input_tokens": 123456789, "output_tokens": 987654',
    "API_KEY=<your-api-key>",
    "token: ${GITHUB_TOKEN}",
    'password: "{{ vault_db_password }}"',
    "SECRET_KEY=xxxxxxxxxxxxxxxxxxxx",
    "password=changeme",
    'password: "********"',
    '"token": "REDACTED"',
    'api_key = "your_api_key_here"',
    "export OPENAI_API_KEY=sk-...",
    'token_type = "Bearer"',
    'HEADER_ACCESS_TOKEN = "X-Access-Token"',
    'password_field = "user-password-input"',
    '"password": "Enter your password"',
    "the password must contain at least 12 characters",
    "secret_path = /var/run/secrets/kubernetes.io/serviceaccount/token",
    "token_url = 'https://oauth2.googleapis.com/token'",
    'headers["Authorization"] = f"Bearer {token}"',
    "Authorization: Bearer <token>",
    "Authorization: Basic $CREDENTIALS",
    "request_id = '0f0e0d0c-1111-4222-8333-444455556666'",
    "id: 0f0e0d0c-1111-4222-8333-444455556666",
    'curl -u "$USER:$PASS" https://api.acme-corp.io/',
    "docker run -u 1000:1000 app && git push -u origin main",
    'primary_key = "user_id"',
    # (assembled, so that no literal here looks like a key)
    'public_key = "MCowBQYDK2VwAyEA' + base64.b64encode(bytes(range(7, 39))).decode() + '"',
    "cache_key = f'{user_id}:{scope}'",
    "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2sZ\n-----END CERTIFICATE-----",
    "postgres://user:password@localhost:5432/db",
    "Cookie: theme=dark; lang=en",
    "passed 12 tests, compass=north, bypass=enabled",
    'proxy_url="socks5h://<username>:<password>@proxy.example.com:1080"',
    "keywords = ['or', 'pass', 'public', 'print', 'private']",
    "'hash-iterate-key', 'hash-iterate-key+value', 'hash-iterate-next',",
    '{"username": "string", "password": "string"}',
    'AttributeOID.CHALLENGE_PASSWORD: "challengePassword",',
    "model = Model(password='IAmSensitive')",
    "        token (`Union[str, bool, None]`, *optional*):",
    '"@aws-sdk/credential-providers": "^3.948.0",',
    'Token.Number: "#976806",',
    'password = password.encode("latin1")',
    "#   token          = 1*tchar",
    "    password = click.prompt('Password', hide_input=True)",
    "@auth_cli.command('list | ls')",
    "private_key: ed25519.Ed25519PrivateKey, f_priv: _FragList",
    "MLKEM768X25519PrivateKey = rust_openssl.hpke.MLKEM768X25519PrivateKey",
    'CURVE_TYPE_LIB_KEY = "com.github.googlei18n.cu2qu.curve_type"',
    'publicKeyToken="' + "1fc8b3b9" + "a1e18e3b" + '"',
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mysecret\n  namespace: default\ntype: Opaque",
]


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_rules())


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def check_case(scanner: Scanner, name: str, template: str, make: Make, seed: int) -> str | None:
    """None when the case passes, else what went wrong (never showing the value)."""
    rng = random.Random(f"{name}:{seed}")
    value = make(rng)
    # How the value appears in the line: escaped along with it where the line is JSON text.
    form = value
    if "\\\\\\" in template:
        form = json.dumps(json.dumps(value)[1:-1])[1:-1]
    elif '\\"' in template:
        form = json.dumps(value)[1:-1]
    line = template.replace("{v}", "\x00").format().replace("\x00", form)
    start = line.index(form)
    end = start + len(form)
    findings = scanner.scan(line)
    covering = [f for f in findings if f.start <= start and end <= f.end]
    where = f"{name} (value sha256 {_digest(value)}, {len(value)} chars)"
    if not covering:
        touching = [(f.rule_id, f.start - start, f.end - end) for f in findings]
        return (
            f"{where}: not covered by one finding; findings (rule, start, end offsets): {touching}"
        )
    if covering[0].category != "secret":
        return f"{where}: covered as {covering[0].category} by {covering[0].rule_id}"
    redacted = apply_findings(line, findings, Placeholders())
    left = [s for s in survivors(form) if s in redacted]
    if left:
        return f"{where}: {len(left)} piece(s) survived the redaction"
    return None


@pytest.mark.parametrize(("name", "template", "make"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generic_secret_is_wholly_redacted(scanner, name, template, make, seed):
    problem = check_case(scanner, name, template, make, seed)
    assert problem is None, problem


@pytest.mark.parametrize("text", NEGATIVE, ids=range(len(NEGATIVE)))
def test_named_but_not_secret_is_no_finding(scanner, text):
    found = [(f.rule_id, f.start, f.end) for f in scanner.scan(text) if f.category == "secret"]
    # The text holds no secret, so showing it (and the spans) is safe.
    assert not found, f"{text!r}: {found}"


def test_each_syntax_survives_a_trajectory_export(scanner):
    """The same lines inside an ATIF trajectory: tool call arguments and outputs (JSON)."""
    rng = random.Random(10)
    steps = []
    planted: list[tuple[str, str]] = []
    for number, (name, template, make) in enumerate(CASES, start=1):
        if "\\" in template:
            continue  # escaped forms are covered above
        value = make(rng)
        line = template.replace("{v}", "\x00").format().replace("\x00", value)
        output = json.dumps({"stdout": line, "exit_code": 0})
        steps.append(
            {
                "step_id": number,
                "source": "agent",
                "message": "",
                "tool_calls": [
                    {
                        "tool_call_id": f"c{number}",
                        "function_name": "bash",
                        "arguments": {"cmd": line},
                    }
                ],
                "observation": {"results": [{"source_call_id": f"c{number}", "content": output}]},
            }
        )
        planted.append((name, value))
    trajectory = {"schema_version": "ATIF-v1.4", "session_id": "s", "steps": steps}
    redact_trajectory(trajectory, scanner, Placeholders())
    dumped = json.dumps(trajectory)
    leaked = [
        f"{name} ({_digest(value)})"
        for name, value in planted
        if any(s in dumped for s in survivors(value))
    ]
    assert not leaked, f"survived an export: {leaked}"


@pytest.mark.parametrize("size", [2_000, 20_000, 200_000])
def test_long_values_scan_in_linear_time(scanner, size):
    rng = random.Random(size)
    text = "\n".join(
        template.replace("{v}", "\x00").format().replace("\x00", long_token(rng, size))
        for template in ("TOKEN={v}", '{{"password": "{v}"}}', "Authorization: Bearer {v}")
    )
    started = time.perf_counter()
    findings = scanner.scan(text)
    elapsed = time.perf_counter() - started
    assert sum(f.length for f in findings) >= 3 * size
    assert elapsed < 0.5 + size / 1e5, f"{elapsed:.2f}s for {len(text)} characters"


#: Inputs that would make a careless pattern backtrack for minutes (a key block with no END,
#: a value that almost reads as an identifier, endless separators).
HOSTILE = {
    "key-block-without-end": "-----BEGIN RSA PRIVATE KEY-----\n" + ("A" * 64 + "\n") * 3000,
    "many-begins": "-----BEGIN RSA PRIVATE KEY-----\n" * 2000,
    "putty-without-lines": "PuTTY-User-Key-File-2:" + "a" * 50_000,
    "almost-identifier": "password = " + "aA1." * 20_000,
    "almost-words": 'password: "' + "AbCd" * 20_000,
    "call-at-the-end": "token = " + "abc_" * 20_000 + "(",
    "curl-without-user": "curl " + "x " * 20_000 + "-u",
    "type-brackets": "token: " + "A[" * 20_000,
    "cookie-pairs": "Cookie: " + "a=b; " * 20_000,
    "secret-manifest": "kind: Secret\n" + "a: QUJD\n" * 5_000,
    "url-colons": "https://" + "a:" * 20_000 + "@",
    "element-newlines": "<password>" + "\n" * 20_000,
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_scans_promptly(scanner, text):
    started = time.perf_counter()
    scanner.scan(text)
    scanner.scan_many([text, text[::-1]])
    assert time.perf_counter() - started < 3.0


def test_rules_toml_holds_the_generic_rules_tools_build():
    # The generic patterns are built from named pieces (tools/generic_rules.py); an edit
    # made to rules.toml by hand would be lost at the next rebuild.
    import runpy

    tool = Path(__file__).resolve().parents[2] / "tools" / "generic_rules.py"
    namespace = runpy.run_path(str(tool))
    assert namespace["main"](["--check"]) == 0
