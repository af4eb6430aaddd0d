"""Scrubbing rules: find secrets, home paths, addresses and a record's own identifiers in text.

Each rule is a small callable returning the new text and how many replacements it made; a
:class:`Scrubber` applies them in order. Replacements are typed and deterministic
(``<redacted:password>``, ``<host>``, ``<user>``, ``~/...``), and no rule guesses by entropy:
ordinary values (``--lr=0.001``, a 40-hex commit, ``/data/x``) are never touched.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import re
from typing import Any, Callable, Iterable, NamedTuple, Union, cast

import orjson

from procrecord.operations.secretnames import (
    BARE_KEYS,
    ENV_REFERENCE,
    PAT_HINT,
    SECRET_HINTS,
    TEMPLATE_REFERENCE,
    is_setting_value,
    is_version_flag,
    is_version_value,
    qualified_kind,
    secret_kind,
    shell_directory,
)
from procrecord.pointer import escape


def marker(kind: str) -> str:
    """The typed replacement of a secret of ``kind``."""
    return f"<redacted:{kind}>"


def _is_marker(value: str) -> bool:
    return value.startswith("<redacted:") or value in ("<host>", "<user>")


Rule = Callable[[str], "tuple[str, int]"]


def _regex_rule(pattern: str, replacement: str | Callable[[re.Match[str]], str], flags: int = 0) -> Rule:
    # Compiled at first use: most rules (the token formats) never run in a process, and compiling
    # them all would slow every start-up.
    cell: list[re.Pattern[str]] = []

    def compiled() -> re.Pattern[str]:
        if not cell:
            cell.append(re.compile(pattern, flags))
        return cell[0]

    if not callable(replacement):
        def plain(text: str) -> tuple[str, int]:
            return compiled().subn(replacement, text)

        return plain

    def counted(text: str) -> tuple[str, int]:
        count = 0

        def repl(match: re.Match[str]) -> str:
            nonlocal count
            new = replacement(match)
            count += new != match.group(0)
            return new

        return compiled().sub(repl, text), count

    return counted


_CLOSING = ("]", "}")
#: A flag inside a quoted value (`` --lr``): the quote was left open (see :func:`_key_value`).
_FLAG_INSIDE = re.compile(r"\s--?[A-Za-z]")
_UNTIL_SPACE = re.compile(r"\S+")
_ITEM_KEY = re.compile(r"^[^:=]*[:=]")


def _settings_only(value: str) -> bool:
    """True when every item of a flat list (or value of a flat mapping) written as text is a setting or a
    marker (``[true, false]``, ``{min: 8}``, ``[]``): such a value under a secret's name stays, as a scalar does."""
    mapping = value[0] == "{"
    for item in value[1:-1].split(","):
        if mapping:
            item = _ITEM_KEY.sub("", item, count=1)
        bare = item.strip().strip("\\\"'").strip()
        if not (is_setting_value(bare) or _is_marker(bare)):
            return False
    return True


def _escape_before(text: str, at: int) -> bool:
    """True when the backslashes right before ``at`` end in one that escapes (an odd number of them)."""
    start = at - 1
    while start and text[start - 1] == "\\":
        start -= 1
    return (at - start) % 2 == 1


#: A mapping key that is a colon-joined configuration key ending in a capitalised word (see Scrubber.scrub_key).
_QUALIFIED_KEY = re.compile(r"([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)*):([A-Z][a-z]+(?:[A-Z][a-z]+)*)")
#: A further part of a colon-joined configuration key: a capitalised word (or words) of letters, then ``=`` or
#: ``:`` (``Storage:AccountKey:Rotation=monthly``; a value glued to ``key:`` is still hidden: ``password:Zm9v=``).
_QUALIFIED_PART = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]+)*(?=[=:])")
#: ... or, in a flag (``--Jwt:SigningKey:Algorithm RS256``), then a space or the end (an argv element).
_QUALIFIED_FLAG_PART = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]+)*(?=[ \t]+[^\s=:]|$)")
_FLAG_CHAIN_BEFORE = re.compile(r"(?<![\w.-])--(?:[A-Za-z_][\w.-]*:)+$")
#: The part of a colon-joined key right before the last one (a bare last part is judged with it).
_PART_BEFORE = re.compile(r"[A-Za-z_][\w.-]*$")
#: An index of a .NET configuration array after the key (``Section:Key:0=X``): a part of the name, not a value.
_INDEX_PART = re.compile(r"\d+[=:]")


def chain_kind(chain: str) -> str | None:
    """The kind of secret a colon-joined configuration key (``Authentication:Google:ClientSecret``) names, judged
    by its last part, and a bare ``Key`` with the part before it (``AzureOpenAI:Key``: a service's key)."""
    head, _, last = chain.rpartition(":")
    return secret_kind(last) or qualified_kind(last, head.rpartition(":")[2])


def _key_value(match: re.Match[str]) -> tuple[str, int] | None:
    """The text replacing ``match`` up to the end of its value, and where that value ends; None when it stays."""
    key, value = match.group("key"), match.group("value")
    end = match.end("value")
    if match.group("dash") and value[:1] in "\"'" and value[-2:-1].isspace() and _FLAG_INSIDE.search(value):
        # ``--password "X --lr 1 --token "Y``: two quotes left open (the second opens the next value, after a
        # space), not one value that holds flags; each value runs to the next space, as one opening a quote
        # it never closes
        value = _UNTIL_SPACE.match(value).group(0)  # type: ignore[union-attr]
        end = match.start("value") + len(value)
    at = match.start("key")
    if key[0] in "ntrfb" and match.string[at - 1:at] == "\\" and _escape_before(match.string, at):
        # after a JSON-escaped break (``\nDB_PASS = [...]``) the key is judged as on a line of its own, so a
        # value spanning the next escaped break is judged whole (``nDB_PASS`` reads as a count, ``n_db_pass``)
        key = key[1:]
    kind = secret_kind(key)
    if kind is None and key in BARE_KEYS and match.string[at - 1:at] == ":" and not _INDEX_PART.match(value):
        # a bare ``Key`` ending a .NET configuration key is judged with the part before it (``AzureOpenAI:Key``)
        before = _PART_BEFORE.search(match.string, max(0, at - 200), at - 1)
        kind = qualified_kind(key, before.group(0)) if before else None
    # A flat list or mapping (a bare value never ends with ``]`` or ``}``) is replaced whole unless every item
    # is a setting (``[true, false]``, ``[]``).
    container = value[-1:] in _CLOSING and value[:1] in "[{"
    escaped = value[:2] == '\\"'  # JSON written into a string: ``{\"api_key\": \"...\"}``
    quoted = escaped or value[:1] in ("'", '"')
    # (a value that opens a quote it never closes is read without it)
    closed = len(value) >= 4 and value.endswith('\\"') if escaped else len(value) >= 2 and value[-1] == value[0]
    bare = (value[2:-2] if closed else value[2:]) if escaped else (value[1:-1] if closed else value[1:]) if quoted else value
    if kind is None or (_settings_only(value) if container else
                        _is_marker(bare) or is_setting_value(bare) or shell_directory(key, bare)):
        return None
    if match.group("space") and value.startswith("-"):
        return None  # ``--token --next``: the next flag, not a value
    if value[:2] in ("${", "{{") and TEMPLATE_REFERENCE.match(match.string, match.start("value")):
        return None  # ``token: ${{ secrets.NPM_TOKEN }}``: a template's variable, spaces inside it
    if match.string[match.start() - 1:match.start()] == ":" and _ARN_BEFORE.search(match.string, max(0, match.start() - 200), match.start()):
        return None  # ``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME``: the name of where a secret is kept
    if match.group("sep") == ":" and not match.group("quote") and (
            not match.group(0).lower().endswith(_GLUED_COLON_LOWER)
            or (match.string[match.start() - 1:match.start()] == "/" and (container or _PATH_VALUE.fullmatch(bare)))):
        # ``key:value`` without a space: only for the names of GLUED_COLON (not ``org/auth:latest``); after a
        # ``/`` (a path or an image) only when the value is no tag, word or list (``/api/password:reset``,
        # ``org/token:1.2-slim`` stay; ``mysql/password:Xy7`` is hidden)
        return None
    if (match.group("sep") == ":" and match.string[match.start("key") - 1:match.start("key")] == ":"
            and (_QUALIFIED_PART.match(match.string, match.start("value"))
                 or (_QUALIFIED_FLAG_PART.match(match.string, match.start("value"))
                     and _FLAG_CHAIN_BEFORE.search(match.string, max(0, match.start("key") - 200), match.start("key"))))):
        # ``Storage:AccountKey:Rotation=monthly``, ``--Jwt:SigningKey:Algorithm RS256``: a part of a .NET
        # configuration key after the secret's word, not a glued value (the whole key is judged by its last part)
        return None
    if not quoted and _BLOCK_INDICATOR.fullmatch(value) and ":" in match.group("sep"):
        end = _block_end(match.string, match.start("key"), end)  # YAML's ``password: |`` and the lines of its block
    new = marker(kind)
    if container and match.group("quote"):
        # quoted as its key is: JSON text stays JSON (``{"password": "<redacted:password>"}``)
        new = match.group("quote") + new + match.group("quote")
    elif quoted and match.group("quote"):
        edge = value[:2] if escaped else value[0]
        new = edge + new + edge  # JSON or a dict in text stays that
    return match.group(0) + new, end


#: A YAML block scalar's indicator (``|``, ``>-``, ``|2+``): the value is the more indented lines after it.
_BLOCK_INDICATOR = re.compile(r"[|>](?:[+-]?[1-9]?|[1-9][+-])")


def _block_end(text: str, key_start: int, end: int) -> int:
    """Where the block of a YAML block scalar ends: after the last line below the key's line that is indented
    more than it (blank lines inside the block count; real line breaks, or their JSON escapes ``\\n`` in JSON
    written into a string). ``end`` (right after the indicator) when no line break follows."""
    escaped = text.startswith("\\n", end)
    if not (escaped or text.startswith(("\n", "\r\n"), end)):
        return end
    brk = "\\n" if escaped else "\n"
    start = text.rfind(brk, 0, key_start)
    start = 0 if start < 0 else start + len(brk)
    line = text[start:key_start]
    indent = len(line) - len(line.lstrip(" "))
    last = pos = end
    while True:
        pos = text.find(brk, pos)
        if pos < 0:
            break
        pos += len(brk)
        stop = text.find(brk, pos)
        stop = len(text) if stop < 0 else stop
        line = text[pos:stop].rstrip("\r")
        if line.strip():
            if len(line) - len(line.lstrip(" ")) <= indent:
                break
            last = pos + len(line)
        pos = stop
    return last


