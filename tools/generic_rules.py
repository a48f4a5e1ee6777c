"""The generic-secret rules of ``core/modellab/redact/rules.toml``, built from named pieces.

Those patterns are several kilobytes each: a name that says secret, in every common syntax,
then a value that is not a word, path, number, placeholder or template. Written out by hand
they could not be read or changed safely, so they are built here from small named pieces
(quotes, separators, word-like values…) and spliced into ``rules.toml`` between the
``private-key`` rule and the personal-data section. Edit the pieces, then::

    uv run python tools/generic_rules.py --write   # rebuild that region of rules.toml
    uv run python tools/generic_rules.py --check   # exit 1 if rules.toml differs (a test runs it)

The patterns are linear on hostile input (atomic groups and possessive loops, Python 3.11+);
``tests/redact/test_generic_syntax.py`` holds the syntax table, the negative cases and the
hostile inputs.
"""

import json
import re
import sys
from pathlib import Path

# ---- shared pieces -------------------------------------------------------------------
Q = r"""\\{0,3}["'`]"""  # a quote, maybe JSON-escaped once to three times
# Value characters of an unquoted value (no quotes, spaces, brackets, ",", ";", ":" or "\").
C = r"[A-Za-z0-9_~+/!@#$%^&*=-]"
# Line break in plain, JSON-escaped or doubly escaped text, then an optional diff marker.
LS = r"(?>(?:[ \t]*(?:\r?\n|\\{1,7}[rn]))+[ \t+-]?[ \t]*)"
B64LINE = r"""[A-Za-z0-9+/=]{4,}+(?=[ \t]*(?:[\r\n\\"'`,)]|$))"""

# Word-like: identifiers, words, paths and numbers, which are not secrets. Linear: atomic
# segments, possessive loops.
# Two-letter capitalised words (CamelCase "SetOfItems", "IAmSensitive") come from a list: a
# random string has [A-Z][a-z] pairs all over it.
SHORT = r"(?:Of|In|To|At|By|Is|On|Or|Up|No|Do|As|If|It|My|Go|Id|Ok|Me|We|Be|Am|An|Ed|Db|Io|Ui|Fn)(?![a-z])"
NUMERONYM = r"[a-z]*(?:i18n|l10n|a11y|k8s|k3s|e2e|p2p)|[a-z][0-9](?=[a-z]{2})"  # v4auth
SEG = (
    rf"(?>(?:{SHORT}|{NUMERONYM}|[A-Z]?[a-z]{{2,}}|[A-Z]+(?![a-z])|[a-z](?![a-z]))"
    r"(?:[0-9]++(?![a-z])(?![A-Z]{2}))?)"
)
# (a run of 20 digits or more is no count or id: a numeric token)
NUM = r"[0-9]{1,19}+(?![0-9])(?:[.,][0-9]++)*+"
PIECE = rf"(?:{SEG}++|{NUM})"
WSEP = r"(?:[._/:,@=-]|%[0-9A-Fa-f]{2})"
WORDLIKE = rf"[_$@~./*^<>=!-]*+{PIECE}(?:{WSEP}++{PIECE})*+[._/=*-]*+"
# Prose in a quoted value: pieces of words, numbers and punctuation between single spaces.
PROSE_PIECE = (
    rf"""(?:[(\["'`#*]*+(?:{WORDLIKE}|[A-Za-z]++|[0-9A-Fa-f]{{3,8}}|%[sd])?[)\]"'`.,:;!?*]*+"""
    r"""|[|&<>=+/*#-]++)(?= |$)"""
)
PROSE = rf"{PROSE_PIECE}(?: ++{PROSE_PIECE})++"

