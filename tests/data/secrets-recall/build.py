"""Build the labelled recall set ``gitleaks.jsonl`` from gitleaks' rule generators.

Run once, by hand, when the upstream snapshot changes (the tests only read the JSONL)::

    .venv/bin/python tests/data/secrets-recall/build.py \
        --repo /work/.mirror/gitleaks+gitleaks/repo \
        --commit b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b

What it does (see README.md beside it):

1. Reads, with ``git show``, every ``cmd/generate/config/rules/*.go`` file of that commit, the
   helper files ``cmd/generate/config/utils/*.go`` and the generated ``config/gitleaks.toml``.
2. Evaluates the body of every rule function with a small interpreter for the subset of Go
   they use (string literals, ``+``, ``fmt.Sprintf``, ``append``, slice and map literals,
   local and package variables, the one-line ``utils`` regex helpers), down to the list of
   true positives (``tps``) that the function hands to ``utils.Validate``.
3. ``secrets.NewSecret(regex)`` is replaced by our own seeded generator (``random.Random``
   walking the parsed regex); ``utils.GenerateSampleSecrets(id, secret)`` gives one value with
   one carrier line, chosen from upstream's own sample templates (read from ``generate.go``).
4. Every value is checked with the rule's own regex from ``gitleaks.toml`` (Go RE2, run with
   ``re2``), its secret group, entropy threshold and allowlists, the way ``detect/detect.go``
   does. A generated value that the rule would not report is drawn again (next seed). A
   literal true positive is located the same way; each secret span becomes one value.
5. Writes ``gitleaks.jsonl`` (one value a line; value and carrier XORed and base64-encoded) and
   ``skipped.json`` (each true positive left out, with the reason; no values).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import random
import re
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import re2

HERE = Path(__file__).resolve().parent
COMMIT = "b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b"
RULES_DIR = "cmd/generate/config/rules"
UTILS_DIR = "cmd/generate/config/utils"
SEED = "modellab-recall-1"
ATTEMPTS = 40

# --------------------------------------------------------------------------------------
# Go tokens


@dataclass
class Tok:
    kind: str  # str, ident, num, op, char
    text: str
    line: int


_OPS = ("...", ":=", "==", "!=", "&&", "||", "+=", "<-", "++", "--", "<=", ">=")


def _unescape_go(body: str, line: int) -> str:
    """An interpreted Go string literal's value (between the quotes)."""
    out = bytearray()
    i = 0
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif e in "uU":
            n = 4 if e == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + n], 16)).encode()
            i += 2 + n
        elif e in "01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            raise SyntaxError(f"line {line}: unknown escape \\{e}")
    return out.decode("utf-8", "surrogateescape")


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, line, n = 0, 1, len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif src.startswith("//", i):
            i = src.find("\n", i)
            i = n if i == -1 else i
        elif src.startswith("/*", i):
            j = src.index("*/", i)
            line += src.count("\n", i, j)
            i = j + 2
        elif c == "`":
            j = src.index("`", i + 1)
            toks.append(Tok("str", src[i + 1 : j].replace("\r", ""), line))
            line += src.count("\n", i, j)
            i = j + 1
        elif c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            toks.append(Tok("str", _unescape_go(src[i + 1 : j], line), line))
            i = j + 1
        elif c == "'":
            j = i + 1
            while src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            toks.append(Tok("char", src[i + 1 : j], line))
            i = j + 1
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            toks.append(Tok("ident", src[i:j], line))
            i = j
        elif c.isdigit():
            j = i
            while j < n and (src[j].isalnum() or src[j] == "."):
                j += 1
            toks.append(Tok("num", src[i:j], line))
            i = j
        else:
            for op in _OPS:
                if src.startswith(op, i):
                    toks.append(Tok("op", op, line))
                    i += len(op)
                    break
            else:
                toks.append(Tok("op", c, line))
                i += 1
    toks.append(Tok("eof", "", line))
    return toks


# --------------------------------------------------------------------------------------
# Values of the interpreter