#: The ARN of a Secrets Manager secret, an SSM parameter or a KMS key, up to its resource type's colon.
_ARN_BEFORE = re.compile(r"arn:aws[\w-]*:(?:secretsmanager|ssm|kms):[\w-]*:\d*:$")
#: One character (or escape) of a bare value.
_BARE = r"[^\s&;,'\")\]}\\]|\\\\|\\(?![ntr])"
#: ``key=value``, ``key: value``, ``"key": "value"`` (JSON or a Python dict in a message), and
#: ``--key value`` inside one string (a command line kept as text); the value of an HTTP
#: ``Authorization: Bearer ...`` is the token after the scheme. The value is looked at, not taken:
#: a value that is not a secret may hold one (``url=https://h/x?token=...``, ``ok: password: ...``).
_KEY_VALUE = re.compile(
    # (a Windows program's ``/password:X`` or ``/password=X`` as a flag of its own, not a path's last part)
    r"(?:(?P<dash>(?<![\w.-])--)|(?<![^\s\"'(\[{,;=])/(?=[A-Za-z_][\w.-]*[:=])|(?<![\w.-])-?)(?P<key>[A-Za-z_][\w.-]*)(?:(?P<quote>\\?[\"'])\]?)?"
    # (a quoted key may close a subscript: ``os.environ["DB_PASSWORD"] = "X"``, ``cfg['api_key']='X'``)
    # after a quoted key, JSON's whitespace around the colon (``"password" : "x"``, a line break after it; in JSON
    # written into a string, also as its escapes: ``\"password\":\\n  \"x\"``)
    r"(?P<sep>[ \t]*=>?(?!=)[ \t]*|(?(quote)(?:[ \t\n\r]|\\[ntr])*:(?:[ \t\n\r]|\\[ntr])*|:[ \t]*)|(?(dash)(?P<space>[ \t]+)|(?!)))"
    r"(?P<scheme>(?i:bearer|basic|digest|token|bot)[ \t]+)?"
    # after a scheme, an auth parameter is the value whole (``Token token="..."``); a quoted value runs to its
    # closing quote past escaped ones (``"a\"b"``; in JSON written into a string ``\"a\\\"b\"``) and doubled ones
    # (``'a''b'``), or failing that to the next quote
    r"(?=(?P<value>\\\"(?:[^\"\\]|\\{4}|\\{3}\"|\\{1,2}(?![\"\\]))*\\\"|\\\"[^\"\\]*\\\""
    r"|\"(?:[^\"\\]|\\.)*\"|\"[^\"]*\"|'(?:''|[^'])*'"
    # a flat list or mapping is the value whole (``"password": ["a", "b"]``, ``secret: {k: v}``): with quoted
    # items first (``["a]b"]``), then any items (``[don't, x]``), also flat lists and mappings (``[{u: a, p: b}]``)
    r"|\[(?:\"[^\"]*\"|'[^']*'|[^][{}\"'])*\]|\{(?:\"[^\"]*\"|'[^']*'|[^][{}\"'])*\}"
    r"|\[(?:[^][{}]|\[[^][{}]*\]|\{[^][{}]*\})*\]|\{(?:[^][{}]|\[[^][{}]*\]|\{[^][{}]*\})*\}"
    r"|(?(scheme)[\w-]+=(?:\"[^\"]*\"|'[^']*'|[^\s&;,'\")\]}]+)|(?!))"
    # a password hash in the modular crypt format is the value whole, its parameters and salt included
    # (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``, ``$2b$12$...``, ``$6$salt$hash``)
    r"|(?:argon2:)?\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+(?:,[\w=]+)*(?:\$[\w+/.=-]+){1,2}"
    r"|\$2[abxy]?\$\d\d\$[\w./]{22,}|\$[156]\$(?:rounds=\d+\$)?[\w./]+\$[\w./]+"
    r"|\$(?:y|gy|7)(?:\$[\w./]+){2,3}|\$pbkdf2(?:-sha\d+)?\$\d+(?:\$[\w+/.=]+){2}"
    # a bare value ends where a JSON-escaped line break or tab does (``\\n``), as at a real one; a quote inside it
    # or opening it, with more of the value after it, is part of it (``b'X'``, ``ab'X``, an unclosed ``"X``)
    r"|(?:" + _BARE + r"|[\"'](?=" + _BARE + r"))+))"
)
#: ``key:value`` with no space after the colon is taken for these endings of a key only (``password:X``,
#: ``api_key:X``, ``--api-key:X``): elsewhere the form is an image tag, a device or a URL (``auth:latest`` aside).
GLUED_COLON = tuple(f"{end}:" for word in ("word", "wd", "pass", "secret", "token", "key")
                    for end in (word, word.upper(), word.capitalize()))
_GLUED_COLON_LOWER = tuple(dict.fromkeys(end.lower() for end in GLUED_COLON))
#: What follows ``path/name:`` as a path's or an image's part, not a secret: an image's tag (``latest``,
#: ``1.2.3``, ``3.11-slim``, ``v2``) or a lowercase word (an API's action: ``/v1/password:reset``).
_PATH_VALUE = re.compile(r"(?:latest|stable|edge|nightly|main|master|dev|slim|alpine|v?\d+(?:\.\d+)*)(?:-[\w.]+)?"
                         r"|[a-z]+(?:[_-][a-z]+)*")
#: ``<password>...</password>``: an XML element named as a secret.
_XML_ELEMENT = re.compile(r"<(?P<key>[A-Za-z_][\w.-]*)>(?P<value>[^<]*)</(?P=key)>")


def _xml_elements(text: str) -> tuple[str, int]:
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        kind, value = secret_kind(match.group("key")), match.group("value")
        if kind is None or not value.strip() or _is_marker(value.strip()) or is_setting_value(value):
            return match.group(0)
        count += 1
        return f"<{match.group('key')}>{marker(kind)}</{match.group('key')}>"

    return _XML_ELEMENT.sub(repl, text), count


def _assignments(text: str) -> tuple[str, int]:
    pieces: list[str] = []
    done = count = 0
    arns = "arn:" in text
    for match in _KEY_VALUE.finditer(text):
        if match.start() < done:
            continue  # inside a value replaced already
        replaced = _key_value(match)
        if replaced is not None:
            pieces += (text[done:match.start()], replaced[0])
            done = replaced[1]
            count += 1
        elif arns and match.group("value").startswith("arn:") and ENV_REFERENCE.fullmatch(match.group("value")):
            # the ARN of where a secret is kept: its ``:secret:name`` part is no assignment
            pieces.append(text[done:match.end("value")])
            done = match.end("value")
    if not count:
        return text, 0
    pieces.append(text[done:])
    return "".join(pieces), count


def _url_credentials(match: re.Match[str]) -> str:
    if match.group("userinfo") in ("<redacted:credentials>", "git"):
        # already scrubbed (redaction stays idempotent), or the service account of a repository host with no
        # password (``ssh://git@github.com/org/repo.git``, as the e-mail rule keeps ``git@github.com:org/repo``)
        return match.group(0)
    return f"{match.group('scheme')}<redacted:credentials>@"


def _email(match: re.Match[str]) -> str:
    return match.group(0) if match.group("local").lower() == "git" else marker("email")


#: What before an IPv4-shaped number says it is a version (``cudnn_version: 8.9.2.26``, ``CUDNN_VERSION=``).
_VERSION_BEFORE = re.compile(r"(?i)(?:version|_ver|build|release)[\"']?[ \t]*(?:[:=][ \t]*[\"']?|[ \t])$")


#: A value's start: after ``:`` or ``=``, maybe quoted (``cudnn: 9.1.0.70``, ``"cudnn": "9.1.0.70"``, ``\"...\"``).
_VALUE_BEFORE = re.compile(r"[:=][ \t]*(?:\\*[\"'])?$")
#: The opening of a mapping whose key names versions, written as text (``versions: {``, ``"package_versions": {``,
#: ``libVersions={``, ``\"versions\": {``; not ``conversions: {``): the key ends as
#: :func:`~procrecord.operations.secretnames.is_versions_mapping` asks of a real mapping's key.
_VERSIONS_OPEN = re.compile(r"(?:(?:(?<![A-Za-z0-9])|(?<=\\[ntrfb]))(?i:versions)|(?<=[a-z0-9])Versions)(?:\\*[\"'])?[ \t]*[:=][ \t]*\{$")


def _in_versions_mapping(text: str, start: int) -> bool:
    """True when the number at ``start`` is a value in a flat mapping of versions written as text
    (``versions: {cudnn: 9.1.0.70}``), as a real mapping of that name keeps it."""
    brace = text.rfind("{", 0, start)
    return (brace > 0 and text.find("}", brace, start) < 0 and _VALUE_BEFORE.search(text, max(brace, start - 12), start) is not None
            and _VERSIONS_OPEN.search(text, max(0, brace - 40), brace + 1) is not None)