PLACEHOLDERS = r"(?i:[a-z_]*(?:example|sample|dummy|placeholder|redacted|changeme|your[_-]|xxxx|\*\*\*|\.\.\.|…))"
TEMPLATE = (
    r"\$\{[^}]*\}|\$\(|\{\{|\{%|\{[A-Za-z_][A-Za-z0-9_.]*\}|<[^>]*>"
    r"|%\([A-Za-z_]+\)[sdr]|^%[A-Za-z_][A-Za-z0-9_]*%$|\[[A-Z_ -]+\]|@[A-Z_]+@"
)
OTHER_ALLOW = (
    r"[A-Za-z_][A-Za-z0-9_.]*\(.*"  # a call
    r"|\$[A-Za-z_][A-Za-z0-9_]*"  # $VAR
    r"|(?:toolu|srvtoolu|msg|req|call|resp|fc|rs|chatcmpl)[_-][A-Za-z0-9]{8,64}"
    r"|(?:sha(?:1|224|256|384|512)|md5|blake2b?)[-:][A-Za-z0-9+/]+=*"
    r"|arn:aws[a-z-]*:.*"
    r"|(?:com|org|net|io|dev|edu)\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+"  # reverse-DNS names
    r"|[*•xX.-]+"
    r"|#[0-9A-Fa-f]{3,8}"  # a colour
    # the passwords of examples and tutorials
    r"|(?i:hunter2|(?:my|your|new|old|the|user|admin|db|test|some|example)?[_-]?passw(?:o|0)rd[0-9]*!?"
    r"|p@ssw0rd|letmein|qwerty[0-9]*|admin[0-9]*|secret[0-9]*|test[0-9]*|pass[0-9]*|abc123|foo[0-9]*"
    r"|bar[0-9]*|string|text|hidden|required|optional|masked|none|null|empty|default|value|root|toor)"
)
# a regular expression, not a value: (?:…), [a-z0-9]
REGEX = r"\(\?[:=!<P]|\[\^?[A-Za-z0-9]-[A-Za-z0-9]"
ASSIGNMENT_ALLOW = (
    rf"^(?:{PROSE}|{OTHER_ALLOW})$"
    rf"|{PLACEHOLDERS}|{TEMPLATE}|{REGEX}|\{{[A-Za-z_]"
)
GENERIC_ALLOW = (
    rf"^(?:{WORDLIKE}|{PROSE}|{OTHER_ALLOW})$"
    rf"|{PLACEHOLDERS}|{TEMPLATE}|{REGEX}|\{{[A-Za-z_]"
)

# ---- secret-assignment -----------------------------------------------------------------
# NAME: where the match starts (at a keyword), then the rest of the name.
CAMEL = r"(?-i:(?<![A-Za-z])|(?<=[a-z0-9])(?=[A-Z]))"  # a word starts here
# The rest of the name: a separator, a CamelCase hump or a digit first (so not "passed",
# "tokenizer"); a dotted tail (password.encode) names a method, not a setter.
NAME_SUFFIX = (
    r"(?:(?:[_-]|(?-i:(?<=[a-z])[A-Z])|[0-9])[A-Za-z0-9_-]{0,40}+)?+"
    r"(?:\.[A-Za-z0-9_.-]{0,40}+(?P<dotted>))?+"
)
NAME = (
    r"(?:"
    # (?P<pw>): the name ends here (DB_PASSWORD, dbPassword), so it names a password itself
    rf"{CAMEL}(?:pass(?:word|wd|phrase|code)?s?|pwd)(?:(?![A-Za-z0-9_.-])(?P<pw>))?"
    r"|secret"
    r"|(?<!publickey)token"
    r"|api[_-]?keys?"
    r"|access[_-]?keys?"
    r"|private[_-]?keys?"
    rf"|{CAMEL}auth(?:[_-]?keys?)?"
    r"|credentials?|creds?(?![a-z])"
    r"|(?:x-(?:amz|goog)-)?signature(?==[0-9a-fA-F]{64}(?![0-9a-fA-F]))"
    r")"
    rf"{NAME_SUFFIX}"
)
TYPE = (
    r"&?(?:'static[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*+(?:\[(?:[A-Za-z0-9_., |]|\[[A-Za-z0-9_., |]*+\])*+\])?+"
    r"(?:[ \t]*\|[ \t]*[A-Za-z_][A-Za-z0-9_.]*+)*+"
)