class Opaque:
    """A value we do not model (a compiled regexp, an allowlist, a bool ...)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"Opaque({self.what})"


@dataclass
class Sample:
    """One line of ``GenerateSampleSecrets``/``GenerateSampleSecret``: the secret is known."""

    group: int  # one group per call: the call's lines share the one value
    template: str
    identifier: str
    secret: str
    text: str


@dataclass
class Struct:
    type: str
    fields: dict[str, Any]


@dataclass
class Spread:
    value: Any


@dataclass
class GoFunc:
    name: str
    params: list[str]
    body: list[Tok]  # tokens between the braces
    file: str


class Interp:
    """Evaluates the statements of gitleaks' rule functions (the subset they use)."""

    def __init__(self, templates: dict[str, str]) -> None:
        self.globals: dict[str, Any] = {}
        self.funcs: dict[str, GoFunc] = {}
        self.templates = templates
        self.rng = random.Random(0)
        self.groups = 0
        self.stopwords: list[str] = []

    # ---- parsing helpers ----
    def load_file(self, name: str, src: str, pkg: str) -> list[GoFunc]:
        toks = tokenize(src)
        funcs: list[GoFunc] = []
        i = 0
        while toks[i].kind != "eof":
            t = toks[i]
            if t.kind == "ident" and t.text == "func":
                fname = toks[i + 1].text
                j = i + 3  # after "("
                params: list[str] = []
                depth = 1
                while depth:
                    if toks[j].text == "(":
                        depth += 1
                    elif toks[j].text == ")":
                        depth -= 1
                    elif (
                        depth == 1 and toks[j].kind == "ident" and (toks[j - 1].text in ("(", ","))
                    ):
                        params.append(toks[j].text)
                    j += 1
                while toks[j].text != "{":
                    j += 1
                end = _matching(toks, j)
                fn = GoFunc(fname, params, toks[j + 1 : end], name)
                self.funcs[f"{pkg}.{fname}"] = fn
                funcs.append(fn)
                i = end + 1
            elif t.kind == "ident" and t.text == "var" and pkg == "rules":
                p = Parser(self, toks[i:], self.globals)
                try:
                    p.statement()
                    i += p.i
                except (SyntaxError, KeyError, TypeError) as exc:
                    print(f"  note: {name}:{t.line}: package var not evaluated ({exc})")
                    i += 1
            else:
                i += 1
        return funcs

    def call_user(self, fn: GoFunc, args: list[Any]) -> Any:
        env = dict(self.globals)
        env.update(zip(fn.params, args, strict=True))
        p = Parser(self, [*fn.body, Tok("eof", "", 0)], env)
        return p.block()

    # ---- builtins ----
    def call(self, name: str, args: list[Any]) -> Any:
        if name == "secrets.NewSecret":
            return generate(_str(args[0]), self.rng)
        if name in ("utils.GenerateSampleSecrets", "utils.GenerateSampleSecret"):
            ident, secret = _str(args[0]), _str(args[1])
            self.groups += 1
            if name == "utils.GenerateSampleSecret":
                # upstream: fmt.Sprintf("%s_api_token = \"%s\"", identifier, secret)
                fn = self.funcs["utils.GenerateSampleSecret"]
                text = self.call_user(fn, [ident, secret])
                return Sample(self.groups, "GenerateSampleSecret", ident, secret, text)
            return [
                Sample(self.groups, key, ident, secret, _fill(tmpl, ident, secret))
                for key, tmpl in sorted(self.templates.items())
            ]
        if name == "fmt.Sprintf":
            return _sprintf(_str(args[0]), args[1:])
        if name == "append":
            out = list(args[0]) if isinstance(args[0], list) else []
            for a in args[1:]:
                if isinstance(a, Spread):
                    out.extend(a.value)
                else:
                    out.append(a)
            return out
        if name == "base64.StdEncoding.EncodeToString":
            return base64.b64encode(_str(args[0]).encode()).decode()
        if name in ("[]byte", "string"):
            return args[0]
        if name == "strings.ToUpper":
            return _str(args[0]).upper()
        if name == "newPlausibleSecret":
            return self.plausible(_str(args[0]))
        if name == "generateTestValues":
            return self.jwt_base64_values()
        if name in self.funcs and name.startswith("utils."):
            try:
                return self.call_user(self.funcs[name], args)
            except (SyntaxError, KeyError, TypeError, ValueError):
                return Opaque(name)  # e.g. the regex builders: the regex comes from the toml
        return Opaque(name)

    def plausible(self, regex: str) -> str:
        """generic.go's newPlausibleSecret: a draw with a digit 1-9 and no stop word."""
        for _ in range(1000):
            s = generate(regex, self.rng)
            low = s.lower()
            if re.search("[1-9]", s) and not any(w in low for w in self.stopwords):
                return s
        raise RuntimeError("no plausible secret")

    def jwt_base64_values(self) -> list[str]:
        """jwt.go's generateTestValues, reduced to one header: see README (jwt-base64)."""
        fn = self.funcs["rules.generateTestValues"]
        suffix = None
        for k, t in enumerate(fn.body):
            if t.text == "jwtSuffix" and fn.body[k + 1].text == ":=":
                suffix = fn.body[k + 2].text
                break
        assert suffix is not None
        header = json.dumps({"alg": "HS256"}, separators=(",", ":"))
        jwt = (base64.urlsafe_b64encode(header.encode()).decode().rstrip("=") + suffix).encode()
        return [
            base64.b64encode(jwt).decode(),
            base64.b64encode(jwt).decode().rstrip("="),
            base64.urlsafe_b64encode(jwt).decode(),
            base64.urlsafe_b64encode(jwt).decode().rstrip("="),
        ]