def _ipv4(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    if text.startswith("127.", start) or match.group(0) == "0.0.0.0":
        return match.group(0)  # loopback and "any": they name no machine
    if _VERSION_BEFORE.search(text, max(0, start - 40), start):
        return match.group(0)  # a four-part version
    if start and text[start - 1] == "/" and text[end:end + 1] == "/" and (start < 2 or text[start - 2] not in "/:"):
        return match.group(0)  # a folder of a path (``/opt/app/1.2.3.4/bin``), not a URL's host
    if _in_versions_mapping(text, start):
        return match.group(0)  # ``versions: {cudnn: 9.1.0.70}`` as text
    return marker("ipv4")


_IPV6_CANDIDATE = re.compile(r"(?:(?<![\w:.])|(?<=\w:))[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_HEX = frozenset("0123456789abcdefABCDEF")


def _after_a_name(text: str, start: int) -> bool:
    """True unless ``start`` follows ``word:`` where the word could be a group of the same address: an
    address glued to a name (``ip:2001:db8::7``, ``MASTER_ADDR:fd12::17``) counts, ``fe:2001::1`` is read whole."""
    if not start or text[start - 1] != ":":
        return True
    begin = start - 1
    while begin and (text[begin - 1].isalnum() or text[begin - 1] == "_"):
        begin -= 1
    word = text[begin:start - 1]
    return not (begin and text[begin - 1] in ":.") and not _HEX.issuperset(word)


def _ipv6_rule(text: str) -> tuple[str, int]:
    if text.count(":") < 2:
        return text, 0
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        candidate = match.group(0)
        if "::" not in candidate and candidate.count(":") != 7 or not _after_a_name(match.string, match.start()):
            return candidate
        first, sep, last = candidate.partition("::")
        if first and last and ":" not in first + last and not any(c.isdigit() for c in last):
            return candidate  # ``bf16::add``, ``dead::beef``: a C++ or Rust name and its member, not an address
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            return candidate
        if address.is_loopback or address.is_unspecified:
            return candidate  # ``::1``, ``::``: they name no machine
        count += 1
        return marker("ipv6")

    return _IPV6_CANDIDATE.sub(repl, text), count


_SECRET_HINT_LOWER = re.compile("|".join((*SECRET_HINTS, "pat")))  # (``pat``: see PAT_HINT)


#: One ``Name=value`` part of a connection string (ADO.NET, Azure storage, ODBC): the value runs to
#: the next ``;`` (``Password=My Pass 1;``), or is quoted (``"..."``, ``'...'``, ``{...}``).
_CONNECTION_PART = re.compile(
    r"(?:^|(?<=;))[ \t]*(?P<key>[A-Za-z][A-Za-z0-9 _.-]*?)[ \t]*=(?!=)[ \t]*"
    # a bare value runs to the next ``;`` on its line; the last one (no ``;`` after it) ends at a line break, a tab,
    # a quote or ``<``, so the text around a connection string stays (``{"conn": "...;Password=X", "retries": 3}``)
    r"(?P<value>\"(?:\"\"|\\.|[^\"\\])*\"|\"[^\"]*\"|'(?:''|[^'])*'|\{[^}]*\}|[^;\n\r]*(?=;)|[^;\n\r\t\"'<]*)")


def _connection_parts(text: str) -> tuple[str, int]:
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        value = match.group("value")
        bare = value[1:-1] if value[:1] in "\"'{" and len(value) > 1 else value
        kind = secret_kind(match.group("key"))
        if kind is None or not bare.strip() or _is_marker(bare.strip()) or is_setting_value(bare):
            return match.group(0)
        count += 1
        return match.group(0)[:match.start("value") - match.start()] + marker(kind)

    return _CONNECTION_PART.sub(repl, text), count


def _secret_assignment(text: str) -> tuple[str, int]:
    # Only a key that names a secret is replaced, and every such name holds one of the hints
    # (case-insensitively): one search of the lowered text spares the full pattern most of the time.
    lowered = text.lower()
    hint = _SECRET_HINT_LOWER.search(lowered)
    if hint is None or (hint.group() == "pat" and _SECRET_HINT_LOWER.search(lowered, hint.end()) is None
                        and PAT_HINT.search(text) is None):
        return text, 0
    count = 0
    if ";" in text:
        text, count = _connection_parts(text)
    if "</" in text:
        text, more = _xml_elements(text)
        count += more
    if "--" in text and ":" in text:
        text, more = _qualified_flags(text)
        count += more
    text, more = _assignments(text)
    return text, count + more


#: A flag named by a .NET configuration key, its parts joined by colons, and its value after a space
#: (``--Authentication:Google:ClientSecret X`` in a command line kept as text): the colons are no separators.
_QUALIFIED_FLAG = re.compile(r"(?<![\w.-])--(?P<key>(?:[A-Za-z_][\w.-]*:)+[A-Za-z_][\w.-]*)[ \t]+(?P<value>[^\s\"'`]+)")


def _qualified_flags(text: str) -> tuple[str, int]:
    count = 0

    def hide(match: re.Match[str]) -> str:
        nonlocal count
        # (judged by its last part: ``--password:X more`` is the glued form of ``password:X``, and ``more`` stays)
        kind, value = chain_kind(match.group("key")), match.group("value")
        if kind is None or value.startswith("-") or _is_marker(value) or is_setting_value(value):
            return match.group(0)
        count += 1
        return match.group(0)[:match.start("value") - match.start()] + marker(kind)

    return _QUALIFIED_FLAG.sub(hide, text), count


class Shape(NamedTuple):
    """A trigger that is a pattern rather than a substring: every text the rule changes holds it.

    The pattern is searched only in text that holds ``char`` at least ``least`` times (a cheap count).
    """

    pattern: str
    char: str
    least: int


#: Every IPv4 address has this shape; every IPv6 address the rule replaces holds ``::`` or seven
#: colons between hex groups, so two colons with at most four hex digits between them.
_IPV4_SHAPE = Shape(r"\d\.\d{1,3}\.\d{1,3}\.\d", ".", 3)
_IPV6_SHAPE = Shape(r":[0-9A-Fa-f]{0,4}:", ":", 2)
#: The same endings in any other spelling (``pAsSwOrD:X``): the needles above find the three usual
#: spellings; this shape (one colon, then a look back) finds the rest.
_GLUED_COLON_SHAPE = Shape(":(?<=[dDsStTnNyY]:)(?:" + "|".join(f"(?<=(?i:{word}):)" for word in
                                                             ("word", "wd", "pass", "secret", "token", "key")) + r")(?=\S)",
                           ":", 1)


def _token_rule(prefixes: str, body: str, replacement: str) -> Rule:
    """A rule for a token that starts a word with one of ``prefixes`` (alternatives of one length).

    The literal comes first and the word boundary is checked behind it, so the regex engine only
    stops where a prefix is.
    """
    width = len(prefixes.split("|")[0])
    assert all(len(p) == width for p in prefixes.split("|")), prefixes
    return _regex_rule(f"(?:{prefixes})(?<!\\w.{{{width}}}){body}", replacement)


def _posix_home(match: re.Match[str]) -> str:
    start = match.start()
    if start and match.string[start - 1] == "/":
        # A path in a URL (``file:///home/alice/m``, ``file:///root/x``): ``~`` alone would break it. Right
        # after ``://`` it is the URL's host (``http://root/x``), not a path.
        if match.string[start - 2:start] == ":/":
            return match.group(0)
        return "/~" if match.group("root") else f"/{match.group('base')}/<user>"
    if start and match.string[start - 1] in _PATH_CHARS:
        # A home below a mount (``/mnt/nfs/home/alice``): the path keeps its shape, the name goes.
        return match.group(0) if match.group("root") else f"/{match.group('base')}/<user>"
    return "~"


_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~-")
#: A user's name in a home path; a name with spaces (Windows: ``/mnt/c/Users/First Last/``) counts up to the
#: next ``/`` (at most four words, or any number of capitalised ones), or, at the end of a text or before a
#: quote, ``,``, ``;`` or a closing bracket, as far as its words are capitalised (``/mnt/c/Users/Jane Roe"``;
#: ``/home/alice then`` is one word).
#: Where a name with spaces may end without a separator after it: the end of the text, a quote (also escaped,
#: in JSON written into a string), a line break, ``,``, ``;``, a closing bracket, or a lowercase word after a
#: space (prose: ``C:\Users\Maria Kowalska and then``). The capitalised words never take in such a character.
_NAME_END = r"(?=$|[\"'\r\n,;)\]}]|\\+[\"nrt]| [a-z])"
_HOME_NAME = (r"(?:[^/\s:'\"<]+(?: [A-Za-z][^/\s:'\"<]*){1,3}(?=/)|[^/\s:'\"<]+(?: [A-Z][^/\s:'\"<]*)+(?=/)"
              r"|[^/\s:'\"<]+(?: [A-Z][^/\s:'\"<\\,;)\]}]*)+" + _NAME_END + r"|[^/\s:'\"<]+)")
#: Folders below ``Users`` that are no one's home (macOS ``Shared``; Windows ``Public``, ``Default``, ``All Users``).
_SHARED = (r"(?!(?:(?<=[Uu][Ss][Ee][Rr][Ss].)|(?<=[Ss][Ee][Tt][Tt][Ii][Nn][Gg][Ss].))"
           r"(?i:shared|public|default|default user|all users)(?:[\\/]|$|[\s'\"]))")
_POSIX_HOME = _regex_rule(r"/(?:(?P<base>home|Users)/(?!<user>)" + _SHARED + _HOME_NAME + r"|(?P<root>root)(?=/|$|[\s:'\"]))", _posix_home)
#: ``C:\Users\First Last\...``, ``C:/Users/...``, ``c:\users\...``, ``C:\Documents and Settings\...``: a
#: name with spaces counts up to the next separator, or as :data:`_HOME_NAME` reads one with none after it.
_WINDOWS_HOME = _regex_rule(r"[A-Za-z](?<!\w[A-Za-z]):(\\{1,2}|/)(?i:users|documents and settings)\1(?!<user>)" + _SHARED
                            + r"(?:[^\\/:*?\"<>|\r\n]+(?=\1)|[^\\/\s:'\"]+(?: [A-Z][^\\/\s:'\",;)\]}]*)+" + _NAME_END
                            + r"|[^\\/\s:'\"]+)", "~")
_WINDOWS_NEEDLES = ("\\Users\\", "\\users\\", "\\USERS\\", ":/Users/", ":/users/", "Documents and Settings")
#: Homes inside JSON pointers (``/data/~1home~1alice~1x``): ``/`` is written ``~1`` there; root's home
#: (``~1root~1x``) is written as ``~`` is in a pointer, ``~0``.
_POINTER_HOME = _regex_rule(r"~1(?:(home|Users)~1(?!<user>)(?!(?<=Users~1)(?i:shared|public|default)(?:~1|$))"
                            r"[^~/\s'\"<]+|root(?=~1|$|[\s'\"]))",
                            lambda m: f"~1{m.group(1)}~1<user>" if m.group(1) else "~0")

#: Homes in JSON text whose ``/`` is escaped (``\/home\/alice\/x``, as PHP's and some Java encoders write it):
#: the name goes, the path keeps its shape; root's home at the start of a path is ``~``.
_ESCAPED_HOME = _regex_rule(r"\\/(home|Users)\\/(?!<user>)(?!(?<=Users\\/)(?i:shared|public|default)(?:\\|$))"
                            r"[^\\/\s:'\"<]+|(?<![\w.~-])\\/root(?=\\/|$|[\s'\"])",
                            lambda m: f"\\/{m.group(1)}\\/<user>" if m.group(1) else "~")
_ESCAPED_NEEDLES = ("\\/home\\/", "\\/Users\\/", "\\/root")


def _home_path(text: str) -> tuple[str, int]:
    count = 0
    if ("\\" in text or ":/" in text or "Documents and" in text) and any(n in text for n in _WINDOWS_NEEDLES):
        # first: the POSIX rule would read ``C:/Users/Olu Adeyemi`` as a home ``/Users/Olu``
        text, count = _WINDOWS_HOME(text)
    if "/home/" in text or "/Users/" in text or "/root" in text:
        text, more = _POSIX_HOME(text)
        count += more
    if "\\/" in text and any(n in text for n in _ESCAPED_NEEDLES):
        text, more = _ESCAPED_HOME(text)
        count += more
    if "~1" in text:
        text, more = _POINTER_HOME(text)
        count += more
    return text, count


def _prefixed(kind: str, prefixes: tuple[str, ...], body: str, flags: int = 0,
              needles: tuple[str, ...] | None = None) -> tuple[Rule, tuple[str, ...]]:
    """A rule for a token that starts a word with one of ``prefixes`` and goes on with ``body``.

    Each literal comes first and the start of a word is checked behind it (``(?<![\\w-].{n})``), so
    the regex engine only stops where a prefix is; the prefixes are the rule's needles unless
    ``needles`` names parts of them instead (each prefix must hold one).
    """
    needles = needles or prefixes
    assert all(any(n in p for n in needles) for p in prefixes), (prefixes, needles)
    starts = "|".join(f"{re.escape(p)}(?<![\\w-].{{{len(p)}}})" for p in prefixes)
    return _regex_rule(f"(?:{starts}){body}", marker(kind), flags), needles


#: A needle may be a part of a token's prefix (``key-`` -> ``ey-``): it only has to be in every match.


#: Well-known token formats that stand alone (no secret-named key needed). The formats are the ones
#: maintained scanners detect (the rule or plugin named beside each: gitleaks' ``config/gitleaks.toml``
#: rule ids, detect-secrets' plugins); the patterns are written here. Each has a planted and a keep case
#: in ``fixtures/redact/token-formats``.
_TOKENS: tuple[tuple[str, tuple[Rule, tuple[str, ...]]], ...] = (
    # gitleaks gitlab-pat, gitlab-deploy-token, gitlab-ptt, gitlab-rrt; detect-secrets GitLabTokenDetector
    # gitleaks gitlab-pat, gitlab-deploy-token, gitlab-ptt, gitlab-rrt, gitlab-feed-token, gitlab-incoming-mail-token,
    # gitlab-kubernetes-agent-token, gitlab-oauth-app-secret, gitlab-feature-flag-client-token, gitlab-scim-token,
    # gitlab-cicd-job-token; detect-secrets GitLabTokenDetector
    ("gitlab-token", _prefixed("gitlab_token", ("glpat-", "gldt-", "glptt-", "glrt-", "glsoat-", "glcbt-", "GR1348941",
                                                "glft-", "glimt-", "glagent-", "gloas-", "glffct-", "glrtr-", "glwt-"),
                               r"[0-9A-Za-z_-]{20,}")),
    # gitleaks npm-access-token; detect-secrets NpmDetector
    ("npm-token", _prefixed("npm_token", ("npm_",), r"[A-Za-z0-9]{36,}", needles=("pm_",))),
    # gitleaks stripe-access-token; detect-secrets StripeDetector (live, test and restricted keys)
    ("stripe-key", _prefixed("stripe_key", ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "sk_prod_", "rk_prod_"),
                             r"[A-Za-z0-9]{10,}", needles=("k_live_", "k_test_", "k_prod_"))),
    # gitleaks pypi-upload-token; detect-secrets PypiTokenDetector (pypi.org and test.pypi.org macaroons)
    ("pypi-token", _prefixed("pypi_token", ("pypi-AgEIcHlwaS5vcmc", "pypi-AgENdGVzdC5weXBpLm9yZw"), r"[A-Za-z0-9_-]{40,}",
                             needles=("AgEIcHlwaS5vcmc", "AgENdGVzdC5weXBpLm9yZw"))),
    # gitleaks sendgrid-api-token; detect-secrets SendGridDetector
    ("sendgrid-key", _prefixed("sendgrid_key", ("SG.",), r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")),
    # gitleaks twilio-api-key; detect-secrets TwilioKeyDetector
    ("twilio-key", _prefixed("twilio_key", ("SK",), r"[0-9a-fA-F]{32}(?![0-9a-zA-Z])")),
    # gitleaks mailgun-private-api-token
    ("mailgun-key", _prefixed("mailgun_key", ("key-",), r"[0-9a-f]{32}(?![0-9a-zA-Z])", needles=("ey-",))),
    # gitleaks mailgun-pub-key (a distinctive form: hidden also without the "mailgun" word gitleaks asks for)
    ("mailgun-pubkey", _prefixed("mailgun_key", ("pubkey-",), r"[0-9a-f]{32}(?![0-9a-zA-Z])")),
    # gitleaks mailgun-signing-key: after a name that says mailgun (``MAILGUN_WEBHOOK_SIGNING=...``)
    ("mailgun-signing-key", (_regex_rule(r"(?i)(mailgun[\w.-]*[\"']?[ \t]*[:=][ \t]*[\"']?)[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}(?![\w-])",
                                         lambda m: m.group(1) + marker("mailgun_key")),
                             ("gun", "GUN", "Gun"))),
    # detect-secrets MailchimpDetector
    ("mailchimp-key", (_regex_rule(r"(?<![\w-])[0-9a-f]{32}-us\d{1,2}(?!\w)", marker("mailchimp_key")), ("-us",))),
    # gitleaks shopify-access-token, shopify-shared-secret, shopify-custom-access-token, shopify-private-app-access-token
    ("shopify-token", _prefixed("shopify_token", ("shpat_", "shpss_", "shpca_", "shppa_"), r"[a-fA-F0-9]{32}")),
    # gitleaks digitalocean-pat, digitalocean-access-token, digitalocean-refresh-token
    ("digitalocean-token", _prefixed("digitalocean_token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"[a-f0-9]{64}",
                                       needles=("_v1_",))),
    # gitleaks databricks-api-token (hex); detect-secrets' form allows ``g`` and ``h`` too
    ("databricks-token", _prefixed("databricks_token", ("dapi",), r"[a-h0-9]{32}(?:-\d)?(?![0-9a-zA-Z])")),
    # gitleaks doppler-api-token
    # (and Doppler's other token kinds: service, CLI, service account, SCIM, audit)
    ("doppler-token", _prefixed("doppler_token", ("dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim.", "dp.audit."),
                                r"(?:[a-z0-9_-]{1,40}\.)?[A-Za-z0-9]{40,44}",
                                needles=("p.pt.", "p.st.", "p.ct.", "p.sa.", "p.scim.", "p.audit."))),
    # gitleaks vault-service-token, vault-batch-token
    ("vault-token", _prefixed("vault_token", ("hvs.", "hvb."), r"[A-Za-z0-9_-]{24,}")),
    # gitleaks vault-service-token, the older form: ``s.`` and 24 letters and digits (any case; at least one of
    # each, so a dotted word of 24 letters stays; not 24 lower-case hex digits, a MongoDB ObjectId), nothing
    # glued after (``s.`` ends many words: the start of a word is checked behind it)
    ("vault-legacy-token", _prefixed("vault_token", ("s.",), r"(?![0-9a-f]{24}(?![\w-]))(?=[A-Za-z0-9]{0,23}[A-Za-z])"
                                     r"(?=[A-Za-z0-9]{0,23}[0-9])[A-Za-z0-9]{24}(?![\w-])")),
    # gitleaks age-secret-key
    ("age-secret-key", _prefixed("age_secret_key", ("AGE-SECRET-KEY-1",), r"[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}")),
    # gitleaks telegram-bot-api-token; detect-secrets TelegramBotTokenDetector
    # (also inside the bot API's URLs: ``https://api.telegram.org/bot<token>/sendMessage``)
    # (``\d{8,10}:A`` and 34 token characters, nothing glued after: detect-secrets takes 35 characters after the
    # colon, gitleaks an ``A`` and 34; real tokens' secret part starts ``AA`` or ``A`` and another character).
    # The needle ``:A``: ``:`` begins other needles already (``://``, ``: ``). Glued to a name by a colon
    # (``bot:123...``) it counts; after a digit and a colon it may be part of a longer number.
    # (and in the Bot API's own URLs, also its file downloads, whatever follows ``bot<digits>:``: the URL says it is
    # the token, whatever its length)
    ("telegram-bot-token", (_regex_rule(r"(?:(?<=/bot)|(?<![\w:])|(?<=[^\W\d]:))\d{8,10}:A[0-9A-Za-z_-]{34}(?![0-9A-Za-z_-])"
                                        r"|(?:(?<=api\.telegram\.org/bot)|(?<=api\.telegram\.org/file/bot))\d{1,16}:[0-9A-Za-z_-]+",
                                        marker("telegram_token")), (":A", "telegram.org/bot", "telegram.org/file/bot"))),
    # gitleaks grafana-cloud-api-token, grafana-service-account-token
    ("grafana-token", _prefixed("grafana_token", ("glc_", "glsa_"), r"[A-Za-z0-9+/_]{32,}={0,2}")),
    # gitleaks linear-api-key
    ("linear-key", _prefixed("linear_key", ("lin_api_",), r"[A-Za-z0-9]{40}", needles=("_api_",))),
    # gitleaks postman-api-token
    ("postman-key", _prefixed("postman_key", ("PMAK-",), r"[a-fA-F0-9]{24}-[a-fA-F0-9]{34}")),
    # gitleaks pulumi-api-token
    ("pulumi-token", _prefixed("pulumi_token", ("pul-",), r"[a-f0-9]{40}")),
    # gitleaks new-relic-user-api-key
    ("newrelic-key", _prefixed("newrelic_key", ("NRAK-",), r"[A-Z0-9]{27}")),
    # gitleaks square-access-token; detect-secrets SquareOAuthDetector
    ("square-token", _prefixed("square_token", ("sq0atp-", "sq0csp-", "EAAA"), r"[0-9A-Za-z_-]{22,}")),
    # detect-secrets ArtifactoryDetector (API keys and reference tokens)
    ("artifactory-token", _prefixed("artifactory_token", ("AKCp", "cmVmdGtu"), r"[A-Za-z0-9]{20,}", needles=("AKCp", "Gtu"))),
    # gitleaks artifactory-reference-token: ``cmVmd`` (base64 of ``ref``) and exactly 59 letters and digits, a word
    # of its own (the needle ``Vmd``: a capital rare in paths and prose, unlike ``c`` and ``m``)
    ("artifactory-reference-token", (_token_rule("cmVmd", r"[A-Za-z0-9]{59}\b", marker("artifactory_token")), ("Vmd",))),
    # gitleaks aws-access-token (the ``A3T`` + one character form; the four-letter prefixes are the ``aws-access-key`` rule)
    ("aws-a3t-key", _prefixed("aws_access_key", ("A3T",), r"[A-Z0-9]{17}(?![A-Za-z0-9])")),
    # gitleaks slack-app-token, slack-config-access-token, slack-config-refresh-token
    ("slack-app-token", _prefixed("slack_token", ("xapp-",), r"\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]+")),
    ("slack-config-token", _prefixed("slack_token", ("xoxe.xoxb-", "xoxe.xoxp-", "xoxe-"), r"\d-[A-Za-z0-9]{100,}",
                                     needles=("xoxe",))),
    # gitleaks huggingface-organization-api-token
    ("huggingface-org-token", _prefixed("hf_token", ("api_org_",), r"[A-Za-z]{34}(?![A-Za-z0-9])", needles=("_org_",))),
    # gitleaks grafana-api-key (the older keys: base64 of ``{"k":"...``)
    ("grafana-api-key", _prefixed("grafana_token", ("eyJrIjoi",), r"[A-Za-z0-9]{70,400}={0,3}")),
    # detect-secrets ArtifactoryDetector, the ``AP[0-9A-F]`` form; the detector takes 8 characters and more, real
    # keys have 70 and more (ordinary capitals such as ``APACHE2`` stay)
    ("artifactory-ap-token", _prefixed("artifactory_token", tuple(f"AP{c}" for c in "0123456789ABCDEF"),
                                       r"[A-Za-z0-9]{60,}", needles=("AP",))),
    # gitleaks new-relic-browser-api-token, new-relic-insert-key (gitleaks asks for a "newrelic" word nearby; the
    # prefixes are distinctive enough on their own)
    ("newrelic-browser-key", _prefixed("newrelic_key", ("NRJS-",), r"[a-f0-9]{19}(?![A-Za-z0-9])")),
    ("newrelic-insert-key", _prefixed("newrelic_key", ("NRII-",), r"[A-Za-z0-9_-]{32}(?![A-Za-z0-9])")),
    # gitleaks clojars-api-token
    ("clojars-token", _prefixed("clojars_token", ("CLOJARS_",), r"[A-Za-z0-9]{60}(?![A-Za-z0-9])", needles=("ARS_",))),
    # gitleaks dynatrace-api-token
    ("dynatrace-token", _prefixed("dynatrace_token", ("dt0c01.",), r"[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}",
                                  needles=("t0c01.",))),
    # gitleaks flyio-access-token
    ("flyio-token", _prefixed("flyio_token", ("fo1_",), r"[A-Za-z0-9_-]{43}")),
    ("flyio-macaroon", _prefixed("flyio_token", ("fm1a_", "fm1r_", "fm2_"), r"[A-Za-z0-9+/]{100,}={0,3}",
                                 needles=("fm",))),
    # gitleaks planetscale-api-token, planetscale-password, planetscale-oauth-token
    ("planetscale-token", _prefixed("planetscale_token", ("pscale_tkn_", "pscale_pw_", "pscale_oauth_"),
                                    r"[A-Za-z0-9=._-]{32,64}", needles=("scale_",))),
    # gitleaks prefect-api-token
    ("prefect-token", _prefixed("prefect_token", ("pnu_",), r"[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    # gitleaks rubygems-api-token
    ("rubygems-token", _prefixed("rubygems_token", ("rubygems_",), r"[a-f0-9]{48}(?![A-Za-z0-9])", needles=("gems_",))),
    # gitleaks sentry-org-token, sentry-user-token
    ("sentry-token", _prefixed("sentry_token", ("sntrys_", "sntryu_"), r"[A-Za-z0-9+/=_]{40,}", needles=("sntry",))),
    # gitleaks sourcegraph-access-token
    ("sourcegraph-token", _prefixed("sourcegraph_token", ("sgp_",), r"(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}")),
    # gitleaks docker-pat (Docker Hub personal access tokens)
    ("docker-pat", _prefixed("docker_token", ("dckr_pat_", "dckr_oat_"), r"[A-Za-z0-9_-]{27,}", needles=("dckr_",))),
    # gitleaks hashicorp-tf-api-token
    ("terraform-token", (_regex_rule(r"(?<![\w.-])[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}", marker("terraform_token")),
                         ("sv1.",))),
    # gitleaks atlassian-api-token (the ``ATATT3`` form; real tokens end ``=`` and 8 hex digits, gitleaks counts 186
    # characters after the prefix: 100 and more are taken here)
    ("atlassian-token", _prefixed("atlassian_token", ("ATATT3",), r"[A-Za-z0-9_=-]{100,}")),
    # gitleaks azure-ad-client-secret: three characters, a digit, ``Q~`` and 31 to 34 more, a word of its own
    ("azure-client-secret", (_regex_rule(r"(?<![\w~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])",
                                         marker("azure_client_secret")), ("Q~",))),
    # gitleaks 1password-service-account-token, 1password-secret-key
    ("1password-token", _prefixed("onepassword_token", ("ops_eyJ",), r"[A-Za-z0-9+/]{250,}={0,3}")),
    ("1password-secret-key", (_regex_rule(r"(?<![\w-])A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})"
                                          r"-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}(?![\w-])", marker("onepassword_key")),
                              ("A3-",))),
    # gitleaks adobe-client-secret
    ("adobe-client-secret", _prefixed("adobe_secret", ("p8e-",), r"[A-Za-z0-9]{32}(?![A-Za-z0-9])")),
    # gitleaks alibaba-access-key-id
    ("alibaba-access-key", _prefixed("alibaba_access_key", ("LTAI",), r"[A-Za-z0-9]{20}(?![A-Za-z0-9])")),
    # gitleaks heroku-api-key-v2
    ("heroku-key", _prefixed("heroku_key", ("HRKU-AA",), r"[0-9A-Za-z_-]{58}(?![0-9A-Za-z_-])")),
    # gitleaks infracost-api-token
    ("infracost-token", _prefixed("infracost_token", ("ico-",), r"[A-Za-z0-9]{32}(?![A-Za-z0-9])")),
    # gitleaks easypost-api-token, easypost-test-api-token
    ("easypost-key", _prefixed("easypost_key", ("EZAK", "EZTK"), r"[A-Za-z0-9]{54}(?![A-Za-z0-9])")),
    # gitleaks duffel-api-token
    ("duffel-token", _prefixed("duffel_token", ("duffel_test_", "duffel_live_"), r"[A-Za-z0-9_=-]{43}",
                               needles=("duffel_",))),
    # gitleaks frameio-api-token
    ("frameio-token", _prefixed("frameio_token", ("fio-u-",), r"[A-Za-z0-9_=-]{64}")),
    # gitleaks flutterwave-secret-key, flutterwave-encryption-key (also the live keys, without ``_TEST``)
    ("flutterwave-key", _prefixed("flutterwave_key", ("FLWSECK_TEST-", "FLWSECK-"),
                                  r"[a-hA-H0-9]{12}(?:[a-hA-H0-9]{20}-X)?(?![A-Za-z0-9-])", needles=("FLWSECK",))),
    # gitleaks harness-api-key (personal and service account tokens)
    ("harness-token", _prefixed("harness_token", ("pat.", "sat."), r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"
                                r"(?![A-Za-z0-9])")),
    # gitleaks maxmind-license-key
    ("maxmind-key", (_regex_rule(r"(?<![\w-])[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk(?![\w-])", marker("maxmind_key")),
                     ("_mmk",))),
    # gitleaks cloudflare-origin-ca-key
    ("cloudflare-origin-key", _prefixed("cloudflare_key", ("v1.0-",), r"[a-f0-9]{24}-[a-f0-9]{146}")),
    # gitleaks facebook-page-access-token
    ("facebook-page-token", _prefixed("facebook_token", ("EAAM", "EAAC"), r"[A-Za-z0-9]{100,}")),
    # gitleaks notion-api-token
    ("notion-token", _prefixed("notion_token", ("ntn_",), r"[0-9]{11}[A-Za-z0-9]{35}(?![A-Za-z0-9])")),
    # gitleaks perplexity-api-key
    ("perplexity-key", _prefixed("perplexity_key", ("pplx-",), r"[A-Za-z0-9]{48}(?![A-Za-z0-9])")),
    # gitleaks openshift-user-token
    ("openshift-token", _prefixed("openshift_token", ("sha256~",), r"[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")),
    # gitleaks readme-api-token
    ("readme-token", _prefixed("readme_token", ("rdme_",), r"[a-z0-9]{70}(?![A-Za-z0-9])")),
    # gitleaks scalingo-api-token
    ("scalingo-token", _prefixed("scalingo_token", ("tk-us-",), r"[A-Za-z0-9_-]{48}(?![A-Za-z0-9_-])")),
    # gitleaks settlemint-application-access-token, settlemint-personal-access-token, settlemint-service-access-token
    ("settlemint-token", _prefixed("settlemint_token", ("sm_aat_", "sm_pat_", "sm_sat_"), r"[A-Za-z0-9]{16}(?![A-Za-z0-9])",
                                   needles=("sm_",))),
    # gitleaks shippo-api-token
    ("shippo-token", _prefixed("shippo_token", ("shippo_live_", "shippo_test_"), r"[a-fA-F0-9]{40}(?![A-Za-z0-9])",
                               needles=("shippo_",))),
    # gitleaks sendinblue-api-token
    ("sendinblue-key", _prefixed("sendinblue_key", ("xkeysib-",), r"[a-f0-9]{64}-[A-Za-z0-9]{16}")),
    # gitleaks octopus-deploy-api-key: ``API-`` and 26 capitals and digits, nothing glued after
    ("octopus-key", _prefixed("octopus_key", ("API-",), r"[A-Z0-9]{26}(?![A-Za-z0-9_-])")),
    # gitleaks typeform-api-token (its ``tfp_`` form is distinctive: hidden also without the "typeform" word)
    ("typeform-token", _prefixed("typeform_token", ("tfp_",), r"[A-Za-z0-9_.=-]{59}(?![A-Za-z0-9_.=-])")),
)
TOKEN_RULES: tuple[tuple[str, Rule, Trigger], ...] = tuple((name, rule, needles) for name, (rule, needles) in _TOKENS)


#: What makes a rule worth running: needles (substrings) or a shape.
Trigger = Union[tuple[str, ...], Shape]

#: The fixed rules, in the order they run: (name, rule, trigger). A rule runs only on text its
#: trigger finds (a substring, or a cheap test of the text's shape): no rule can change text
#: without its trigger (a test checks this against running every rule).
RULES: tuple[tuple[str, Rule, Trigger], ...] = (
    # PEM and PGP blocks and the SSH2 form (gitleaks ``private-key``; detect-secrets PrivateKeyDetector),
    # PuTTY key files up to their MAC (detect-secrets PrivateKeyDetector: ``PuTTY-User-Key-File-2``).
    ("private-key-block", _regex_rule(
        r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}.*?(-{4,5} ?END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}|$)"
        r"|PuTTY-User-Key-File-\d.*?(?:Private-MAC: *[0-9a-fA-F]+|$)",
        marker("private_key"), re.S), ("PRIVATE KEY", "PuTTY-User-Key-File-")),
    ("url-credentials", _regex_rule(
        r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@:]+(?::[^/\s@]*)?|:[^/\s@]+)@", _url_credentials),
     ("://",)),
    # gitleaks slack-webhook-url (its scheme optional: ``notify via hooks.slack.com/services/T.../B.../...``); the
    # host starts a word when no scheme is written (``xhooks.slack.com`` is another host)
    # (host names in any case: ``HOOKS.SLACK.COM`` is the same host; the path's case is the service's own)
    ("slack-webhook", _regex_rule(r"(?:(?i:https?)://|(?<![\w.-]))(?i:hooks\.slack\.com)/(?:services|workflows|triggers)/"
                                  r"[A-Za-z0-9/_+-]+", marker("slack_webhook")),
     ("/services/", "/workflows/", "/triggers/")),
    # a Discord webhook URL: its last part is the token that lets anyone post (also ptb., canary., discordapp.com)
    ("discord-webhook", _regex_rule(r"(?:(?i:https?)://|(?<![\w.-]))(?i:(?:(?:ptb|canary)\.)?discord(?:app)?\.com)/api/"
                                    r"(?:v\d+/)?webhooks/\d+/[A-Za-z0-9_-]+", marker("discord_webhook")),
     ("/webhooks/",)),
    ("aws-access-key", _token_rule("AKIA|ASIA|AGPA|AIDA|AROA|ABIA|ACCA", r"(?![ACGTUN]{16}\b)[0-9A-Z]{16}\b",
                                    marker("aws_access_key")),
     ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ABIA", "ACCA")),
    ("github-token", _regex_rule(
        r"gh[pousr]_(?<!\w....)[A-Za-z0-9]{30,}|github_pat_(?<!\w.{11})[A-Za-z0-9_]{22,}", marker("github_token")),
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("slack-token", _token_rule("xox", r"[abposr]-[A-Za-z0-9-]{10,}", marker("slack_token")), ("xox",)),
    ("openai-key", _token_rule("sk-", r"(?:proj-|ant-)?[A-Za-z0-9_-]{20,}", marker("api_key")), ("sk-",)),
    ("huggingface-token", _token_rule("hf_", r"[A-Za-z0-9]{30,}", marker("hf_token")), ("hf_",)),
    ("google-api-key", _token_rule("AIza", r"[0-9A-Za-z_-]{35}", marker("google_api_key")), ("AIza",)),
    *TOKEN_RULES,
    ("jwt", _token_rule("eyJ", r"[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", marker("jwt")), ("eyJ",)),
    # (`` :``, ``\n:`` and the like: a quoted key with JSON's whitespace before the colon; with none before it,
    # ``":`` or ``':`` is there, whatever follows)
    ("secret-assignment", _secret_assignment, ("=", ": ", ":\t", '":', "':", '\\":', "--", "</", *GLUED_COLON,
                                               " :", "\t:", "\n:", "\r:", "\\n:", "\\t:", "\\r:")),
    ("secret-assignment", _secret_assignment, _GLUED_COLON_SHAPE),
    # A bearer token without its header (``curl ... Bearer eyJ...`` in a message): RFC 6750's token68,
    # long enough not to be a word (``Bearer tokens expire``).
    ("bearer-token", _regex_rule(r"(?<![\w-])(?:Bearer|bearer|BEARER)[ \t]+[A-Za-z0-9._~+/-]{16,}=*(?![\w~+/=-])",
                                 lambda match: match.group(0).split()[0] + " " + marker("auth")),
     # (needles without the first letter: one for ``Bearer`` and ``bearer``)
     ("earer ", "earer\t", "EARER ", "EARER\t")),
    # (not from the letter of a JSON escape, ``\\nalice@...``; not a file for screens of 2x density, ``icon@2x.png``)
    # (letters and digits of any script, RFC 6531: ``jürgen@exämple.de``; ``_`` before the ``@``: ``first_last@``)
    # (and RFC 5321's address literal for a domain: ``anna@[10.1.2.3]``, ``anna@[IPv6:2001:db8::1]``)
    ("email", _regex_rule(r"(?<![\w.+-])(?!(?<=\\)[ntrfb])(?P<local>[\w.%+-]+)@(?!\d+x\.)"
                          r"(?:(?:[^\W_]|-)+(?:\.(?:[^\W_]|-)+)*\.[^\W\d_]{2,}\b|\[[^\]\s\[]{2,}\])", _email), ("@",)),
    ("home-path", _home_path, ("/home/", "/Users/", "/root", "~1home~1", "~1Users~1", "~1root", *_WINDOWS_NEEDLES,
                               *_ESCAPED_NEEDLES)),
    ("ipv4", _regex_rule(
        r"(?<![\w.+-])(?<![=~<>!]=)(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])", _ipv4),
     _IPV4_SHAPE),
    ("ipv6", _ipv6_rule, _IPV6_SHAPE),
    # An IPv4 address written with dashes in a cloud host name (AWS's private DNS names
    # ``ip-172-31-9-88.ec2.internal``, ``ip-10-0-0-1``): it names the machine as the address does.
    # Kubernetes names a pod by its address the same way (``10-41-7-18.default.pod.cluster.local``).
    ("ipv4-dashed", _regex_rule(r"(?<![\w.-])(?:ip|IP)-(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)-){3}"
                                r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w-])"
                                r"|(?<![\w.-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)-){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                                r"(?=\.[a-z0-9-]+\.pod\.)",
                                lambda m: m.group(0)[:3] + marker("ipv4") if m.group(0)[:1] in "iI" else marker("ipv4")),
     ("ip-", "IP-", ".pod.")),
)


@functools.lru_cache(maxsize=1)
def _fixed_index() -> tuple[Callable[..., list[tuple[int, int, int]]], tuple[frozenset[int], ...]]:
    """The finder of the fixed rules' needles and the rules (positions in RULES) of each needle, by its index.

    The finder is one Aho-Corasick automaton (``ahocorasick_rs``, a DFA) over every needle, asked for
    overlapping matches: one scan reports each needle that is in the text, so a rule runs only when one
    of its own needles is really there. It costs about a quarter of a regex written as a trie (which also
    had to look for the needles a longer match may hide), and it is built once per process.
    """
    import ahocorasick_rs

    needles: dict[str, set[int]] = {}
    for position, (_, _, trigger) in enumerate(RULES):
        # a shape's character is its needle: the shape is then checked only in text that holds it
        for needle in (trigger.char,) if isinstance(trigger, Shape) else trigger:
            needles.setdefault(needle, set()).add(position)
    automaton = ahocorasick_rs.AhoCorasick(list(needles), matchkind=ahocorasick_rs.MatchKind.Standard,
                                           implementation=ahocorasick_rs.Implementation.DFA)
    return automaton.find_matches_as_indexes, tuple(frozenset(p) for p in needles.values())


@functools.lru_cache(maxsize=8)
def _needle_positions(offset: int) -> tuple[frozenset[int], ...]:
    """The positions of the rules of each fixed needle (by its index) in a scrubber with ``offset`` rules
    of its own before the fixed ones (shared, read-only: one per offset rather than one per scrubber)."""
    return tuple(frozenset(p + offset for p in rules) for rules in _fixed_index()[1])


_FIRST = operator.itemgetter(0)


#: A UUID as Python (and RFC 9562) writes it: lower-case hexadecimal digits in groups of 8-4-4-4-12.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_CHARS = re.compile(r"[0-9a-f-]+")


def _fits_uuid(needle: str) -> bool:
    """True when ``needle`` may be found in a UUID written as :data:`_UUID` matches (so a rule it triggers
    may run there)."""
    return _UUID_CHARS.fullmatch(needle) is not None and "--" not in needle


@functools.lru_cache(maxsize=1)
def _uuid_proof() -> bool:
    """True when no fixed rule can run on a UUID: none of their needles, nor a shape's character, fits one."""
    return not any(_fits_uuid(needle) for _, _, trigger in RULES
                   for needle in ((trigger.char,) if isinstance(trigger, Shape) else trigger))


#: A flag (also one written to be glued to the next argument, ``["--password=", X]``: matched without its last
#: character).
_FLAG = re.compile(r"-{1,2}([A-Za-z_][\w.-]*)")
#: ... whose name may be a .NET configuration key, its parts joined by colons (``--Authentication:Google:ClientSecret``)
_COLON_FLAG = re.compile(r"-{1,2}([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)*)")
#: An argument that is a name and its separator only (``password:``, ``DB_PASSWORD=``).
_NAME_THEN_SEPARATOR = re.compile(r"([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)*)[=:]")
#: An argument that assigns a value holding spaces to a name (``--secret=a b``, ``DB_PASSWORD=a b``): one
#: argument, so the value is all of the rest (the shell removed the quotes that kept it together).
_ASSIGNED_WITH_SPACES = re.compile(r"(-{1,2}|)([A-Za-z_][\w.-]*)([=:])([^\n]*\s[^\n]*)")
#: What makes the rest of ``NAME=...`` (no dashes) a command after an environment assignment instead of a value
#: (``sh -c "PGPASSWORD=x psql -h db"``): shell syntax or a word that is a flag.
_COMMAND_AFTER = re.compile(r"[=;&|<>$`]|(?:^|\s)-")


def _whole_value(arg: str) -> tuple[str, dict[str, int]] | None:
    """``--secret=a b`` -> ``--secret=<redacted:secret>``: the whole value of an argument that assigns one with
    spaces to a secret's name; None where the argument is no such assignment (it is scrubbed as text)."""
    match = _ASSIGNED_WITH_SPACES.fullmatch(arg)
    if match is None:
        return None
    dashes, name, separator, value = match.groups()
    bare = value.strip()
    if not any(c.isspace() for c in bare):
        return None  # one word after the name (``token: 3600``): the text rules judge it
    kind = secret_kind(name)
    if (kind is None or is_setting_value(bare) or bare.startswith("<redacted:")
            or (not dashes and _COMMAND_AFTER.search(value) is not None)):
        return None
    space = value[:len(value) - len(value.lstrip())]
    return f"{dashes}{name}{separator}{space}{marker(kind)}", {"secret-argument": 1}


#: Arguments between a secret flag and its value (``["--api-token", "=", X]``, ``["--token", "Bearer", X]``).
_BEFORE_VALUE = frozenset({"=", ":", "Bearer", "bearer", "BEARER", "Basic", "basic", "Token", "token", "Bot", "bot"})

#: The first and last lines of a private-key block (PEM, PGP, SSH2).
_KEY_BEGIN = re.compile(r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}")
_KEY_END = re.compile(r"-{4,5} ?END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)? ?-{4,5}")


def _opens_key(text: str) -> bool:
    """True when ``text`` begins a private-key block that it does not end (the rest is in the next items)."""
    begins = [match.end() for match in _KEY_BEGIN.finditer(text)]
    return bool(begins) and _KEY_END.search(text, begins[-1]) is None


#: Short texts and serialised mappings found clean by some scrubber, shared by all of them: the fixed
#: rules left each as it is, so a scrubber whose own values (home, host, user) it does not hold finds it
#: clean too. The records of a sweep come from several hosts, each with its own scrubber; without this,
#: each one scrubbed the same flags, config values and package lists again.
_SHARED_TEXT: set[str] = set()
_SHARED_JSON: set[bytes] = set()
SHARED_ENTRIES = 16384


def _share(table: set[Any], item: Any) -> None:
    if len(table) >= SHARED_ENTRIES:
        table.clear()
    table.add(item)


#: A line break or tab written as JSON writes it inside a string (``\\n``, ``\\t``, ``\\r``, and JSON's two
#: other control characters with a short escape, ``\\f`` and ``\\b``, after an even number of
#: backslashes): ``"step 1\\nghp_..."`` glues the token to an ``n``, so no rule that wants a word to start
#: there would see it. Text holding one is scrubbed whole, then line by line.
_ESCAPED_BREAK = re.compile(r"((?<!\\)(?:\\\\)*\\[ntrfb])")


#: JSON escapes that hide what the rules read, after an even number of backslashes: ``\/`` (how PHP and some
#: Java encoders write ``/``) and ``\uXXXX`` (how ``json.dumps`` writes every non-ASCII character, and a
#: line break as ``\u000a``).
_JSON_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:(/)|u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
                          r"|u([0-9a-fA-F]{4}))")
_SHORT_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0C: "\\f", 0x08: "\\b"}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_decoded(text: str) -> tuple[str, bool, bool] | None:
    """``text`` with its ``\\/`` and ``\\uXXXX`` escapes read (a line break or tab as ``\\n`` or ``\\t``, which
    the rules read as breaks; ``\\u0022`` and ``\\u005c`` stay escaped, as they would break the text's JSON),
    and whether to write ``/`` and non-ASCII characters escaped again; None when there is nothing to read, or
    when the text also holds ``/`` unescaped (it is not JSON written that way throughout)."""
    slashes = unicode = False

    def read(match: re.Match[str]) -> str:
        nonlocal slashes, unicode
        if match.group(2):
            slashes = True
            return match.group(1) + "/"
        if match.group(3):  # a character beyond the first 65,536, as its UTF-16 pair
            code = 0x10000 + ((int(match.group(3), 16) - 0xD800) << 10) + int(match.group(4), 16) - 0xDC00
        else:
            code = int(match.group(5), 16)
        if code in (0x22, 0x5C) or (code < 0x20 and code not in _SHORT_ESCAPES) or 0xD800 <= code < 0xE000:
            return match.group(0)  # (a surrogate alone is no character: it stays escaped)
        unicode = True
        return match.group(1) + _SHORT_ESCAPES.get(code, chr(code))

    decoded = _JSON_ESCAPE.sub(read, text)
    if not (slashes or unicode) or (slashes and "/" in _JSON_ESCAPE.sub("", text)):
        return None
    return decoded, slashes, unicode and _NON_ASCII.search(text) is None