def sep(dotted: bool) -> str:
    """Between the name and the value, in every syntax. Each alternative starts with its
    own character (after the spaces), which the regex engine checks before trying it."""
    setter = rf"\((?<![ \t]\()[ \t]*(?={Q})"  # setPassword("…"), .apiKey("…"), not "token (`str`)"
    if dotted:
        setter = rf"(?(dotted)(?!)|{setter})"
    return (
        # a quick no for most keyword hits (PASSED, tokens.length): what may follow a name
        r"""(?=[\\"'`\] \t:=?.+|,(>-])"""
        r"(?>"  # atomic: the first separator that fits is the one
        # the end of a quoted name (noted: a "," may follow it), or of a subscript: ['key']
        rf"""(?:\\{{0,3}}["'`](?P<closed>))?(?:[ \t]*\])?"""
        # a value may follow after spaces alone: --password …, --db-password …, "password …"
        # (.netrc), but not the verb "pass …", nor after a quoted name
        r"""(?:(?=[ \t])(?<![\"'`\]])(?(dash)|(?:(?<=password)|(?<=passwd)|(?<=secret)|(?<=token)))"""
        r"(?P<spaced>))?"
        r"[ \t]*+"
        r"(?:"
        rf":[ \t]*{TYPE}[ \t]++=(?!=)[ \t]*"  # token: str = "…", val apiKey: String = "…"
        rf"|=[ \t]*\([ \t]*{Q}[^\"'`\r\n]{{0,64}}{Q}[ \t]*,[ \t]*(?={Q})"  # auth=("u", "…")
        r"|(?:=>|:::=|::=|:=|\?\?=|\|\|=|[?.+]=|:-|=(?!=)|:(?![:=]))[ \t]*+(?:!![a-z]+[ \t]+)?"
        # setProperty("X_TOKEN", "…"), define('DB_PASSWORD', '…'): the call ends after the value
        rf"|,(?(closed)|(?!))[ \t]*(?={Q})(?P<call>)"
        rf"|{setter}"
        r"|>(?<![-=]>)(?:[ \t]*(?:\r?\n|\\{1,3}[rn]))*[ \t]*(?P<markup>)"  # <password>…</password>
        r"|[sS\[](?<=[ \t][sS\[])(?:tring|tr|\]byte)[ \t]*=(?!=)[ \t]*"  # var token string = "…"
        rf"|v(?<=[ \t]v)alue[ \t]*=[ \t]*(?={Q})(?P<markup2>)"  # <add key="ApiKey" value="…"/>
        r"|(?(spaced)(?<=[ \t])|(?!))"
        r")"
        r")"
    )


# Where a word-like run must end to be the whole value.
BARE_END = rf"(?!{C}|\.{C})"
QUOTED_END = r"(?:(?=\\{0,3}(?P=q))|$|(?=[\r\n]))"
# Under a password name, a word-like value with digits in it and no "." "_" "/" reads as a
# human password (Summer2024, thisIsDog11), not an identifier: it stays a finding.
NO_DIGIT = r"[A-Za-z_$@~./:,+=%*^<>!-]*+(?![0-9])"
HAS_SEP = r"[A-Za-z0-9$@~*^<>=!+:,%-]*+[._/]"


def not_wordlike(end: str, password: bool, quoted: bool) -> str:
    """Word-like values fail; but under a password name one with digits and no "." "_" "/"
    (Summer2024, thisIsDog11) reads as a human password, not an identifier, and stays."""
    # (?-i:…): case is what tells words from random strings, also in a (?i) pattern
    if not password:
        return rf"(?-i:(?!{WORDLIKE}{end}))"
    strict = rf"(?!(?={WORDLIKE}{end})(?:{NO_DIGIT}|{HAS_SEP}))"
    # in XML config (<password>…</password>, <add key="…Password" value="…"/>) even a value
    # without digits is a password unless it reads as an identifier
    markup = rf"(?!(?={WORDLIKE}{end}){HAS_SEP})"
    strict = rf"(?(markup){markup}|(?(markup2){markup}|{strict}))"
    return rf"(?-i:(?(pw){strict}|(?!{WORDLIKE}{end})))"


def value(password: bool = False) -> str:
    """The value after the separator: quoted (to the same closing quote) or bare. Word-like
    values (identifiers, words, paths, numbers) fail here, so other separators get a try."""
    quoted = (
        rf"""(?(q)|(?!)){not_wordlike(QUOTED_END, password, True)}"""
        rf"""(?=[^"'`\\\r\n]{{8}})[^\s"'`\\]++(?: [^\s"'`\\]++)*+{QUOTED_END}"""
        r"(?(call)(?=\\{0,3}(?P=q)[ \t]*[)}])|)"
    )
    bare = (
        rf"""(?(q)(?!)|(?<![\\"'`])){not_wordlike(BARE_END, password, False)}"""
        rf"""(?=[A-Za-z0-9_~+/!@#$%^&*=.-]{{8}})(?:{C}|\.++(?={C}))++(?![(\[])"""
        # the text of an element runs to its end tag (<password>…</password>)
        r"(?(markup)(?=(?:[ \t]|\r?\n|\\{1,3}[rn])*+<)|)"
    )
    return (
        rf"""(?:[bBrRuU]?\\{{0,3}}(?P<q>["'`]))?(?!\$[{{A-Za-z_(])"""
        rf"""(?P<value>{quoted}|{bare})"""
    )


