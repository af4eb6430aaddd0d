"""Scrubbing rules: find secrets, home paths, addresses and a record's own identifiers in text.

Each rule is a small callable returning the new text and how many replacements it made; a
:class:`Scrubber` applies them in order. Replacements are typed and deterministic
(``<redacted:password>``, ``<host>``, ``<user>``, ``~/...``), and no rule guesses by entropy:
ordinary values (``--lr=0.001``, a 40-hex commit, ``/data/x``) are never touched.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Callable, Iterable, Union

# Words that make a key name a secret, and the marker type each implies.
_SECRET_WORDS = {
    "password": "password", "passwd": "password", "pwd": "password", "passphrase": "password",
    "secret": "secret", "token": "token", "apikey": "api_key", "credential": "credential",
    "credentials": "credential", "auth": "auth", "authorization": "auth", "privatekey": "private_key",
    "accesskey": "access_key", "secretkey": "secret", "cookie": "cookie", "sessionid": "session",
    "signature": "signature", "sig": "signature",
}
_SECRET_PAIRS = {
    ("api", "key"): "api_key", ("access", "key"): "access_key", ("private", "key"): "private_key",
    ("secret", "key"): "secret", ("client", "secret"): "secret", ("session", "id"): "session",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NUMERIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@functools.lru_cache(maxsize=8192)
def secret_kind(key: str) -> str | None:
    """The kind of secret a key name announces (``"password"``, ``"token"``...), or None."""
    words = [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", key).lower()) if w]
    for word in words:
        if word in _SECRET_WORDS:
            return _SECRET_WORDS[word]
    for pair in zip(words, words[1:]):
        if pair in _SECRET_PAIRS:
            return _SECRET_PAIRS[pair]
    return None


def marker(kind: str) -> str:
    """The typed replacement of a secret of ``kind``."""
    return f"<redacted:{kind}>"


def _is_marker(value: str) -> bool:
    return value.startswith("<redacted:") or value in ("<host>", "<user>")


Rule = Callable[[str], "tuple[str, int]"]


def _regex_rule(pattern: str, replacement: str | Callable[[re.Match[str]], str], flags: int = 0) -> Rule:
    compiled = re.compile(pattern, flags)
    if not callable(replacement):
        def plain(text: str) -> tuple[str, int]:
            return compiled.subn(replacement, text)

        return plain

    def counted(text: str) -> tuple[str, int]:
        count = 0

        def repl(match: re.Match[str]) -> str:
            nonlocal count
            new = replacement(match)
            count += new != match.group(0)
            return new

        return compiled.sub(repl, text), count

    return counted


def _key_value(match: re.Match[str]) -> str:
    key, sep, value = match.group("key"), match.group("sep"), match.group("value")
    kind = secret_kind(key)
    if kind is None or _is_marker(value) or _NUMERIC.match(value):
        return match.group(0)
    return f"{match.group('lead')}{key}{sep}{marker(kind)}"


_KEY_VALUE = (
    r"(?P<lead>(?<![\w.-])-{0,2})(?P<key>[A-Za-z_][\w.-]*)(?P<sep>=|:[ \t]+)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,'\")\]}]+)"
)


def _url_credentials(match: re.Match[str]) -> str:
    if match.group("userinfo") == "<redacted:credentials>":
        return match.group(0)  # already scrubbed: redaction stays idempotent
    return f"{match.group('scheme')}<redacted:credentials>@"


def _email(match: re.Match[str]) -> str:
    return match.group(0) if match.group("local").lower() == "git" else marker("email")


def _ipv4(match: re.Match[str]) -> str:
    return marker("ipv4")


_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def _ipv6_rule(text: str) -> tuple[str, int]:
    if text.count(":") < 2:
        return text, 0
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        candidate = match.group(0)
        if "::" not in candidate and candidate.count(":") != 7:
            return candidate
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            return candidate
        count += 1
        return marker("ipv6")

    return _IPV6_CANDIDATE.sub(repl, text), count


_SECRET_HINTS = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "cookie", "session", "sig")
_SECRET_HINT = re.compile("|".join(_SECRET_HINTS), re.I)  # the same test, for documentation and tests
_SECRET_HINT_LOWER = re.compile("|".join(_SECRET_HINTS))


def _has_secret_assignment_shape(text: str) -> bool:
    # The rule changes text only when a key names a secret, and every such name holds one of these
    # (case-insensitively); searching the lowered text is cheaper than a re.I search.
    if "=" not in text and ": " not in text and ":\t" not in text:
        return False
    return _SECRET_HINT_LOWER.search(text.lower()) is not None


_IPV4_SHAPE = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")


def _has_ipv4_shape(text: str) -> bool:
    return text.count(".") >= 3 and _IPV4_SHAPE.search(text) is not None


def _has_ipv6_shape(text: str) -> bool:
    return "::" in text or text.count(":") >= 7


Trigger = Union[tuple[str, ...], Callable[[str], bool]]

#: The fixed rules, in the order they run: (name, rule, trigger). A rule runs only on text its
#: trigger finds (a cheap substring test), so the common string costs a few ``in`` checks.
RULES: tuple[tuple[str, Rule, Trigger], ...] = (
    ("private-key-block", _regex_rule(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
        marker("private_key"), re.S), ("PRIVATE KEY",)),
    ("url-credentials", _regex_rule(
        r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@:]+(:[^/\s@]*)?)@", _url_credentials), ("://",)),
    ("aws-access-key", _regex_rule(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", marker("aws_access_key")),
     ("AKIA", "ASIA", "AGPA", "AIDA", "AROA")),
    ("github-token", _regex_rule(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})", marker("github_token")),
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("slack-token", _regex_rule(r"\bxox[abposr]-[A-Za-z0-9-]{10,}", marker("slack_token")), ("xox",)),
    ("openai-key", _regex_rule(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}", marker("api_key")), ("sk-",)),
    ("huggingface-token", _regex_rule(r"\bhf_[A-Za-z0-9]{30,}", marker("hf_token")), ("hf_",)),
    ("google-api-key", _regex_rule(r"\bAIza[0-9A-Za-z_-]{35}", marker("google_api_key")), ("AIza",)),
    ("jwt", _regex_rule(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", marker("jwt")), ("eyJ",)),
    ("secret-assignment", _regex_rule(_KEY_VALUE, _key_value), _has_secret_assignment_shape),
    ("email", _regex_rule(r"(?<![\w.+-])(?P<local>[A-Za-z0-9._%+-]+)@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", _email), ("@",)),
    ("home-path", _regex_rule(
        r"/(?<![\w.~-]/)(?:(?:home|Users)/[^/\s:'\"]+|root(?=/|$|[\s:'\"]))|[A-Za-z](?<!\w[A-Za-z]):\\Users\\[^\\\s:'\"]+",
        "~"), ("/home/", "/Users/", "\\Users\\", "/root")),
    ("ipv4", _regex_rule(
        r"(?<![\w.=+-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])", _ipv4),
     _has_ipv4_shape),
    ("ipv6", _ipv6_rule, _has_ipv6_shape),
)


_FLAG = re.compile(r"-{1,2}([A-Za-z_][\w.-]*)")


class Scrubber:
    """Applies the fixed rules plus replacements of the record's own host, user and home."""

    def __init__(self, identifiers: dict[str, str] | None = None) -> None:
        self.rules: list[tuple[str, Rule, Trigger]] = []
        ids = identifiers or {}
        #: What this scrubber replaces beyond the fixed rules (two scrubbers with one identity agree).
        self.identity = tuple(sorted(ids.items()))
        home = ids.get("home")
        if home and len(home) > 1 and home not in ("~", "/"):
            home = home.rstrip("/\\")
            self.rules.append(("record-home", _literal_rule(home, "~", path=True), (home,)))
        self.rules.extend(RULES)
        for kind, placeholder in (("host", "<host>"), ("user", "<user>")):
            value = ids.get(kind)
            if value and len(value) >= 2 and not _is_marker(value) and not value.startswith("hmac:"):
                self.rules.append((f"record-{kind}", _literal_rule(value, placeholder), (value,)))
                short = value.split(".")[0]
                if kind == "host" and short != value and len(short) >= 2:
                    self.rules.append(("record-host", _literal_rule(short, placeholder), (short,)))
        self._index()

    def _index(self) -> None:
        """One regex finds the trigger substrings; each hit stands for the rules of every needle it may hide.

        The search does not overlap: a hit of needle A hides a needle B that starts inside it (B is
        part of A, or B begins with an end of A, as ``/home/`` does after ``file://``), so A's hit
        also names B's rules. Alternatives are tried longest first, so a longer needle starting at
        the same place is never hidden by a shorter one.
        """
        needles: dict[str, set[int]] = {}
        self._shaped: list[tuple[int, Callable[[str], bool]]] = []
        for position, (_, _, trigger) in enumerate(self.rules):
            if callable(trigger):
                self._shaped.append((position, trigger))
            else:
                for needle in trigger:
                    needles.setdefault(needle, set()).add(position)
        self._by_needle: dict[str, frozenset[int]] = {}
        for a, rules in needles.items():
            hidden = set(rules)
            for b, others in needles.items():
                if b != a and (b in a or any(b.startswith(a[k:]) for k in range(1, len(a)))):
                    hidden |= others
            self._by_needle[a] = frozenset(hidden)
        alternatives = "|".join(re.escape(n) for n in sorted(needles, key=lambda n: (-len(n), n)))
        self._finder = re.compile(alternatives)
        self._cache: dict[str, tuple[str, dict[str, int]]] = {}

    #: Short strings repeat across the records of one job family (flags, config keys, paths):
    #: their results are remembered, in a bounded table per scrubber.
    CACHE_ENTRIES = 4096
    CACHE_MAX_CHARS = 256

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        """Return the scrubbed text and the replacements made, by rule name (treat both as read-only)."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        result = self._scrub(text)
        if len(text) <= self.CACHE_MAX_CHARS:
            if len(self._cache) >= self.CACHE_ENTRIES:
                self._cache.clear()
            self._cache[text] = result
        return result

    def _scrub(self, text: str) -> tuple[str, dict[str, int]]:
        hits = self._finder.findall(text)
        candidates: set[int] = set()
        if hits:
            by_needle = self._by_needle
            for hit in set(hits):
                candidates |= by_needle[hit]
        for position, trigger in self._shaped:
            if trigger(text):
                candidates.add(position)
        if not candidates:
            return text, {}
        counts: dict[str, int] = {}
        for position in sorted(candidates):
            name, rule, _ = self.rules[position]
            text, n = rule(text)
            if n:
                counts[name] = counts.get(name, 0) + n
        return text, counts

    def scrub_argv(self, argv: Iterable[Any]) -> tuple[list[Any], dict[str, int]]:
        """Scrub a command line, also hiding the value after a secret flag (``--token abc``)."""
        out: list[Any] = []
        counts: dict[str, int] = {}
        hide_next: str | None = None
        for arg in argv:
            if not isinstance(arg, str):
                out.append(arg)
                hide_next = None
                continue
            if hide_next and not arg.startswith("-") and not _is_marker(arg) and not _NUMERIC.match(arg):
                out.append(marker(hide_next))
                counts["secret-argument"] = counts.get("secret-argument", 0) + 1
                hide_next = None
                continue
            hide_next = None
            flag = _FLAG.fullmatch(arg)
            if flag:
                hide_next = secret_kind(flag.group(1))
            new, found = self.scrub(arg)
            out.append(new)
            for name, n in found.items():
                counts[name] = counts.get(name, 0) + n
        return out, counts

    def detect(self, text: str) -> list[str]:
        """Names of the rules that would change ``text`` (empty when it is clean)."""
        return list(self._scrub(text)[1])


def _literal_rule(value: str, replacement: str, path: bool = False) -> Rule:
    escaped = re.escape(value)
    if path:
        pattern = escaped + r"(?=[/\\]|$|[\s:'\"])"
    else:
        # The literal first, then a look back at the character before it: a pattern that starts with
        # a lookbehind makes the regex engine try it at every position.
        pattern = escaped + r"(?<![\w.-]" + escaped + r")(?![\w-])"
    return _regex_rule(pattern, replacement.replace("\\", "\\\\"))