def _json_encoded(text: str, slashes: bool, unicode: bool) -> str:
    """Scrubbed text written back with the escapes :func:`_json_decoded` read."""
    if slashes:
        text = text.replace("/", "\\/")
    if unicode:
        text = _NON_ASCII.sub(lambda m: "".join(f"\\u{unit:04x}" for unit in _utf16(m.group(0))), text)
    return text


def _utf16(char: str) -> tuple[int, ...]:
    code = ord(char)
    if code < 0x10000:
        return (code,)
    code -= 0x10000
    return (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))


class Scrubber:
    """Applies the fixed rules plus replacements of the record's own host, user and home."""

    def __init__(self, identifiers: dict[str, str] | None = None) -> None:
        ids = identifiers or {}
        before: list[tuple[str, Rule, Trigger]] = []
        after: list[tuple[str, Rule, Trigger]] = []
        home = ids.get("home")
        if home and len(home) > 1 and home not in ("~", "/"):
            home = home.rstrip("/\\")
            before.append(("record-home", _literal_rule(home, "~", path=True), (home,)))
            if _HOME_FOLDER.match(home) is None:
                # a path in a URL (``file:///opt/svc/x``): ``/~`` keeps its shape (``/home/<user>`` is the fixed
                # rule's); not right after ``://`` (``mysql://root:pw@db`` for the home ``/root``)
                escaped = re.escape(home)
                url = _regex_rule(f"{escaped}(?<=/{escaped})(?<!:/{escaped})(?=[/\\\\]|$|[\\s:'\"])", "/~")
                before.append(("record-home", url, ("/" + home,)))
            pointer = escape(home)
            if home.startswith("/") and not _FIXED_POINTER_HOME.match(pointer):
                # the home in a JSON pointer (``/x~1opt~1svc~1cfg``); ``/home/<name>`` has a fixed rule
                before.append(("record-home", _regex_rule(re.escape(pointer) + r"(?=~1|$|[^\w.~-])", "~0"), (pointer,)))
        #: Own names that are plain words (``train``, ``data``): replaced only where they name a host or a
        #: user (see :func:`_named_here`), also as a command line's next argument (``--host train``).
        self._plain_words: dict[str, str] = {}
        for kind, placeholder in (("host", "<host>"), ("user", "<user>")):
            value = ids.get(kind)
            if value and len(value) >= 2 and not _is_marker(value) and not value.startswith("hmac:"):
                names = [value]
                short = value.split(".")[0]
                if kind == "host" and short != value and len(short) >= 2:
                    names.append(short)
                for name in names:
                    if name.lower() in (GENERIC_ACCOUNTS if kind == "user" else GENERIC_HOSTS):
                        continue  # names nobody: ``root``, ``ubuntu``, ``localhost``
                    if name.isalpha() and (kind == "host" or name.lower() in PLAIN_WORDS):
                        self._plain_words[name] = placeholder
                        after.append((f"record-{kind}", _literal_rule(name, placeholder, context=kind), (name,)))
                    else:
                        variants = _case_variants(name)
                        after.append((f"record-{kind}", _literal_rule(name, placeholder, variants=variants),
                                      _needles_of(variants)))
        #: The rules in the order they run: the record's home, the fixed rules, its host and user.
        self.rules: list[tuple[str, Rule, Trigger]] = [*before, *RULES, *after]
        #: The record's home goes first, before the other triggers are looked for: most of the text
        #: it is in (run folders, configs) then holds nothing else to find.
        self._first = before[0] if before else None
        self._first_name = before[0][0] if before else None
        own = [needle for _, _, trigger in (*before, *after) for needle in cast("tuple[str, ...]", trigger)]
        #: The needles of the record's own rules, as text and as JSON text (JSON escapes character by
        #: character, so a string or key holding a needle holds it escaped): a text in the shared tables
        #: that holds none of them is clean. Plain ``in`` tests: compiling a pattern would cost more than
        #: the tests a scrubber makes.
        self._own_needles = tuple(dict.fromkeys(own))
        #: No needle of any rule can be in a UUID as Python writes it: such a text is clean as it is.
        self._uuids_clean = _uuid_proof() and not any(map(_fits_uuid, self._own_needles))
        self._own_json = tuple(dict.fromkeys(orjson.dumps(needle)[1:-1] for needle in own))
        self._index(len(before), [*range(1, len(before)), *range(len(before) + len(RULES), len(self.rules))])

    def _index(self, offset: int, own: list[int]) -> None:
        """Where each rule's trigger is looked for: the fixed rules' needles and shapes' characters by one
        shared scan (:func:`_fixed_index`), the record's own values with ``in``."""
        self._finder = _fixed_index()[0]
        self._by_needle = _needle_positions(offset)
        # the record's own rules (before and after the fixed ones) are found by needles, never by a Shape
        self._own = [(position, needle) for position in own for needle in cast("tuple[str, ...]", self.rules[position][2])]
        self._needles: dict[int, tuple[str, ...]] = {}
        #: The rules found by a shape (their character is a needle of the scan), with the test of the shape.
        self._shapes: dict[int, tuple[str, int, Callable[[str], Any]]] = {}
        for position, (_, _, trigger) in enumerate(self.rules):
            if isinstance(trigger, Shape):
                self._shapes[position] = (trigger.char, trigger.least, re.compile(trigger.pattern).search)
            else:
                self._needles[position] = trigger
        #: Results of :meth:`scrub` for short strings seen before (read-only; callers may look up first).
        self.cache: dict[str, tuple[str, dict[str, int]]] = {}
        #: The short strings of :attr:`cache` that scrubbing leaves as they are, and None (a value that is
        #: not there): ``unchanged.issuperset(values)`` tells in one C loop that none of them needs scrubbing.
        self.unchanged: set[str | None] = {None}
        self._keys: dict[str, tuple[str, dict[str, int], str | None]] = {}
        #: Mapping keys seen before that scrubbing leaves as they are and that name no secret, each
        #: with its JSON pointer step (``/`` and the key, escaped).
        self.plain_keys: dict[str, str] = {}
        self._args: dict[str, tuple[str, dict[str, int], str | None, bool, bool]] = {}
        #: Serialised mappings (JSON text) already found to need no scrubbing (see :meth:`mark_clean`).
        self.clean: set[bytes] = set()
        #: The clean list (JSON text) last seen at each place of the walk (a JSON pointer), by place.
        self.last_lists: dict[str, bytes] = {}
        #: Serialised mappings that scrubbing changes, each with the text of its result and its findings
        #: (pointers below the mapping's own, and counts), for a mapping met again (see :meth:`remember_scrubbed`).
        self.scrubbed: dict[bytes, tuple[bytes, tuple[tuple[str, dict[str, int]], ...]]] = {}
        self._seen_once: set[bytes] = set()

    #: Short strings repeat across the records of one job family (flags, config keys, paths):
    #: their results are remembered, in a bounded table per scrubber.
    CACHE_ENTRIES = 4096
    CACHE_MAX_CHARS = 256

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        """Return the scrubbed text and the replacements made, by rule name (treat both as read-only)."""
        cache = self.cache
        cached = cache.get(text)
        if cached is not None:
            return cached
        result: tuple[str, dict[str, int]] | None = None
        if len(text) == 36 and self._uuids_clean and _UUID.fullmatch(text) is not None:
            # A run id: no rule can run on it. Not remembered as a result (an id is new in every record; not
            # shared: other scrubbers never see it), only as clean text, so a record redacted again is one look-up.
            unchanged = self.unchanged
            if len(unchanged) >= 2 * self.CACHE_ENTRIES:
                self.cache.clear()
                unchanged.clear()
                unchanged.add(None)
            unchanged.add(text)
            return text, {}
        # A text another scrubber found clean, holding none of this one's own values, is clean without a pass.
        if text in _SHARED_TEXT:
            for needle in self._own_needles:
                if needle in text:
                    break
            else:
                result = text, {}
        if result is None:
            result = self._scrub(text)
            if not result[1] and len(text) <= self.CACHE_MAX_CHARS:
                if len(_SHARED_TEXT) >= SHARED_ENTRIES:
                    _SHARED_TEXT.clear()
                _SHARED_TEXT.add(text)
        if len(text) <= self.CACHE_MAX_CHARS:
            if len(cache) >= self.CACHE_ENTRIES:
                cache.clear()
                self.unchanged.clear()
                self.unchanged.add(None)
            cache[text] = result
            if not result[1]:
                self.unchanged.add(text)
        return result

    def scrub_key(self, key: str) -> tuple[str, dict[str, int], str | None]:
        """A mapping key scrubbed, and the kind of secret it names (None for most keys)."""
        cached = self._keys.get(key)
        if cached is None:
            qualified = _QUALIFIED_KEY.fullmatch(key) if ":" in key else None
            if qualified is None:
                cached = (*self.scrub(key), secret_kind(key))
            else:
                # a colon-joined configuration key (``Storage:AccountKey:Rotation``) is a name: its last part is
                # no value glued to the secret's word before it; the parts are scrubbed on their own
                head, head_counts = self.scrub(qualified.group(1))
                last, last_counts = self.scrub(qualified.group(2))
                counts = dict(head_counts)
                for name, n in last_counts.items():
                    counts[name] = counts.get(name, 0) + n
                cached = (f"{head}:{last}", counts, secret_kind(key))
            self._remember(self._keys, key, cached)
            if not cached[1] and cached[2] is None and key not in BARE_KEYS:  # (a bare key: judged with its parent)
                self._remember(self.plain_keys, key, "/" + escape(key))
        return cached

    #: Bounds of the memory of clean mappings (at most ~2 MB of text).
    CLEAN_MAX_BYTES = 2048
    CLEAN_ENTRIES = 1024

    def mark_clean(self, text: bytes, max_bytes: int | None = None) -> None:
        """Remember that the mapping (or list) serialised as ``text`` needs no scrubbing (small ones only)."""
        if len(text) <= (max_bytes or self.CLEAN_MAX_BYTES):
            if len(self.clean) >= self.CLEAN_ENTRIES:
                self.clean.clear()
            self.clean.add(text)
            _share(_SHARED_JSON, text)

    def remember_scrubbed(self, text: bytes, result: bytes, found: tuple[tuple[str, dict[str, int]], ...]) -> None:
        """Remember the result (JSON text) and findings of scrubbing the mapping serialised as ``text``
        (a config's section holding a secret is the same in every run of a job). Bounded as :attr:`clean`;
        the secrets in these texts are already kept as keys of :attr:`cache`, never written anywhere."""
        if len(self.scrubbed) >= self.CLEAN_ENTRIES:
            self.scrubbed.clear()
        self.scrubbed[text] = (result, found)

    def seen_twice(self, text: bytes) -> bool:
        """True when ``text`` was passed here before (bounded as :attr:`clean`)."""
        if text in self._seen_once:
            return True
        if len(self._seen_once) >= self.CLEAN_ENTRIES:
            self._seen_once.clear()
        self._seen_once.add(text)
        return False

    def known_clean(self, text: bytes) -> bool:
        """True when the mapping (or list) serialised as ``text`` is known to need no scrubbing."""
        if text in self.clean:
            return True
        if text in _SHARED_JSON:
            for needle in self._own_json:
                if needle in text:
                    return False
            self.mark_clean(text, len(text))
            return True
        return False

    def _remember(self, table: dict[str, Any], text: str, result: Any) -> None:
        if len(text) <= self.CACHE_MAX_CHARS:
            if len(table) >= self.CACHE_ENTRIES:
                table.clear()
            table[text] = result

    #: Passes of the rules over one text at most (see :meth:`_scrub`). In fuzzing, 2% of texts built
    #: from rule fragments needed a third pass and 1 in 100,000 a fifth (home paths nested in home
    #: paths lose one layer a pass); the bound only guards against a rule that would never settle.
    MAX_PASSES = 16

    def _scrub(self, text: str) -> tuple[str, dict[str, int]]:
        """The rules over ``text`` until nothing changes, then over each of its lines where it holds
        JSON-escaped line breaks or tabs (see :data:`_ESCAPED_BREAK`). Text with ``\\/`` or ``\\uXXXX`` escapes is
        read with them decoded and written back escaped (see :data:`_JSON_ESCAPE`)."""
        escapes = "\\" in text  # (no rule writes a backslash into a text that had none)
        if escapes and ("\\/" in text or "\\u" in text):
            decoded = _json_decoded(text)
            if decoded is not None:
                new, counts = self._scrub(decoded[0])
                return (_json_encoded(new, decoded[1], decoded[2]), counts) if counts else (text, counts)
        text, counts = self._pass(text)  # the first pass of :meth:`_settle`, written out: most texts need no other
        if counts and (len(counts) > 1 or self._first_name not in counts):
            text, counts = self._settle(text, counts)
        if not escapes or _ESCAPED_BREAK.search(text) is None:
            return text, counts
        for _ in range(self.MAX_PASSES):
            parts = _ESCAPED_BREAK.split(text)  # the lines at even places, the escapes between them
            more: dict[str, int] = {}
            for i in range(0, len(parts), 2):
                if parts[i]:
                    parts[i], found = self._settle(parts[i])
                    for name, n in found.items():
                        more[name] = more.get(name, 0) + n
            if not more:
                break
            # a line's marker may give a rule over the whole text a match (as between passes)
            text, found = self._settle("".join(parts))
            counts = dict(counts)
            for name, n in (*more.items(), *found.items()):
                counts[name] = counts.get(name, 0) + n
        return text, counts

    def _settle(self, text: str, counts: dict[str, int] | None = None) -> tuple[str, dict[str, int]]:
        """The rules over ``text`` until nothing changes (so scrubbing twice changes nothing).

        A replacement can give an earlier rule a match it did not have (``10.1.2.3/home/bob``: the
        home path counts only once the address before it is a marker), so a text another rule than
        the record's home changed is passed over again. The home goes first and leaves ``~``, which
        lets no rule match that did not before, so the common case is one pass. ``counts``: what a first
        pass already made of ``text``.
        """
        if counts is None:
            text, counts = self._pass(text)
        first = self._first_name
        passes = 1
        while counts and (len(counts) > 1 or first not in counts) and passes < self.MAX_PASSES:
            again, more = self._pass(text)
            if not more:
                break
            text = again
            counts = dict(counts)
            for name, n in more.items():
                counts[name] = counts.get(name, 0) + n
            passes += 1
        return text, counts

    def _pass(self, text: str) -> tuple[str, dict[str, int]]:
        counts: dict[str, int] = {}
        if self._first is not None:
            name, rule, (needle,) = self._first  # type: ignore[misc]
            if needle in text:
                text, n = rule(text)
                if n:
                    counts[name] = n
        candidates: set[int] | None = None
        try:
            hits = self._finder(text, True)  # (needle, start, end) of every needle, overlapping
        except UnicodeEncodeError:
            # a lone surrogate (an undecodable file name read with ``surrogateescape``): the scan takes
            # UTF-8 only, so every fixed rule is a candidate (their patterns read any text)
            hits = [(index, 0, 0) for index in range(len(self._by_needle))]
        if hits:
            by_needle = self._by_needle
            if len(hits) == 1:
                candidates = set(by_needle[hits[0][0]])
            else:
                candidates = set()
                for index in set(map(_FIRST, hits)):
                    candidates |= by_needle[index]
        for position, needle in self._own:
            if needle in text:
                if candidates is None:
                    candidates = set()
                candidates.add(position)
        if candidates is None:
            return text, counts
        rules, needles_of, shapes = self.rules, self._needles, self._shapes
        changed = False
        for position in sorted(candidates):
            shape = shapes.get(position)
            if shape is not None:
                char, least, search = shape
                if text.count(char) < least or search(text) is None:
                    continue
            elif changed:
                # An earlier rule changed the text and may have removed this one's trigger (a secret
                # replaced inside a URL): run the rule only if its trigger is still there.
                for needle in needles_of[position]:
                    if needle in text:
                        break
                else:
                    continue
            name, rule, _ = rules[position]
            text, n = rule(text)
            if n:
                counts[name] = counts.get(name, 0) + n
                changed = True
        return text, counts

    def scrub_argv(self, argv: Iterable[Any]) -> tuple[list[Any], dict[str, int]]:
        """Scrub a command line, also hiding the value after a secret flag (``--token abc``)."""
        out: list[Any] = []
        counts: dict[str, int] = {}
        args, plain = self._args, self._plain_words
        hide_next: str | None = None
        version_next = named_next = in_key = False
        for arg in argv:
            if arg.__class__ is not str:
                out.append(arg)
                hide_next = None
                continue
            if in_key:
                # a private key kept one line an item (``f.readlines()``): every line up to its END line
                out.append(marker("private_key"))
                counts["private-key-block"] = counts.get("private-key-block", 0) + 1
                in_key = _KEY_END.search(arg) is None
                continue
            seen = args.get(arg)
            if hide_next is not None or version_next or named_next:
                # the argument after a flag that says what it is: a version, a host or user, a secret
                if version_next and is_version_value(arg):
                    out.append(arg)  # ``--cudnn-version 9.1.0.70``: a version, not an IPv4 address
                    version_next, named_next, hide_next = False, False, None
                    continue
                if not arg.startswith("-"):
                    # not a flag, so it says nothing of the next argument (every naming and version flag
                    # starts with ``--``); plain words and hidden values never start with ``-``
                    version_next = False
                    if named_next and arg in plain:
                        out.append(plain[arg])  # ``--host train``: the flag says what the word names
                        name = "record-host" if plain[arg] == "<host>" else "record-user"
                        counts[name] = counts.get(name, 0) + 1
                        named_next, hide_next = False, None
                        continue
                    named_next = False
                    if hide_next and not _is_marker(arg) and not is_setting_value(arg):
                        if arg in _BEFORE_VALUE:
                            out.append(arg)  # ``--token = X``, ``--token Bearer X``: the value comes next
                            continue
                        out.append(marker(hide_next))  # hidden unread: a secret is never scrubbed nor remembered
                        counts["secret-argument"] = counts.get("secret-argument", 0) + 1
                        hide_next = None
                        continue
                    if seen is None:
                        seen = self._argument(arg)
                else:
                    if seen is None:
                        seen = self._argument(arg)
                    version_next, named_next = seen[3], seen[4]
                new, found, hide_next = seen[0], seen[1], seen[2]
            else:
                if seen is None:
                    seen = self._argument(arg)
                new, found, hide_next, version_next, named_next = seen
            out.append(new)
            if found:
                for name, n in found.items():
                    counts[name] = counts.get(name, 0) + n
                if "private-key-block" in found:
                    in_key = _opens_key(arg)
        return out, counts

    def _argument(self, arg: str) -> tuple[str, dict[str, int], str | None, bool, bool]:
        """One argument of a command line scrubbed, the kind of secret it names as a flag, and whether the
        next argument is a version (``--cudnn-version``) or names a host or user (``--host``); remembered."""
        glued = arg[-1:] in ("=", ":")
        pattern = _COLON_FLAG if ":" in arg else _FLAG
        flag = pattern.fullmatch(arg, 0, len(arg) - 1) if glued else pattern.fullmatch(arg)
        # a flag written to be glued to its value (``["--host=", X]``) says what the next argument is as ``--host`` does
        bare = arg[:-1] if flag and glued else arg
        names = flag.group(1) if flag else None
        if flag is None and glued:
            # a name and its separator, the value the next argument: ``password: X`` of a legacy ``args`` string
            # split as a shell splits it, ``["DB_PASSWORD=", X]``
            named = _NAME_THEN_SEPARATOR.fullmatch(arg)
            names = named.group(1) if named else None
        # (a .NET key's parts joined by colons are judged by the last: ``--password:X`` is a glued value)
        kind = (chain_kind(names) if ":" in names else secret_kind(names)) if names else None
        whole = _whole_value(arg) if " " in arg or "\t" in arg else None
        seen = (*(whole or self._scrub(arg)), kind,
                # (a flag with its value glued, ``--seed=3``, says nothing of the next argument)
                (arg.startswith("--") or arg[-1:] == ":") and "=" not in bare and is_version_flag(bare),
                bool(self._plain_words) and bare.lower() in _NAMING_FLAGS)
        self._remember(self._args, arg, seen)
        return seen

    def detect(self, text: str) -> list[str]:
        """Names of the rules that would change ``text`` (empty when it is clean)."""
        return list(self._scrub(text)[1])