SECRET_ASSIGNMENT = rf"(?i)(?:(?<=-)(?P<dash>))?{NAME}{sep(True)}{value(True)}"

# ---- secret-key-assignment: names that end in key ---------------------------------------
KEY_NAME = (
    r"(?:(?<=[_.-])(?i:keys?)|(?-i:(?<=[a-z0-9])Keys?))"
    r"(?<!(?i:public)[_.-]key)(?<!(?i:public)[_.-]keys)(?<!publicKey)(?<!publicKeys)"
    r"(?<!(?i:pub)[_.-]key)(?<!pubKey)"
)
# (group 1 always set: a name that ends in key may be followed by its value after a space)
SECRET_KEY_ASSIGNMENT = rf"(?P<dash>){KEY_NAME}{sep(False)}{value()}"

# ---- Authorization, Cookie, curl -u -------------------------------------------------------
AUTH_VALUE = rf"""(?:[bfBF]?{Q})?(?:[A-Za-z][A-Za-z0-9_-]{{1,30}}[ \t]+)?([A-Za-z0-9+/=_.~%!@#$&*-][A-Za-z0-9+/=_.~%!@#$&*:-]{{7,}}+)(?![(\[])"""
HTTP_AUTHORIZATION = (
    rf"(?i)authorization(?:{Q})?(?:[ \t]*\])?"
    rf"(?:[ \t]*(?:=>|:(?!:)|=(?!=))[ \t]*|(?<=[\"'`])[ \t]*,[ \t]*(?={Q}))"
    rf"{AUTH_VALUE}"
)
COOKIE = (
    rf"(?i)cookie(?:{Q})?(?:[ \t]*\])?(?:[ \t]*(?:=>|:(?!:)|=(?!=)|,)[ \t]*|[ \t]+)(?:{Q})?"
    # at least one value long enough to be a session or a token
    r"(?=(?:[^\s;,\"'`\\]*+;[ \t]*)*?[A-Za-z0-9_.!#$%&*+^|~-]+=[^\s;,\"'`\\]{12})"
    r"((?:[A-Za-z0-9_.!#$%&*+^|~-]+=[^\s;,\"'`\\]*+(?:;[ \t]*)?)++)"
)
CURL = (
    r"curl[ \t](?:(?:[^\r\n|;&<>\\]|\\\r?\n|\\)*?[ \t])??(?:-u|--user)(?:[ \t]+|=)?"
    # user:password, either part maybe quoted on its own ("user":"password", user:'password')
    rf"""(?:{Q})?([^\s"'`:\\]*+(?:{Q})?:(?:{Q})?[^\s"'`\\]*+)"""
)
VAR = r"(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>|\{\{[^}]*\}\}|%[A-Za-z_]*%?)"
CURL_ALLOW = rf"^{VAR}?:(?:{VAR}|\*+|x+|(?i:pass(?:word)?|secret|token|api[_-]?key)|)$"

# ---- key blocks ---------------------------------------------------------------------------
PEM_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?"
PEM_HEADERS = r"(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset|Subject):[^\r\n\\]*"
PRIVATE_KEY = (
    rf"-{{4,5}} ?BEGIN {PEM_LABEL} ?-{{4,5}}"
    r"(?:"
    # the whole block, up to its END line (never across another BEGIN)
    # (atomic: the first run of base64 commits, so a block with no END costs one pass)
    rf"(?>(?:[^\x00-]|-(?!-{{3,4}} ?BEGIN ))*?[A-Za-z0-9+/]{{16}})"
    rf"(?:[^\x00-]++|-(?!-{{3,4}} ?(?:BEGIN|END) ))*?-{{4,5}} ?END {PEM_LABEL} ?-{{4,5}}"
    # or, cut short (head -5 id_rsa), every header and base64 line there is
    rf"|(?:{LS}(?:{PEM_HEADERS}|{B64LINE}))++"
    r")"
)
PUTTY = (
    r"(?:PuTTY-User-Key-File-[0-9]+:[^\x00]*?)??"
    rf"Private-Lines:[ \t]*[0-9]+(?:{LS}{B64LINE})++"
    rf"(?:{LS}Private-(?:MAC|Hash):[ \t]*[0-9a-fA-F]++)?"
)

