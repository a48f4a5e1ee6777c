"""Who a session shows its user to be, and which ``/home/x`` is really a home.

The first scan of a trajectory finds home folders; then the session itself says who its
user is: the owners of real home folders (a folder under ``/home`` that is the project
being worked on is no home), ``whoami``, ``id`` and ``git config user.name`` output, git
author and committer lines. Those names are redacted wherever else they appear, as whole
words. A name that is also the project's, a package's in the session's code or a common
word is never redacted everywhere, where it would rewrite code: it is redacted only where
the session shows it as the user, under the rule ``user-name-ambiguous``, which review
lists as a decision (``t`` adds it as a term to redact everywhere).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from itertools import accumulate, repeat
from operator import add
from typing import Any

import ahocorasick_rs

from modellab._internal import jsonio
from modellab.redact._engine import Finding, Scanner, value_hash

__all__ = ["Field", "SessionIdentity"]

#: (container, key, JSON path, text) of one string in a trajectory.
Field = tuple[Any, Any, str, str]
_WORKSPACE_RULE = "workspace-path"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Account names that say nothing about a person (system, CI and container accounts); never
# taken for a user's name.
_GENERIC_USERS = frozenset(
    {
        "root",
        "user",
        "users",
        "admin",
        "administrator",
        "dev",
        "app",
        "home",
        "test",
        "ubuntu",
        "debian",
        "centos",
        "fedora",
        "ec2-user",
        "runner",
        "node",
        "vscode",
        "codespace",
        "shared",
        "default",
        "guest",
        "public",
        "build",
        "git",
        "www-data",
        "nobody",
        "daemon",
        "postgres",
        "mysql",
        "nginx",
        "jenkins",
        "gitlab-runner",
        "circleci",
        "vagrant",
        "docker",
        "linuxbrew",
        "openhands",
        "testbed",
        "workspace",
    }
)
# Words a user name or a part of a full name may also be. Redacted everywhere as a word,
# such a name would rewrite ordinary text and code, so it is only redacted where the session
# shows it as the user (and review decides the rest): common English words that are also
# given names or surnames, name particles, and words of software work.
_COMMON_WORDS = _words(
    """
    about all amber and angel april arch art august autumn baker banks bear bell berry best
    bill bird bishop black bloom blue bond brand brook brown buck bud buddy bush butler cash
    castle chance chase cherry chip church clay cliff cole colt cook cooper crane cross
    crystal daisy dale dash dawn day dean del den der des dew dick don dove drew duke dusty
    earl east faith fall field fields finch fisher flint ford forest fox frank free french
    frost fry gale gay gene gift ginger glass glen gold good grace grant gray green grey guy
    hall hardy hart hazel heath heather hill holly honey hope hunt hunter iris iron ivy jack
    jade jay jewel joy judge june king knight lake lamb lance lane law lee les lily little
    long love lucky major march mark marsh mason may melody mercy miles mill miller mint misty
    moon moss new nick noble north oak olive page park parker pat patience peach pearl penny
    pepper pine pope porter potter price prince rain ray reed rich river rivers robin rock
    rocky rod rose ruby rush rusty sage salt sandy shade sharp shepherd shore short silver
    sky small smith snow south sparrow spring star steel sterling stone storm strong sue
    summer sunny swan sweet swift the tod tucker turner van violet von wade walker ward warren
    way weaver wells west white will winter wolf wood woods wren young
    agent api apps backend bot builder cache code coder config core data demo deploy desktop
    developer devops docs example frontend github gitlab lab laptop lib linux local mac main
    master ops project projects prod python redis remote repo repos sample sandbox server
    service src staff student support system team temp tests tmp tools web windows work
    worker www
    """
)

_HOME_RULE = "home-path"
#: Where a name is redacted only as the user, not everywhere (see the module's docstring).
_AMBIGUOUS_RULE = "user-name-ambiguous"
_HOME_PREFIX = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\+Users\\+)([^/\\]+)(?=[/\\]+[^/\\])")
_USER_FROM_HOME = re.compile(r"(?:/home/|/Users/|\\Users\\+)([^/\\]+)$")


# ---- who the user is ---------------------------------------------------------------------

#: Person lines of git log, git show and format-patch output, and commit trailers (also
#: after an escaped newline, in JSON shown as text).
_PERSON_LINE = re.compile(
    r"(?:(?<![^\s>|+-])|(?<=\\n))"
    r"(?:Author|Commit|Committer|From|Signed-off-by|Co-authored-by|Reviewed-by)"
    r":[ \t]+([^\s<>:@\"'`=][^<>:@\"'`=\r\n]{0,78}?)[ \t]*<([^<>\s]{0,254})>"
)
#: ``git config --list`` output.
_CONFIG_NAME = re.compile(r"(?<!\S)user\.name=([^\r\n]{1,80})(?![^\r\n])")
#: The ``[user]`` section of a ``.gitconfig`` shown in full.
_GITCONFIG_NAME = re.compile(
    r"\[user\][ \t]*\r?\n(?:[ \t]*[\w.-]+[ \t]*=[^\r\n]*\r?\n){0,8}?[ \t]*name[ \t]*=[ \t]*"
    r"([^\r\n]{1,80})"
)
#: ``git config user.name "Marco Rotili"``: the name set by the session.
_SET_NAME = re.compile(
    r"git[ \t]+config(?:[ \t]+--?[\w-]+)*[ \t]+user\.name[ \t]+"
    r"(?:\"([^\"\r\n]{1,80})\"|'([^'\r\n]{1,80})'|([^\s\"'<>|;&$-][^\s\"'<>|;&]{0,63}))"
)
#: ``id`` output: ``uid=1000(marco) gid=…``.
_ID_OUTPUT = re.compile(r"(?<![\w-])uid=\d+\(([^()\s]{1,64})\)")
#: Commands whose whole output is the login name, or the git user name.
_LOGIN_COMMAND = (
    r"(?:whoami|id[ \t]+-un|id[ \t]+-nu|id[ \t]+-u[ \t]+-n|"
    r"echo[ \t]+\"?\$\{?(?:USER|LOGNAME)\}?\"?)"
)
_GIT_NAME_COMMAND = r"git[ \t]+config(?:[ \t]+--(?:global|local|system|get))*[ \t]+user\.name"
_COMMAND_ALONE = re.compile(
    r"[ \t]*(?:cd[ \t]+[^\s;&|]+[ \t]*&&[ \t]*)?"
    rf"(?:(?P<login>{_LOGIN_COMMAND})|(?P<git>{_GIT_NAME_COMMAND}))[ \t;]*\r?\n?"
)
#: A terminal transcript: after a prompt, the command, and its output on the next line.
_TRANSCRIPT = re.compile(
    rf"(?<=[$#%>][ \t])(?:(?P<login>{_LOGIN_COMMAND})|(?P<git>{_GIT_NAME_COMMAND}))"
    r"[ \t]*\r?\n[ \t]*(?P<out>[^\r\n]{1,80})"
)
#: Where a session names the folder its agent works in, or its repository.
_UPLOADED = re.compile(r"<uploaded_files>[ \t]*\r?\n((?:[ \t]*[^\s<][^\r\n<]*\r?\n){1,8})")
_UPLOADED_INTO = re.compile(r"repository in the directory[ \t]+([^\s,;]+?)[.,;]?(?=\s|$)")
_REMOTE = re.compile(
    r"(?:github\.com|gitlab\.com|bitbucket\.org|codeberg\.org)[:/]+[\w.-]+/([\w.-]+?)"
    r"(?:\.git)?(?![\w.-])"
)
# What the patterns above start with (the transcript's command, after its prompt). One pass
# of an automaton over the session finds them, and each pattern is tried only there.
_PERSON, _CONFIG, _GITCONFIG, _ID, _GIT, _LOGIN_KEY, _UPLOAD, _INTO, _HOSTED = range(9)
_KEYWORDS: dict[str, int] = {
    "Author:": _PERSON,
    "Commit:": _PERSON,
    "Committer:": _PERSON,
    "From:": _PERSON,
    "Signed-off-by:": _PERSON,
    "Co-authored-by:": _PERSON,
    "Reviewed-by:": _PERSON,
    "user.name=": _CONFIG,
    "[user]": _GITCONFIG,
    "uid=": _ID,
    "git config": _GIT,
    "whoami": _LOGIN_KEY,
    "id -un": _LOGIN_KEY,
    "id -nu": _LOGIN_KEY,
    "id -u -n": _LOGIN_KEY,
    "echo $USER": _LOGIN_KEY,
    'echo "$USER"': _LOGIN_KEY,
    "echo ${USER}": _LOGIN_KEY,
    "echo $LOGNAME": _LOGIN_KEY,
    "<uploaded_files>": _UPLOAD,
    "repository in the directory": _INTO,
    "github.com": _HOSTED,
    "gitlab.com": _HOSTED,
    "bitbucket.org": _HOSTED,
    "codeberg.org": _HOSTED,
}
_KEYWORD_KINDS = tuple(_KEYWORDS.values())
_AUTOMATON = ahocorasick_rs.BytesAhoCorasick(
    [keyword.encode() for keyword in _KEYWORDS], implementation=ahocorasick_rs.Implementation.DFA
)
#: A login name, and a person's name (one to five words).
_LOGIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_NAME_WORD = re.compile(r"[^\W\d_][\w.'-]*")
#: Committers that are services, not people.
_SERVICES = frozenset(
    {
        "github",
        "gitlab",
        "gitea",
        "bitbucket",
        "github actions",
        "github action",
        "github-actions",
        "dependabot",
        "renovate",
        "renovate bot",
        "copilot",
        "openhands",
        "swe-agent",
        "your name",
        "you",
        "unknown",
    }
)
_SERVICE_EMAILS = frozenset({"noreply@github.com", "noreply@gitlab.com"})
#: The path component that follows a home folder.
_CHILD = re.compile(r"(?:\\{1,4}|/)(\.?[\w.+-]{1,64})")
#: Children of a folder that say it is a home, not a project.
_HOME_CHILDREN = _words(
    """
    .bashrc .bash_profile .bash_history .zshrc .zsh_history .profile .config .cache .local
    .ssh .gnupg .npm .nvm .cargo .rustup .m2 .pyenv .conda .docker .kube .aws .azure
    .gitconfig .vimrc .tmux.conf .oh-my-zsh .claude .codex .codewhale .deepseek .vscode-server
    .ipython .jupyter .sdkman .bun .deno .yarn .gem .rbenv .sbt .ivy2 .pki .mozilla
    Documents Downloads Desktop Pictures Music Videos Library Applications projects Projects
    repos code Code work workspace dev go snap miniconda3 anaconda3 miniforge3 mambaforge
    """
)
#: Children of a folder that say it is a project checkout.
_PROJECT_CHILDREN = _words(
    """
    .git .github .gitignore .travis.yml .mvn pom.xml build.gradle build.gradle.kts
    settings.gradle settings.gradle.kts gradlew mvnw package.json pyproject.toml setup.py
    setup.cfg tox.ini requirements.txt Cargo.toml go.mod Makefile CMakeLists.txt Gemfile
    composer.json mix.exs build.sbt Package.swift meson.build configure README.md README.rst
    README LICENSE
    """
)
_IDENTIFIER_START = re.compile(r"[A-Za-z_]")
#: Last parts of a dotted word that make it a host name or a document, not code.
_NOT_CODE_SUFFIXES = _words(
    """
    com org net io dev app ai co me info biz edu gov eu uk de fr it es nl ch at se no fi dk pl
    cz pt br ca au jp cn in ru us local lan internal home
    txt md rst log pdf png jpg jpeg gif svg csv tsv doc docx xls xlsx ppt pptx odt zip tar gz
    tgz pem pub key crt asc sig
    """
)
#: What an imported module's name follows (``import x``, ``require("x")``, ``package x``).
_IMPORTED = re.compile(
    r"(?:\b(?:import|cimport|package)[ \t]+|\b(?:require|import)\([ \t]*[\"']|\bfrom[ \t]+[\"'])\Z"
)
_FROM = re.compile(r"\bfrom[ \t]+\Z")
_THEN_IMPORT = re.compile(r"[ \t]+import\b")
_ADDRESS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")
_SEPARATOR = "\n\x00\n"


def _is_personal(name: str) -> bool:
    return len(name) >= 3 and name.lower() not in _GENERIC_USERS


def _is_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _normal_path(path: str) -> str:
    """A folder path compared as such: single backslashes, no trailing separator."""
    if "\\" in path:
        path = re.sub(r"\\+", r"\\", path)
    return path.strip().rstrip("/\\")


def _basename(path: str) -> str:
    return re.split(r"[/\\]", path)[-1]


def _person(raw: str) -> str | None:
    """A person's name as git records it (one to five words), or None."""
    name = " ".join(raw.split())
    words = name.split(" ")
    if not 1 <= len(words) <= 5 or len(name) > 64:
        return None
    if not all(_NAME_WORD.fullmatch(word) for word in words):
        return None
    lowered = name.lower()
    if lowered in _SERVICES or lowered.endswith(("[bot]", "-bot", "_bot", " bot")):
        return None
    if len(words) == 1 and not _is_personal(name):
        return None
    return name