#: Account names that identify nobody (system, image and CI defaults): the record's user is not
#: replaced in text when it is one of these (``root mean square``, ``ubuntu:22.04`` stay), though the
#: ``host.user`` field is still removed at ``most`` and their homes still become ``~``.
GENERIC_ACCOUNTS = frozenset({
    "root", "admin", "administrator", "user", "users", "ubuntu", "debian", "centos", "fedora", "rocky", "almalinux",
    "alpine", "arch", "ec2-user", "cloud-user", "azureuser", "opc", "vagrant", "pi", "runner", "jenkins", "gitlab-runner",
    "circleci", "buildkite-agent", "docker", "www-data", "nobody", "guest", "postgres", "mysql", "node", "app", "jovyan",
    "vscode", "codespace", "mambauser", "build", "builder", "ci", "default", "test", "dev", "worker", "daemon", "system",
    # the default accounts of vendor images and tools (NVIDIA Jetson and DGX images, conda images): in text
    # these are the vendor's and the tool's names (``NVIDIA Jetson``, ``nvidia-cudnn-cu12``, ``conda activate``)
    "nvidia", "jetson", "conda", "anaconda", "miniconda", "mamba", "micromamba", "python",
})
#: Host names that identify no machine.
GENERIC_HOSTS = frozenset({"localhost", "localhost.localdomain", "localdomain", "ip6-localhost", "host", "container"})
#: Account names that are ordinary words of the text a record holds (``data``, ``model``): a user of this
#: name, like a host name of letters only, is replaced only where it names a user (``/data/imagenet`` and
#: ``data loader`` stay).
PLAIN_WORDS = frozenset({
    "data", "dataset", "datasets", "model", "models", "train", "training", "eval", "test", "tests", "research", "lab",
    "labs", "student", "students", "staff", "team", "group", "project", "projects", "work", "home", "share", "shared",
    "public", "backup", "storage", "compute", "cluster", "server", "node", "gpu", "cpu", "job", "jobs", "batch", "ops",
    "deploy", "service", "services", "web", "api", "bot", "agent", "sync", "cache", "temp", "tmp", "scratch", "log",
    "logs", "main", "master", "core", "base", "local", "remote", "cloud", "edge", "prod", "stage", "staging", "demo",
    "experiment", "experiments", "exp", "run", "runs", "infer", "inference", "serve", "serving", "notebook", "pipeline",
    "spark", "hadoop", "hive", "kafka", "airflow", "jupyter", "ml", "ai", "deep", "learn", "vision", "audio", "speech",
    "robot", "robotics", "sim", "analytics", "monitor", "monitoring", "metrics", "mail", "git", "svn", "ftp", "www",
})
#: Where a plain-word name (``train``, ``gpu``) is taken for the record's host: after ``@`` or ``//``, as
#: the value of a host-named key (``host=train``, ``--host train``, ``MASTER_ADDR=train``), or before a port
#: (``train:8080``: 10 to 65535, ending there; ``gpu:0`` and ``node:18-alpine`` are no ports).
_HOST_BEFORE = re.compile(r"(?:@|//|(?i:host(?:name)?|node|server|machine|addr(?:ess)?)[\"']?[ \t]*[=:][ \t]*[\"']?"
                          r"|(?i:--host(?:name)?|--master[_-]addr)[ \t]+)$")