def _matching(toks: list[Tok], i: int) -> int:
    pairs = {"{": "}", "(": ")", "[": "]"}
    open_, close = toks[i].text, pairs[toks[i].text]
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "op" and toks[j].text == open_:
            depth += 1
        elif toks[j].kind == "op" and toks[j].text == close:
            depth -= 1
            if depth == 0:
                return j
    raise SyntaxError(f"line {toks[i].line}: unbalanced {open_}")


def _str(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise TypeError(f"expected a string, got {v!r}")


def _fill(template: str, ident: str, secret: str) -> str:
    # strings.NewReplacer("{i}", id, "{I}", upper(id), "{s}", secret): one left-to-right pass
    return re.sub(
        r"\{[iIs]\}",
        lambda m: {"{i}": ident, "{I}": ident.upper(), "{s}": secret}[m.group()],
        template,
    )


def _sprintf(fmt: str, args: list[Any]) -> str:
    it = iter(args)

    def one(m: re.Match[str]) -> str:
        if m.group() == "%%":
            return "%"
        return str(next(it))

    return re.sub(r"%[sdv%]", one, fmt)


class Parser:
    """Statements and expressions over a token list, evaluated as they are parsed."""

    def __init__(self, interp: Interp, toks: list[Tok], env: dict[str, Any]) -> None:
        self.it = interp
        self.toks = toks
        self.i = 0
        self.env = env
        self.returned: Any = None

    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self, text: str | None = None) -> Tok:
        t = self.toks[self.i]
        if text is not None and t.text != text:
            raise SyntaxError(f"line {t.line}: expected {text!r}, got {t.text!r}")
        self.i += 1
        return t

    def block(self) -> Any:
        while self.peek().kind != "eof":
            if self.peek().text == "return":
                self.take()
                return self.expr()
            self.statement()
        return None

    def statement(self) -> None:
        t = self.peek()
        if t.text == "var":
            self.take()
            if self.peek().text == "(":
                self.take()
                while self.peek().text != ")":
                    self.var_spec()
                self.take(")")
            else:
                self.var_spec()
            return
        if t.kind == "ident" and self.peek(1).text in (":=", "="):
            name = self.take().text
            self.take()
            self.env[name] = self.safe_expr(name)
            return
        if t.kind == "ident" and self.peek(1).text == "," and self.peek(3).text in (":=", "="):
            raise SyntaxError(f"line {t.line}: multiple assignment not modelled")
        raise SyntaxError(f"line {t.line}: statement not modelled: {t.text!r}")

    def var_spec(self) -> None:
        name = self.take().text
        if self.peek().text != "=":
            self.type_()
        if self.peek().text == "=":
            self.take()
            self.env[name] = self.safe_expr(name)
        else:
            self.env[name] = []

    def safe_expr(self, name: str) -> Any:
        start = self.i
        try:
            return self.expr()
        except (TypeError, KeyError, StopIteration, RuntimeError, re.error) as exc:
            # A value we cannot build (e.g. a false-positive sample): skip the expression.
            self.i = start
            self.skip_expr()
            return Opaque(f"{name}: {exc}")

    def skip_expr(self) -> None:
        line = self.peek().line
        while self.peek().kind != "eof":
            t = self.peek()
            if t.text in "([{" and t.kind == "op":
                self.i = _matching(self.toks, self.i) + 1
                continue
            if t.text in ")}" and t.kind == "op":
                return
            if self.peek().line > line and self.toks[self.i - 1].text not in ("+", ",", "("):
                return
            self.i += 1

    # ---- types ----
    def type_(self) -> str:
        t = self.peek()
        if t.text == "*":
            self.take()
            return "*" + self.type_()
        if t.text == "[":
            self.take()
            self.take("]")
            return "[]" + self.type_()
        if t.text == "map":
            self.take()
            self.take("[")
            k = self.type_()
            self.take("]")
            return f"map[{k}]" + self.type_()
        name = self.take().text
        while self.peek().text == "." and self.peek(1).kind == "ident":
            self.take()
            name += "." + self.take().text
        return name

    # ---- expressions ----
    def expr(self) -> Any:
        left = self.unary()
        while self.peek().kind == "op" and self.peek().text in ("+", "==", "!=", "&&", "||"):
            op = self.take().text
            right = self.unary()
            if op == "+" and isinstance(left, str) and isinstance(right, str):
                left = left + right
            else:
                left = Opaque(f"binary {op}")
        return left

    def unary(self) -> Any:
        t = self.peek()
        if t.kind == "op" and t.text in ("&", "!", "-", "*"):
            self.take()
            return self.unary()
        return self.postfix()

    def postfix(self) -> Any:
        t = self.peek()
        value: Any
        name: str | None = None
        if t.kind == "str":
            self.take()
            value = t.text
        elif t.kind in ("num", "char"):
            self.take()
            value = Opaque(t.text)
        elif t.text == "(":
            self.take()
            value = self.expr()
            self.take(")")
        elif t.text in ("[", "map"):
            typ = self.type_()
            if self.peek().text == "(":  # conversion, e.g. []byte(x)
                self.take()
                value = self.expr()
                self.take(")")
                return value
            value = self.composite(typ)
        elif t.kind == "ident":
            name = self.take().text
            while self.peek().text == "." and self.peek(1).kind == "ident":
                self.take()
                name += "." + self.take().text
            value = None
        else:
            raise SyntaxError(f"line {t.line}: unexpected {t.text!r}")

        while True:
            nxt = self.peek()
            if nxt.text == "(":
                self.take()
                args = self.args()
                if name is None:
                    raise SyntaxError(f"line {nxt.line}: call of a value")
                value = self.it.call(name, args)
                name = None
            elif nxt.text == "{" and name is not None and _is_type_name(name):
                value = self.composite(name)
                name = None
            elif nxt.text == "[" and name is not None and name in self.env:
                self.take()
                index = self.expr()
                self.take("]")
                base = self.env[name]
                value = base[index] if isinstance(base, dict) else Opaque("index")
                name = None
            else:
                break
        if name is not None:
            if name in self.env:
                return self.env[name]
            if name in ("true", "false", "nil") or "." in name:
                return Opaque(name)  # a constant of another package, e.g. config.AllowlistMatchOr
            raise KeyError(f"line {t.line}: unknown name {name}")
        return value

    def args(self) -> list[Any]:
        out: list[Any] = []
        while self.peek().text != ")":
            v = self.expr()
            if self.peek().text == "...":
                self.take()
                v = Spread(v)
            out.append(v)
            if self.peek().text == ",":
                self.take()
        self.take(")")
        return out

    def composite(self, typ: str) -> Any:
        self.take("{")
        items: list[Any] = []
        keyed: dict[Any, Any] = {}
        while self.peek().text != "}":
            if self.peek().kind == "ident" and self.peek(1).text == ":":
                value = self.take().text  # a struct field name
            elif self.peek().text == "{":
                value = self.composite("elided")
            else:
                value = self.expr()
            if self.peek().text == ":":
                self.take()
                key = value
                value = self.composite("elided") if self.peek().text == "{" else self.expr()
                keyed[key] = value
            else:
                items.append(value)
            if self.peek().text == ",":
                self.take()
        self.take("}")
        if typ.startswith("map["):
            return keyed
        if typ.startswith("[]"):
            return items
        return Struct(typ, keyed)