# ---- Kubernetes Secret manifests: every base64 value of their data -------------------------
B64_QUAD = r"(?:[A-Za-z0-9+/]{4})++(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?+(?![A-Za-z0-9+/=])"
# base64 of text has a digit or + / =, or both cases; names (mysecret, Opaque) do not
B64_LOOKS = r"(?=[A-Za-z]*+[0-9+/=]|[a-z]++[A-Z]|[A-Z]++[a-z])"
KUBERNETES_SECRET = (
    # a key, maybe quoted (JSON, escaped JSON), starting where no key character precedes
    r"""[A-Za-z0-9_."\\-](?<![A-Za-z0-9_.-][A-Za-z0-9_."\\-])"""
    r"""(?:\\{0,3}")?[A-Za-z0-9_.-]*+(?:\\{0,3}")?[ \t]*:[ \t]*(?:\\{0,3}")?"""
    # its value, maybe a block scalar (.dockercfg: |)
    rf"""(?:\|[-+]?{LS})?({B64_LOOKS}{B64_QUAD})"""
)

JWT = (
    r"(?<![A-Za-z0-9_])(?<![A-Za-z0-9_]-)eyJ[A-Za-z0-9_/+-]{10,}+={0,2}\.eyJ[A-Za-z0-9_/+-]{10,}+={0,2}"
    r"\.(?:[A-Za-z0-9_/+-]{10,}+={0,2}(?![A-Za-z0-9_/+=-])|(?![A-Za-z0-9_/+=-]))"
)
BEARER = r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}+=*+)"
URL_CREDENTIALS = (
    r"""(?<=[A-Za-z0-9])://([^\s:/@"'`<>\\]{1,64}:[^\s/"'`<>\\]{3,}?)@(?=[A-Za-z0-9\[])"""
)
URL_ALLOW = rf"^[^:]*:(?:{WORDLIKE}|{VAR}|\*+|x+)$"

FAR = 1 << 24  # "after" for rules matched at their keyword: never cuts a value short

RULES = [
    dict(
        id="private-key",
        keywords=["-----begin ", "---- begin "],
        comment=(
            "PEM, OpenSSH, PGP and SSH2 private key blocks, whole, however long, also when "
            "the\n# newlines are JSON-escaped (\\n) or the lines carry diff markers. A block "
            "cut short\n# (head -5 id_rsa) loses every header and base64 line there is."
        ),
        after=FAR,
        pattern=PRIVATE_KEY,
    ),
    dict(
        id="putty-private-key",
        keywords=["putty-user-key-file-", "private-lines:"],
        comment=(
            "PuTTY .ppk files (versions 2 and 3): from the header, or from Private-Lines: "
            "where only\n# the tail is shown, through the private lines and the MAC."
        ),
        after=FAR,
        pattern=PUTTY,
    ),
    dict(
        id="kubernetes-secret-data",
        keywords=["kind: secret"]
        + ["kind" + "\\" * n + '": ' + "\\" * n + '"secret' for n in (0, 1, 3)],
        comment=(
            "Kubernetes Secret manifests (kubectl get secret -o yaml / json): every base64 "
            "value near\n# the kind, whatever its key (data: comes before or after kind:)."
        ),
        before=2000,
        after=2000,
        pattern=KUBERNETES_SECRET,
        group=1,
    ),
    dict(
        id="jwt",
        keywords=["eyj"],
        after=FAR,
        pattern=JWT,
    ),
    dict(
        id="bearer-token",
        keywords=["bearer "],
        after=FAR,
        pattern=BEARER,
        group=1,
        min_entropy=3.0,
        allow=r"^(?:[A-Z_]+|\$\{?[A-Za-z_]+\}?|<[^>]*>)$",
    ),
    dict(
        id="http-authorization",
        keywords=["authorization"],
        comment=(
            "Authorization and Proxy-Authorization headers, whatever the scheme (Basic, "
            "Token, Bot,\n# none): in requests, curl -H, code and JSON."
        ),
        after=FAR,
        pattern=HTTP_AUTHORIZATION,
        group=1,
        allow=GENERIC_ALLOW,
    ),
    dict(
        id="http-cookie",
        keywords=["cookie"],
        comment="Cookie and Set-Cookie headers, curl --cookie: every name=value pair.",
        after=FAR,
        pattern=COOKIE,
        group=1,
        min_entropy=3.0,
    ),
    dict(
        id="curl-credentials",
        keywords=["curl"],
        comment=(
            "curl -u / --user user:password (or a key as the user name with no password). "
            "The\n# whole user:password goes, like url-credentials."
        ),
        after=4096,
        pattern=CURL,
        group=1,
        allow=CURL_ALLOW,
    ),
    dict(
        id="url-credentials",
        keywords=["://"],
        comment=(
            "The user:password part of scheme://user:password@host. The user name goes "
            "with it: a\n# span that starts at the password would tie with, and lose to, "
            'the longer e-mail-shaped\n# match "password@db.example.com".'
        ),
        after=FAR,
        pattern=URL_CREDENTIALS,
        group=1,
        allow=URL_ALLOW,
    ),
    dict(
        id="secret-assignment",
        keywords=[
            "password",
            "passwd",
            "passphrase",
            "passcode",
            "pass=",
            "pass:",
            'pass"',
            "pass'",
            "pass ",
            "pass>",
            "pass\\",
            "pass_",
            "pass-",
            "pass.",
            "pass`",
            "pwd",
            "secret",
            "token",
            "api_key",
            "api-key",
            "apikey",
            "access_key",
            "access-key",
            "accesskey",
            "private_key",
            "private-key",
            "privatekey",
            "auth",
            "credential",
            "creds",
            "signature=",
        ],
        comment=(
            "NAME <op> value wherever NAME says password, secret, token, key or credential, "
            'in every\n# common syntax (see docs/redaction.md, "Generic secrets"). The '
            'match starts at the\n# keyword (db_password=… matches from "password"); only '
            "the value is redacted, however\n# long. Values that read as identifiers, words, "
            "paths, numbers, templates or placeholders\n# are not findings."
        ),
        after=FAR,
        pattern=SECRET_ASSIGNMENT,
        group="value",
        min_entropy=2.5,
        allow=ASSIGNMENT_ALLOW,
    ),
    dict(
        id="secret-key-assignment",
        keywords=["key"],
        comment=(
            "The same, for names that end in key (SIGNING_KEY, encryptionKey, app.key), "
            "not public\n# keys; random-looking values only."
        ),
        after=FAR,
        pattern=SECRET_KEY_ASSIGNMENT,
        group="value",
        min_entropy=3.0,
        allow=GENERIC_ALLOW,
    ),
]