_PORT_AFTER = re.compile(r":([1-9]\d{1,4})(?![\w-]|\.\w)")
#: Where a plain-word name (``data``) is taken for the record's user: after ``~`` or a user-named key
#: (``user=data``, ``--user data``, ``USER=data``), or before ``@`` (``data@node``).
_USER_BEFORE = re.compile(r"(?:~|(?i:user(?:name)?|owner|login(?:name)?|logname|account)[\"']?[ \t]*[=:][ \t]*[\"']?"
                          r"|(?i:--user(?:name)?|--owner)[ \t]+)$")
#: Flags whose next argument names a host or a user (``["--host", "train"]``).
_NAMING_FLAGS = frozenset({"--host", "--hostname", "--master-addr", "--master_addr", "--node", "--server", "--user",
                           "--username", "--owner", "--login"})
#: ``/home/<name>`` and ``/Users/<name>`` in a JSON pointer: the fixed pointer rule covers them.
_FIXED_POINTER_HOME = re.compile(r"~1(?:home|Users)~1[^~]+$")
_HOME_FOLDER = re.compile(r"/(?:home|Users)/[^/]+$")


def _named_here(match: re.Match[str], kind: str) -> bool:
    """True when the plain word at ``match`` names the record's host (``kind`` "host") or user there."""
    text, start, end = match.string, match.start(), match.end()
    if kind == "user":
        return _USER_BEFORE.search(text, max(0, start - 12), start) is not None or text[end:end + 1] == "@"
    if _HOST_BEFORE.search(text, max(0, start - 14), start):
        return True
    port = _PORT_AFTER.match(text, end)
    return port is not None and int(port.group(1)) <= 65535