def _is_type_name(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return "." in name and last[:1].isupper() and name.split(".")[0] in ("config", "regexp")


# --------------------------------------------------------------------------------------
# NewSecret: our own generator over the parsed regex

_PRINTABLE = [chr(c) for c in range(0x21, 0x7F)]
_WORD = [c for c in _PRINTABLE if c.isalnum() or c == "_"]
_CATEGORY = {
    sre_parse.CATEGORY_DIGIT: [c for c in "0123456789"],
    sre_parse.CATEGORY_WORD: _WORD,
    sre_parse.CATEGORY_SPACE: [" "],
}


def _class(items: list[Any]) -> list[str]:
    chars: set[str] = set()
    negate = False
    for op, av in items:
        if op is sre_parse.NEGATE:
            negate = True
        elif op is sre_parse.LITERAL:
            chars.add(chr(av))
        elif op is sre_parse.RANGE:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is sre_parse.CATEGORY:
            if av in _CATEGORY:
                chars.update(_CATEGORY[av])
            else:
                raise ValueError(f"category {av}")
        else:
            raise ValueError(f"class item {op}")
    if negate:
        return sorted(c for c in _PRINTABLE if c not in chars)
    return sorted(chars)


def _walk(pattern: Any, rng: random.Random, out: list[str]) -> None:
    for op, av in pattern:
        if op is sre_parse.LITERAL:
            out.append(chr(av))
        elif op is sre_parse.NOT_LITERAL:
            out.append(rng.choice([c for c in _WORD if ord(c) != av]))
        elif op is sre_parse.ANY:
            out.append(rng.choice(_WORD))
        elif op is sre_parse.IN:
            out.append(rng.choice(_class(av)))
        elif op is sre_parse.CATEGORY:
            out.append(rng.choice(_CATEGORY[av]))
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
            lo, hi, sub = av
            if hi == sre_parse.MAXREPEAT:
                # Unbounded: up to half the minimum again (at least 10) more.
                hi = lo + max(10, lo // 2)
            for _ in range(rng.randint(lo, hi)):
                _walk(sub, rng, out)
        elif op is sre_parse.SUBPATTERN:
            _walk(av[-1], rng, out)
        elif op is sre_parse.BRANCH:
            _walk(rng.choice(av[1]), rng, out)
        elif op is sre_parse.AT:
            continue
        else:
            raise ValueError(f"regex op {op} not modelled")


def generate(regex: str, rng: random.Random) -> str:
    out: list[str] = []
    _walk(sre_parse.parse(regex), rng, out)
    return "".join(out)


# --------------------------------------------------------------------------------------
# gitleaks' detection, for checking and locating values


def entropy(s: str) -> float:
    if not s:
        return 0.0
    counts = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


@dataclass
class Rule:
    id: str
    regex: Any
    secret_group: int
    entropy: float
    allowlists: list[dict[str, Any]]


@dataclass
class Detector:
    rules: dict[str, Rule]
    global_regexes: list[Any]
    global_stopwords: list[str]
    path_only: set[str]

    @classmethod
    def from_toml(cls, text: str) -> Detector:
        data = tomllib.loads(text)
        rules: dict[str, Rule] = {}
        for r in data["rules"]:
            if "regex" not in r:
                continue
            allowlists = []
            for a in r.get("allowlists", []):
                allowlists.append(
                    {
                        "regexes": [re2.compile(x) for x in a.get("regexes", [])],
                        "stopwords": [w.lower() for w in a.get("stopwords", [])],
                        "target": a.get("regexTarget", "secret"),
                        "paths_only": bool(a.get("paths")) and not a.get("regexes"),
                        "and": a.get("condition") == "AND",
                    }
                )
            rules[r["id"]] = Rule(
                r["id"],
                re2.compile(r["regex"]),
                int(r.get("secretGroup", 0)),
                float(r.get("entropy", 0.0)),
                allowlists,
            )
        g = data.get("allowlist", {})
        return cls(
            rules,
            [re2.compile(x) for x in g.get("regexes", [])],
            [w.lower() for w in g.get("stopwords", [])],
            {r["id"] for r in data["rules"] if "regex" not in r},
        )

    def spans(self, rule_id: str, text: str) -> list[tuple[int, int]]:
        """The secret spans that gitleaks would report for ``rule_id`` in ``text``."""
        rule = self.rules[rule_id]
        found: list[tuple[int, int]] = []
        for m in rule.regex.finditer(text):
            start, end = m.start(), m.end()
            matched = text[start:end]
            stripped = matched.strip("\n")
            lead = len(matched) - len(matched.lstrip("\n"))
            start, end = start + lead, start + lead + len(stripped)
            # gitleaks re-runs the regex on the (trimmed) match for the groups.
            sub = rule.regex.search(stripped)
            s_start, s_end = start, end
            if sub is not None and sub.re.groups >= 1:
                if rule.secret_group:
                    g = rule.secret_group
                    if sub.start(g) < 0:
                        continue
                    s_start, s_end = start + sub.start(g), start + sub.end(g)
                else:
                    for g in range(1, sub.re.groups + 1):
                        if sub.start(g) >= 0 and sub.end(g) > sub.start(g):
                            s_start, s_end = start + sub.start(g), start + sub.end(g)
                            break
            secret = text[s_start:s_end]
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", end)
            line = text[line_start : len(text) if line_end == -1 else line_end]
            if "gitleaks:allow" in line:
                continue
            if rule.entropy and entropy(secret) <= rule.entropy:
                continue
            if self.allowed(rule, secret, stripped, line):
                continue
            found.append(label(rule_id, text, (s_start, s_end), (start, end)))
        return found

    def allowed(self, rule: Rule, secret: str, match: str, line: str) -> bool:
        if any(r.search(secret) for r in self.global_regexes):
            return True
        low = secret.lower()
        if any(w in low for w in self.global_stopwords):
            return True
        for a in rule.allowlists:
            if a["paths_only"]:
                continue
            target = {"secret": secret, "match": match, "line": line}[a["target"]]
            checks = []
            if a["regexes"]:
                checks.append(any(r.search(target) for r in a["regexes"]))
            if a["stopwords"]:
                checks.append(any(w in low for w in a["stopwords"]))
            if checks and (all(checks) if a["and"] else any(checks)):
                return True
        return False


#: Rules whose capture groups are not the secret (named alternatives of a JWT header, the
#: repeated ``([a-z0-9]{4}-){3}`` of a UUID): gitleaks' "first non-empty group" is then a
#: fragment, and the labelled value is the whole match.
WHOLE_MATCH = {"jwt-base64", "microsoft-teams-webhook"}
#: Rules that stop inside a token: the labelled value runs on to the token's end.
TOKEN_TAIL = {"slack-legacy-workspace-token": re.compile(r"(?:-[0-9a-zA-Z]+)*")}
_K8S_VALUE = re.compile(r"[\w.-]+:(?:[ \t]*(?:\||>[-+]?)\s+)?[ \t]*")


def label(
    rule_id: str, text: str, secret: tuple[int, int], match: tuple[int, int]
) -> tuple[int, int]:
    """The labelled value's span, from the secret span gitleaks reports.

    The same as gitleaks' except where its secret is not just the value: see WHOLE_MATCH and
    TOKEN_TAIL; kubernetes-secret-yaml reports ``key: value`` (the value is after the key
    and a YAML block indicator); and a value reported with its quotes (curl ``-u "u:p"``,
    hashicorp-tf-password ``"..."``) is labelled without them.
    """
    start, end = match if rule_id in WHOLE_MATCH else secret
    if rule_id in TOKEN_TAIL:
        tail = TOKEN_TAIL[rule_id].match(text, end)
        end = tail.end() if tail else end
    if rule_id == "kubernetes-secret-yaml":
        key = _K8S_VALUE.match(text, start)
        assert key is not None
        start = key.end()
    quote = text[start]
    inner = text[start + 1 : end - 1]
    if end - start > 2 and quote in "\"'" and text[end - 1] == quote and quote not in inner:
        start, end = start + 1, end - 1
    return start, end


# --------------------------------------------------------------------------------------
# Build


@dataclass
class Value:
    provider: str
    rule: str
    origin: str  # sample | literal
    template: str | None
    ordinal: int
    value: str
    carrier: str
    start: int
    end: int


@dataclass
class Build:
    values: list[Value] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    redrawn: int = 0  # true positives that needed another seed


def git_show(repo: str, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def git_ls(repo: str, commit: str, path: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", repo, "ls-tree", "--name-only", f"{commit}", f"{path}/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(out.split())


def sample_templates(repo: str, commit: str) -> dict[str, str]:
    """The ``samples`` map of ``GenerateSampleSecrets`` in upstream ``generate.go``."""
    src = git_show(repo, commit, f"{UTILS_DIR}/generate.go")
    toks = tokenize(src)
    for k, t in enumerate(toks):
        if t.text == "samples" and toks[k + 1].text == ":=":
            p = Parser(Interp({}), toks[k + 2 :], {})
            value = p.expr()
            assert isinstance(value, dict) and len(value) > 10, value
            return {str(a): str(b) for a, b in value.items()}
    raise RuntimeError("samples map not found")


def rule_functions(interp: Interp, files: dict[str, str]) -> list[tuple[str, GoFunc]]:
    out = []
    for name, src in files.items():
        for fn in interp.load_file(name, src, "rules"):
            if "RuleID" in {t.text for t in fn.body}:
                out.append((name.removesuffix(".go"), fn))
    return out


def evaluate(interp: Interp, fn: GoFunc, attempt: int) -> tuple[str, list[Any] | None]:
    """(rule id, true positives) of a rule function under one seed."""
    interp.rng = random.Random(f"{SEED}:{fn.file}:{fn.name}:{attempt}")
    interp.groups = 0
    env = dict(interp.globals)
    p = Parser(interp, [*fn.body, Tok("eof", "", 0)], env)
    result = None
    while p.peek().kind != "eof":
        if p.peek().text == "return":
            p.take()
            result = p.peek(2).text  # utils.Validate / utils.ValidateWithPaths
            break
        p.statement()
    rule = env["r"]
    assert isinstance(rule, Struct), (fn.name, rule)
    rule_id = rule.fields["RuleID"]
    tps = env.get("tps")
    if result is None or tps is None:
        return rule_id, None  # upstream has no true positives for this rule
    if isinstance(tps, dict):
        tps = list(tps.values())
    return rule_id, tps


def items_of(tps: list[Any]) -> list[Any]:
    """Group ``GenerateSampleSecrets`` lines: one entry per call, or a literal string."""
    out: list[Any] = []
    seen: dict[int, list[Sample]] = {}
    for tp in tps:
        if isinstance(tp, Sample):
            if tp.group not in seen:
                seen[tp.group] = []
                out.append(seen[tp.group])
            seen[tp.group].append(tp)
        else:
            out.append(tp)
    return out


def pick(rule_id: str, ordinal: int, n: int) -> int:
    digest = hashlib.sha256(f"{SEED}:{rule_id}:{ordinal}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % n


def build(repo: str, commit: str) -> Build:
    templates = sample_templates(repo, commit)
    detector = Detector.from_toml(git_show(repo, commit, "config/gitleaks.toml"))
    interp = Interp(templates)
    for name in git_ls(repo, commit, UTILS_DIR):
        if name.endswith(".go") and not name.endswith("_test.go"):
            interp.load_file(name, git_show(repo, commit, name), "utils")
    files = {
        Path(n).name: git_show(repo, commit, n)
        for n in git_ls(repo, commit, RULES_DIR)
        if n.endswith(".go")
    }
    # Package variables first (cloudflare.go's key lists, stopwords.go's DefaultStopWords).
    functions = rule_functions(interp, files)
    interp.stopwords = [w.lower() for w in interp.globals.get("DefaultStopWords", [])]
    assert interp.stopwords, "DefaultStopWords not read"
    out = Build()
    for provider, fn in sorted(functions, key=lambda x: (x[0], x[1].name)):
        used_values: set[str] = set()  # a rule's true positives repeat values in new lines
        rule_id, first = evaluate(interp, fn, 0)
        if rule_id not in detector.rules:
            reason = (
                "a path-only rule: it matches file names (*.p12, *.pfx), not content"
                if rule_id in detector.path_only
                else "rule not in gitleaks.toml (cmd/generate/config/main.go does not call "
                "its function)"
            )
            out.skipped.append(
                {"provider": provider, "rule": rule_id, "function": fn.name, "reason": reason}
            )
            continue
        if first is None:
            out.skipped.append(
                {
                    "provider": provider,
                    "rule": rule_id,
                    "function": fn.name,
                    "reason": "upstream lists no true positives for this rule",
                }
            )
            continue
        first_items = items_of(first)
        chosen: list[list[Value] | None] = [None] * len(first_items)
        reasons: list[str] = [""] * len(first_items)
        for attempt in range(ATTEMPTS):
            _, tps = (rule_id, first) if attempt == 0 else evaluate(interp, fn, attempt)
            items = items_of(tps or [])
            assert len(items) == len(first_items), (fn.name, attempt)
            for ordinal, item in enumerate(items):
                if chosen[ordinal] is not None:
                    continue
                found, reason = check_item(detector, provider, rule_id, ordinal, item)
                if found:
                    chosen[ordinal] = found
                    out.redrawn += attempt > 0
                else:
                    reasons[ordinal] = reason
            if all(c is not None for c in chosen):
                break
        for ordinal, found in enumerate(chosen):
            if found is None:
                out.skipped.append(
                    {
                        "provider": provider,
                        "rule": rule_id,
                        "ordinal": ordinal,
                        "reason": reasons[ordinal],
                    }
                )
                continue
            for v in found:
                if v.value in used_values:
                    out.skipped.append(
                        {
                            "provider": provider,
                            "rule": rule_id,
                            "ordinal": ordinal,
                            "reason": "the same value as an earlier true positive of the rule",
                        }
                    )
                    continue
                used_values.add(v.value)
                out.values.append(v)
    return out


def sample_span(detector: Detector, rule_id: str, s: Sample) -> tuple[int, int] | None:
    """Where the value of a sample line lies, if the rule reports it there.

    The value is the secret handed to ``GenerateSampleSecrets``. Where the rule reports only
    part of it, the whole value is kept (slack-legacy-workspace-token reports the
    ``xoxa-N-NNNN`` head of a longer token: the tail is secret too), except for
    punctuation the rule leaves out at either end (perplexity's sample ends in a stray
    quote): then the reported span is the value.
    """
    start = s.text.find(s.secret)
    if start < 0:
        return None
    end = start + len(s.secret)
    for a, b in detector.spans(rule_id, s.text):
        if (a, b) == (start, end):
            return start, end
        if start <= a < b <= end:
            outside = s.text[start:a] + s.text[b:end]
            if not any(c.isalnum() for c in outside):
                return a, b
            return start, end
    return None


def check_item(
    detector: Detector, provider: str, rule_id: str, ordinal: int, item: Any
) -> tuple[list[Value] | None, str]:
    if isinstance(item, Sample):  # GenerateSampleSecret: one line
        item = [item]
    if isinstance(item, list) and item and isinstance(item[0], Sample):
        samples: list[Sample] = item
        good = []
        for s in samples:
            span = sample_span(detector, rule_id, s)
            if span is not None:
                good.append((s, span))
        if not good:
            return None, "generated value not reported by the rule in any sample line"
        s, (start, end) = good[pick(rule_id, ordinal, len(good))]
        value = Value(
            provider, rule_id, "sample", s.template, ordinal, s.text[start:end], s.text, start, end
        )
        return [value], ""
    if not isinstance(item, str):
        return None, f"true positive not evaluated ({item!r})"
    if not item.strip():
        return None, "empty true positive (a path-only rule: the file name is the finding)"
    spans = detector.spans(rule_id, item)
    if not spans:
        return None, "literal true positive not reported by the rule's regex under RE2"
    values = []
    for start, end in spans:
        if is_certificate(item[start:end]):
            continue
        values.append(
            Value(provider, rule_id, "literal", None, ordinal, item[start:end], item, start, end)
        )
    if not values:
        return None, "a base64 X.509 certificate in a Secret's data: public, not a secret"
    return values, ""


def is_certificate(value: str) -> bool:
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return decoded.startswith(b"-----BEGIN CERTIFICATE-----")


#: Values and carriers are stored XORed with this key, then base64-encoded, so that secret
#: scanners (which decode base64) and push protection do not flag the file. Not encryption:
#: ``decode`` below undoes it.
KEY = b"modellab-recall"


def encode(s: str) -> str:
    raw = s.encode("utf-8")
    return base64.b64encode(bytes(b ^ KEY[i % len(KEY)] for i, b in enumerate(raw))).decode()


def decode(x: str) -> str:
    raw = base64.b64decode(x)
    return bytes(b ^ KEY[i % len(KEY)] for i, b in enumerate(raw)).decode("utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repo", default="/work/.mirror/gitleaks+gitleaks/repo")
    ap.add_argument("--commit", default=COMMIT)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    result = build(args.repo, args.commit)
    with (args.out / "gitleaks.jsonl").open("w") as fh:
        for v in result.values:
            record = {
                "provider": v.provider,
                "rule": v.rule,
                "origin": v.origin,
                "template": v.template,
                "ordinal": v.ordinal,
                "value_x": encode(v.value),
                "carrier_x": encode(v.carrier),
                "start": v.start,
                "end": v.end,
            }
            fh.write(json.dumps(record, sort_keys=True) + "\n")
    (args.out / "skipped.json").write_text(json.dumps(result.skipped, indent=1) + "\n")
    providers = {v.provider for v in result.values}
    rules = {v.rule for v in result.values}
    origins = Counter(v.origin for v in result.values)
    print(
        f"{len(result.values)} values from {len(rules)} rules across {len(providers)} providers "
        f"({dict(origins)}); {result.redrawn} drawn again; {len(result.skipped)} skipped"
    )
    for reason, n in Counter(s["reason"] for s in result.skipped).most_common():
        print(f"  skipped {n}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