def toml_string(value: str) -> str:
    if "'''" in value:
        raise ValueError(value)
    return "'''" + value + "'''"


def render(rule: dict) -> str:
    lines = ["[[rule]]", f'id = "{rule["id"]}"', 'category = "secret"', 'placeholder = "SECRET"']
    keywords = ", ".join(json.dumps(k) for k in rule["keywords"])
    if len(keywords) > 86:  # wrap like the rest of the file
        lines.append("keywords = [")
        line = " "
        for k in rule["keywords"]:
            item = " " + json.dumps(k) + ","
            if len(line) + len(item) > 92:
                lines.append(line)
                line = " "
            line += item
        lines.append(line)
        lines.append("]")
    else:
        lines.append(f"keywords = [{keywords}]")
    if "comment" in rule:
        lines.append("# " + rule["comment"])
    lines.append(f"before = {rule.get('before', 0)}")
    lines.append(f"after = {rule['after']}")
    lines.append("pattern = " + toml_string(rule["pattern"]))
    group = rule.get("group")
    if group == "value":
        group = re.compile(rule["pattern"], re.ASCII).groupindex["value"]
    if group:
        lines.append(f"group = {group}")
    if rule.get("min_entropy"):
        lines.append(f"min_entropy = {rule['min_entropy']}")
    if rule.get("allow"):
        lines.append("allow = " + toml_string(rule["allow"]))
    return "\n".join(lines)


RULES_TOML = Path(__file__).resolve().parent.parent / "core" / "modellab" / "redact" / "rules.toml"
_START = '[[rule]]\nid = "private-key"'
_END = "# ---- personal data"


def spliced(text: str) -> str:
    """``text`` (rules.toml) with its generic region rebuilt from :data:`RULES`."""
    start, end = text.index(_START), text.index(_END)
    return text[:start] + "\n\n".join(render(r) for r in RULES) + "\n\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    for rule in RULES:
        re.compile(rule["pattern"], re.ASCII)
        if rule.get("allow"):
            re.compile(rule["allow"], re.ASCII)
    args = sys.argv[1:] if argv is None else argv
    current = RULES_TOML.read_text("utf-8")
    wanted = spliced(current)
    if args == ["--check"]:
        if wanted != current:
            print(
                f"{RULES_TOML}: the generic rules differ from tools/generic_rules.py; run --write"
            )
            return 1
        return 0
    if args == ["--write"]:
        if wanted != current:
            RULES_TOML.write_text(wanted, "utf-8")
            print(f"rewrote the generic rules in {RULES_TOML}")
        return 0
    print("\n\n".join(render(r) for r in RULES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