def _needles_of(variants: tuple[str, ...]) -> tuple[str, ...]:
    """Substrings that every match of ``variants`` holds: one for the name and its capitalised form
    (``kowalski``), one for its capitals (fewer checks per string)."""
    name = variants[0]
    if len(variants) == 1 or not name.islower():
        return variants
    return tuple(dict.fromkeys((name[1:], name.upper())))


def _case_variants(name: str) -> tuple[str, ...]:
    """``name`` as written, in lower case, in capitals and capitalised (``mkowalski``, ``MKOWALSKI``,
    ``Mkowalski``; ``Node-17b``, ``node-17b``; also a dotted name, ``anna.nowak``, ``ANNA.NOWAK``,
    ``Anna.nowak``); a name of up to three characters only as written (``Li-ion`` is no user ``li``). Only
    forms of the same length (the rule looks back by the name's length)."""
    if len(name) < 4:
        return (name,)
    forms = (name, name.lower(), name.upper(), name.capitalize())
    return tuple(dict.fromkeys(form for form in forms if len(form) == len(name)))


def _literal_rule(value: str, replacement: str, path: bool = False, context: str | None = None,
                  variants: tuple[str, ...] = ()) -> Rule:
    escaped = re.escape(value)
    if path:
        # The home where a path starts (``/home/alice/x``), never inside one (``/mnt/nfs/home/alice``:
        # the user rule then keeps the path's shape) nor after ``//`` (``file:///home/alice``,
        # ``mysql://root:pw@db`` for the home ``/root``: the fixed rules keep the URL's shape).
        pattern = escaped + r"(?<![\w.~/-]" + escaped + r")(?=[/\\]|$|[\s:'\"]|~1)"
        return _regex_rule(pattern, replacement.replace("\\", "\\\\"))
    if context is not None:
        # A plain word: only where it names a host or a user (see _named_here).
        pattern = escaped + r"(?<![\w.-]" + escaped + r")" + r"(?![\w-]|\.\w)"
        return _regex_rule(pattern, lambda m: replacement if _named_here(m, context) else m.group(0))
    # A distinctive name, as a whole token: not next to a letter or a digit, so also glued by punctuation
    # (``mkowalski-sweep-7``, ``mkowalski.log``, ``run_mkowalski``, ``sweep-dgx-a100-03-A``), in each of
    # ``variants`` (same length). The literals first, then a look back at the character before them: a
    # pattern that starts with a lookbehind makes the regex engine try it at every position.
    alternatives = "|".join(re.escape(v) for v in variants or (value,))
    pattern = f"(?:{alternatives})(?<![A-Za-z0-9].{{{len(value)}}})(?![A-Za-z0-9])"
    return _regex_rule(pattern, replacement)