def _login(raw: str) -> str | None:
    """A login name as ``whoami`` prints it (``DOMAIN\\user`` on Windows), or None."""
    name = raw.strip().rsplit("\\", 1)[-1]
    if not _LOGIN.fullmatch(name) or not _is_personal(name):
        return None
    return name


def _code_context(joined: str, start: int, end: int) -> bool:
    """Whether the word at ``joined[start:end]`` is used as a name in code there."""
    before = joined[start - 1 : start]
    after = joined[end : end + 2]
    if before == "@" or after[:1] == "@":
        return False  # an e-mail address or user@host: the user, not code
    if before in ("/", "\\") or after[:1] in ("/", "\\"):
        return False  # a path component (/home/x/…)
    if after[:1] == "(" or after == "::" or joined[start - 2 : start] in ("::", "->"):
        return True
    dotted = (after[:1] == "." and _IDENTIFIER_START.match(after, 1) is not None) or (
        before == "." and start >= 2 and _is_word_char(joined[start - 2])
    )
    if dotted:
        return not _in_address_or_file(joined, start, end)
    window = max(start - 24, 0)
    if _IMPORTED.search(joined, window, start):
        return True
    return _FROM.search(joined, window, start) is not None and bool(_THEN_IMPORT.match(joined, end))


def _in_address_or_file(joined: str, start: int, end: int) -> bool:
    """Whether ``joined[start:end]`` is part of an address or a document's file name.

    E-mail addresses, user@host, host names (``marco.github.io``) and documents
    (``marco-notes.txt``) use a name without making it code.
    """
    left, right, size = start, end, len(joined)
    while left > 0 and joined[left - 1] in _ADDRESS_CHARS:
        left -= 1
    while right < size and joined[right] in _ADDRESS_CHARS:
        right += 1
    if joined[right : right + 1] == "@":
        return True
    # After an "@" that follows a word: an address's domain (not ``@com.acme.Annotation``).
    if joined[left - 1 : left] == "@" and left >= 2 and _is_word_char(joined[left - 2]):
        return True
    if joined[max(left - 3, 0) : left] == "://":
        return True
    token = joined[left:right].rstrip(".")
    last = token.rsplit(".", 1)[-1].lower() if "." in token else ""
    return bool(last) and end < left + len(token) and last in _NOT_CODE_SUFFIXES


