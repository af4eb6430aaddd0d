"""Scrubbing rules: find secrets, home paths, addresses and a record's own identifiers in text.

Each rule is a small callable returning the new text and how many replacements it made; a
:class:`Scrubber` applies them in order. Replacements are typed and deterministic
(``<redacted:password>``, ``<host>``, ``<user>``, ``~/...``), and no rule guesses by entropy:
ordinary values (``--lr=0.001``, a 40-hex commit, ``/data/x``) are never touched.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Iterable

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
        template = replacement
        replacement = lambda match: match.expand(template)  # noqa: E731

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


#: The fixed rules, in the order they run: (name, rule).
RULES: tuple[tuple[str, Rule], ...] = (
    ("private-key-block", _regex_rule(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
        marker("private_key"), re.S)),
    ("url-credentials", _regex_rule(
        r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@:]+(:[^/\s@]*)?@", r"\g<scheme><redacted:credentials>@")),
    ("aws-access-key", _regex_rule(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", marker("aws_access_key"))),
    ("github-token", _regex_rule(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})", marker("github_token"))),
    ("slack-token", _regex_rule(r"\bxox[abposr]-[A-Za-z0-9-]{10,}", marker("slack_token"))),
    ("openai-key", _regex_rule(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}", marker("api_key"))),
    ("huggingface-token", _regex_rule(r"\bhf_[A-Za-z0-9]{30,}", marker("hf_token"))),
    ("google-api-key", _regex_rule(r"\bAIza[0-9A-Za-z_-]{35}", marker("google_api_key"))),
    ("jwt", _regex_rule(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", marker("jwt"))),
    ("secret-assignment", _regex_rule(_KEY_VALUE, _key_value)),
    ("email", _regex_rule(r"(?<![\w.+-])(?P<local>[A-Za-z0-9._%+-]+)@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", _email)),
    ("home-path", _regex_rule(
        r"(?:(?<![\w.~-])/(?:home|Users)/[^/\s:'\"]+|(?<![\w])[A-Za-z]:\\Users\\[^\\\s:'\"]+|(?<![\w.~-])/root(?=/|$|[\s:'\"]))",
        "~")),
    ("ipv4", _regex_rule(
        r"(?<![\w.=+-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])", _ipv4)),
    ("ipv6", _ipv6_rule),
)


class Scrubber:
    """Applies the fixed rules plus replacements of the record's own host, user and home."""

    def __init__(self, identifiers: dict[str, str] | None = None) -> None:
        self.rules: list[tuple[str, Rule]] = []
        ids = identifiers or {}
        home = ids.get("home")
        if home and len(home) > 1 and home not in ("~", "/"):
            self.rules.append(("record-home", _literal_rule(home.rstrip("/\\"), "~", path=True)))
        self.rules.extend(RULES)
        for kind, placeholder in (("host", "<host>"), ("user", "<user>")):
            value = ids.get(kind)
            if value and len(value) >= 2 and not _is_marker(value) and not value.startswith("hmac:"):
                self.rules.append((f"record-{kind}", _literal_rule(value, placeholder)))
                short = value.split(".")[0]
                if kind == "host" and short != value and len(short) >= 2:
                    self.rules.append(("record-host", _literal_rule(short, placeholder)))

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        """Return the scrubbed text and the replacements made, by rule name."""
        counts: dict[str, int] = {}
        for name, rule in self.rules:
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
            flag = re.fullmatch(r"-{1,2}([A-Za-z_][\w.-]*)", arg)
            if flag:
                hide_next = secret_kind(flag.group(1))
            new, found = self.scrub(arg)
            out.append(new)
            for name, n in found.items():
                counts[name] = counts.get(name, 0) + n
        return out, counts

    def detect(self, text: str) -> list[str]:
        """Names of the rules that would change ``text`` (empty when it is clean)."""
        return [name for name, rule in self.rules if rule(text)[1]]


def _literal_rule(value: str, replacement: str, path: bool = False) -> Rule:
    escaped = re.escape(value)
    pattern = escaped + r"(?=[/\\]|$|[\s:'\"])" if path else r"(?<![\w.-])" + escaped + r"(?![\w-])"
    return _regex_rule(pattern, replacement.replace("\\", "\\\\"))