class SessionIdentity:
    """Who a session shows its user to be, and where; and which ``/home/x`` is no home.

    ``names`` are redacted everywhere (as terms); names that are also the project's, a
    package's in the session's code or a common word become findings of the rule
    ``user-name-ambiguous`` only where the session shows them as the user.
    """

    def __init__(
        self,
        trajectory: dict[str, Any],
        fields: list[Field],
        texts: list[str],
        found: list[list[Finding]],
        workspaces: list[str],
    ) -> None:
        self._trajectory = trajectory
        self._fields = fields
        self._texts = texts
        self._found = found
        self._joined = _SEPARATOR.join(texts)
        self._starts = list(
            accumulate(map(add, map(len, texts[:-1]), repeat(len(_SEPARATOR))), initial=0)
        )
        self._workspaces = {_normal_path(w) for w in workspaces if w.strip()}
        self._projects: set[str] = set()
        self._code: dict[str, bool] = {}
        self._hits: dict[int, list[int]] = {}
        #: Names redacted everywhere.
        self.names: set[str] = set()
        #: (name, start, end in the joined texts) where the session shows a name as the user.
        self._shown: list[tuple[str, int, int]] = []
        #: Where each home-path finding with an owner is: (text index, finding index).
        self._homes: dict[str, list[tuple[int, int]]] = {}
        #: Folders the home-path rule matched that are no home (their findings are dropped).
        self._no_homes: set[str] = set()

    # -- reading the session ---------------------------------------------------------------

    def _locate(self, start: int, end: int) -> tuple[int, int, int] | None:
        """(text index, start, end) of a span of the joined texts, None if it crosses one."""
        index = bisect.bisect_right(self._starts, start) - 1
        base = self._starts[index]
        if end > base + len(self._texts[index]):
            return None
        return index, start - base, end - base

    def _keywords(self) -> dict[int, list[int]]:
        """Where each kind of keyword (see ``_KEYWORDS``) starts in the joined texts."""
        # One byte per character (anything outside Latin-1 becomes "?"): byte offsets are
        # character offsets.
        folded = self._joined.encode("latin-1", "replace")
        hits: defaultdict[int, list[int]] = defaultdict(list)
        for number, start, _ in _AUTOMATON.find_matches_as_indexes(folded, overlapping=True):
            hits[_KEYWORD_KINDS[number]].append(start)
        return hits

    def _matches(self, kind: int, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        """Matches of ``pattern`` starting at the keywords of ``kind``."""
        joined = self._joined
        found = (pattern.match(joined, start) for start in self._hits.get(kind, ()))
        return [match for match in found if match is not None]

    def _find_workspaces(self) -> None:
        for index, findings in enumerate(self._found):
            for finding in findings:
                if finding.rule_id == _WORKSPACE_RULE:
                    text = self._texts[index][finding.start : finding.end]
                    self._workspaces.add(_normal_path(text))
        for match in self._matches(_UPLOAD, _UPLOADED):
            for line in match.group(1).splitlines():
                if line.strip():
                    self._workspaces.add(_normal_path(line))
        for match in self._matches(_INTO, _UPLOADED_INTO):
            self._projects.add(_basename(_normal_path(match.group(1))).casefold())
        self._projects.update(m.group(1).casefold() for m in self._matches(_HOSTED, _REMOTE))
        self._projects.update(_basename(w).casefold() for w in self._workspaces if w)
        self._projects.discard("")

    def _in_code(self, name: str) -> bool:
        """Whether ``name`` is used as an identifier in the session's code (cached)."""
        known = self._code.get(name)
        if known is not None:
            return known
        joined, size = self._joined, len(name)
        result = False
        at = joined.find(name)
        while at >= 0:
            end = at + size
            alone = not (at and _is_word_char(joined[at - 1])) and not (
                end < len(joined) and _is_word_char(joined[end])
            )
            if alone and _code_context(joined, at, end):
                result = True
                break
            at = joined.find(name, at + 1)
        self._code[name] = result
        return result

    def _ambiguous(self, name: str) -> bool:
        """Whether ``name`` is also the project's, a package's or a common word."""
        return (
            name.lower() in _COMMON_WORDS
            or name.casefold() in self._projects
            or self._in_code(name)
        )

    def _find_homes(self) -> dict[str, str]:
        """Real home folders and their owners; home-path findings of other folders dropped.

        ``/home/x`` is no home when it is a working folder of the session; when what the
        session shows in it is a project (``pom.xml``, ``.git``…) and nothing of a home
        (``.bashrc``, ``Documents``…); or when ``x`` is the project's or a package's name
        and no working folder lies inside it. (Files directly under ``/home``, such as
        ``/home/run.sh``, never match the ``home-path`` rule.)
        """
        children: dict[str, set[str]] = {}
        owners: dict[str, str] = {}
        seen: dict[str, str] = {}  # home-path match -> home folder ("" for /root)
        for index, findings in enumerate(self._found):
            text = self._texts[index]
            for number, finding in enumerate(findings):
                if finding.rule_id != _HOME_RULE:
                    continue
                raw = text[finding.start : finding.end]
                home = seen.get(raw)
                if home is None:
                    match = _USER_FROM_HOME.search(raw)
                    home = seen[raw] = _normal_path(raw) if match else ""
                    if match:
                        owners[home] = match.group(1)
                if not home:
                    continue  # /root
                self._homes.setdefault(home, []).append((index, number))
                child = _CHILD.match(text, finding.end)
                if child is not None:
                    children.setdefault(home, set()).add(child.group(1))
        homes: dict[str, str] = {}
        for home, owner in owners.items():
            if self._is_home(home, owner, children.get(home, set())):
                homes[home] = owner
            else:
                self._no_homes.add(home)
        return homes

    def _is_home(self, home: str, owner: str, children: set[str]) -> bool:
        if home in self._workspaces:
            return False
        if children & _HOME_CHILDREN:
            return True
        if children & _PROJECT_CHILDREN:
            return False
        inside = any(w.startswith((home + "/", home + "\\")) for w in self._workspaces)
        named_like_code = _is_personal(owner) and (
            owner.casefold() in self._projects or self._in_code(owner)
        )
        return inside or not named_like_code

    def _show(self, name: str | None, start: int, end: int) -> None:
        if name is not None:
            self._shown.append((name, start, end))

    def _find_shown_names(self) -> None:
        """Names the session shows to be its user's, where it shows them."""
        for match in self._matches(_PERSON, _PERSON_LINE):
            if match.group(2).lower() not in _SERVICE_EMAILS:
                self._show(_person(match.group(1)), *match.span(1))
        for match in self._matches(_CONFIG, _CONFIG_NAME):
            self._show(_person(match.group(1).strip()), *match.span(1))
        for match in self._matches(_GIT, _SET_NAME):
            group = match.lastindex or 1
            self._show(_person(match.group(group)), *match.span(group))
        for match in self._matches(_GITCONFIG, _GITCONFIG_NAME):
            self._show(_person(match.group(1).strip()), *match.span(1))
        for match in self._matches(_ID, _ID_OUTPUT):
            self._show(_login(match.group(1)), *match.span(1))
        if _GIT in self._hits or _LOGIN_KEY in self._hits:
            for kind in (_GIT, _LOGIN_KEY):
                for match in self._matches(kind, _TRANSCRIPT):
                    read = _login if match.group("login") else _person
                    self._show(read(match.group("out")), *match.span("out"))
            self._command_results()

    def _command_results(self) -> None:
        """Output of ``whoami`` or ``git config user.name`` run as a tool call of its own."""
        results: dict[str, int] | None = None
        for _, _, path, text in self._fields:
            if len(text) > 200 or "/arguments" not in path:
                continue
            command = _COMMAND_ALONE.fullmatch(text)
            if command is None:
                continue
            call = jsonio.value_at(self._trajectory, path[: path.rindex("/arguments")])
            call_id = call.get("tool_call_id") if isinstance(call, dict) else None
            if not isinstance(call_id, str):
                continue
            if results is None:
                results = {
                    container["source_call_id"]: number
                    for number, (container, name, _, _) in enumerate(self._fields)
                    if name == "content"
                    and isinstance(container, dict)
                    and isinstance(container.get("source_call_id"), str)
                }
            number = results.get(call_id)
            if number is None:
                continue
            output = self._texts[number]
            line = next((raw for raw in output.splitlines() if raw.strip()), "")
            if not line or re.search(r"(?i)\bexit(?:ed)?\b.*\bcode\b", line):
                continue
            read = _login if command.group("login") else _person
            name = read(line)
            if name is not None:
                offset = output.index(line) + len(line) - len(line.lstrip())
                start = self._starts[number] + offset
                self._show(name, start, start + len(line.strip()))

    # -- deciding --------------------------------------------------------------------------

    def resolve(self, scanner: Scanner) -> dict[int, list[Finding]]:
        """Decide the names; return the findings to add, by text index.

        Home-path findings of folders that are no home are dropped from the scan's
        findings, and those of homes whose owner is an ambiguous name are reported under
        ``user-name-ambiguous`` (still ``~``), so that review asks about the name.
        """
        if not self._texts:
            return {}
        self._hits = self._keywords()
        self._find_workspaces()
        homes = self._find_homes()
        self._find_shown_names()
        candidates: set[str] = {owner for owner in homes.values() if _is_personal(owner)}
        for workspace in self._workspaces:
            match = _HOME_PREFIX.match(workspace)
            if match and _is_personal(match.group(1)):
                candidates.add(match.group(1))
        candidates.update(name for name, _, _ in self._shown)
        ambiguous: set[str] = set()
        for name in candidates:
            words = name.split(" ")
            if len(words) > 1:
                # A full name is redacted whole, and each part that is distinctive on its
                # own (not a common word, the project's or a package's name) alone too.
                self.names.add(name)
                self.names.update(
                    word
                    for word in words
                    if len(word.strip(".")) >= 3
                    and _is_personal(word)
                    and not self._ambiguous(word)
                )
            elif self._ambiguous(name):
                ambiguous.add(name)
            else:
                self.names.add(name)
        return self._ambiguous_findings(ambiguous, homes, scanner)

    def _ambiguous_findings(
        self, ambiguous: set[str], homes: dict[str, str], scanner: Scanner
    ) -> dict[int, list[Finding]]:
        extra: dict[int, list[Finding]] = {}
        if not ambiguous:
            self._rewrite_homes(set())
            return extra
        spans = [(start, end) for name, start, end in self._shown if name in ambiguous]
        joined = self._joined
        for name in ambiguous:
            # user@host in a shell prompt or an ssh command: the user, not a word.
            at = joined.find(name + "@")
            while at >= 0:
                end = at + len(name)
                if not (at and joined[at - 1] in _ADDRESS_CHARS) and _is_word_char(
                    joined[end + 1 : end + 2] or "@"
                ):
                    spans.append((at, end))
                at = joined.find(name + "@", end)
        for start, end in spans:
            where = self._locate(start, end)
            if where is None:
                continue
            index, local_start, local_end = where
            value = self._texts[index][local_start:local_end]
            digest = value_hash(value, scanner.hash_key)
            if digest in scanner.allow_hashes:
                continue
            finding = Finding(_AMBIGUOUS_RULE, "identity", "USER", local_start, local_end, digest)
            extra.setdefault(index, []).append(finding)
        self._rewrite_homes({home for home, owner in homes.items() if owner in ambiguous})
        for findings in extra.values():
            findings.sort(key=lambda f: (f.start, -f.length))
        return extra

    def _rewrite_homes(self, ambiguous_homes: set[str]) -> None:
        """Drop the findings of folders that are no home; rename those of ambiguous owners."""
        drop: set[tuple[int, int]] = set()
        rename: set[tuple[int, int]] = set()
        for home, places in self._homes.items():
            if home in self._no_homes:
                drop.update(places)
            elif home in ambiguous_homes:
                rename.update(places)
        for index in sorted({index for index, _ in drop | rename}):
            rewritten: list[Finding] = []
            for number, old in enumerate(self._found[index]):
                if (index, number) in drop:
                    continue
                if (index, number) in rename:
                    old = Finding(
                        _AMBIGUOUS_RULE,
                        old.category,
                        old.placeholder,
                        old.start,
                        old.end,
                        old.value_sha256,
                    )
                rewritten.append(old)
            self._found[index] = rewritten
