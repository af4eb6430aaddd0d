"""The one redaction function, driven by the schema's ``x-redact``/``x-scrub`` annotations.

``redact(record, level)`` removes every property whose ``x-redact`` the level covers, scrubs what it
keeps under ``x-scrub``, optionally replaces removed identifiers by keyed pseudonyms, and writes a
note into the record. It is used by the writer and by ``procrecord redact`` alike.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Any

from procrecord._version import __version__
from procrecord.jsonsafe import json_copy
from procrecord.errors import ProcrecordError, RedactionKeyError
from procrecord.policy import RANK, LEVELS, Node, policy, removes
from procrecord.schemas import current_version
from procrecord.scrub import Scrubber, marker, secret_kind
from procrecord.validation import Violation

KEY_ENV = "PROCRECORD_REDACT_KEY"
MIN_KEY_BYTES = 32
_TOKEN = re.compile(r"^hmac:[0-9a-f]{16}$")


@functools.lru_cache(maxsize=None)
def _identifiers(version: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    return tuple(_identifier_paths(policy(version)))


@functools.lru_cache(maxsize=16)
def _scrubber(identifiers: tuple[tuple[str, str], ...]) -> Scrubber:
    return Scrubber(dict(identifiers))


def scrubber_for(record: dict[str, Any], version: str) -> Scrubber:
    """The scrubber for a record (cached by its identifiers: records of one host share one)."""
    return _scrubber(tuple(sorted(harvest(record, version).items())))


def _identifier_paths(node: Node, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for name, child in (node.children or {}).items():
        if child.identifier:
            found.append(((*path, name), child.identifier))
        found.extend(_identifier_paths(child, (*path, name)))
    return found


def harvest(record: dict[str, Any], version: str) -> dict[str, str]:
    """The record's own identifiers (host, user, home) as named by ``x-identifier``."""
    found: dict[str, str] = {}
    for path, kind in _identifiers(version):
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value and not _TOKEN.match(value):
            found[kind] = value
    return found


def load_key(key_file: str | None = None) -> bytes | None:
    """The pseudonym key from ``key_file`` or ``$PROCRECORD_REDACT_KEY``; None when neither is set."""
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise RedactionKeyError(f"cannot read key file {key_file}: {exc.strerror}") from exc
    elif os.environ.get(KEY_ENV):
        key = os.environ[KEY_ENV].encode()
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise RedactionKeyError(f"pseudonym key is {len(key)} bytes; at least {MIN_KEY_BYTES} are required")
    return key


def fingerprint(key: bytes) -> str:
    """Public fingerprint of a pseudonym key (never the key itself)."""
    return "sha256:" + hashlib.sha256(b"procrecord-key-fingerprint\0" + key).hexdigest()[:16]


def pseudonym(key: bytes, value: str) -> str:
    """Keyed, linkable token for an identifier."""
    return "hmac:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def _escape(key: str) -> str:
    if "~" in key or "/" in key:
        return key.replace("~", "~0").replace("/", "~1")
    return key


class _Context:
    def __init__(self, level: str, scrubber: Scrubber, key: bytes | None, kept_tokens: set[str]) -> None:
        self.level = level
        self.scrubber = scrubber
        self.key = key
        self.kept_tokens = kept_tokens
        self.removed: list[str] = []
        self.pseudonymized: list[str] = []
        self.scrubbed: dict[tuple[str, str], int] = {}

    def count(self, pointer: str, counts: dict[str, int]) -> None:
        for rule, n in counts.items():
            self.scrubbed[(pointer, rule)] = self.scrubbed.get((pointer, rule), 0) + n


def _walk(value: Any, node: Node, pointer: str, ctx: _Context, scrub: bool) -> Any:
    rank = RANK[ctx.level]
    if not scrub and not node.scrub_below and node.touch_below > rank:
        return value  # nothing below changes at this level (shared with the input, never mutated)
    if isinstance(value, dict) and node.children is not None:
        if not scrub:
            hits = node.active[rank].intersection(value)
            if not hits:
                return value
            if len(hits) * 2 < len(value):
                return _walk_some(value, node, hits, pointer, ctx, rank)
        children = node.children
        out = {}
        for key, sub in value.items():
            child = children.get(key)
            if child is None:
                out[key] = _scrub_any(sub, f"{pointer}/{_escape(key)}", ctx) if scrub else sub
            elif child.redact != "never" and RANK[child.redact] <= rank:
                token = _remove(sub, child, f"{pointer}/{_escape(key)}", ctx)
                if token is not None:
                    out[key] = token
            elif not (scrub or child.scrub or child.scrub_below) and child.touch_below > rank:
                out[key] = sub  # fast path: kept as it is
            elif isinstance(sub, str):
                new, counts = ctx.scrubber.scrub(sub)
                if counts:
                    ctx.count(f"{pointer}/{_escape(key)}", counts)
                out[key] = new
            else:
                out[key] = _walk(sub, child, f"{pointer}/{_escape(key)}", ctx, scrub or child.scrub)
        return out
    if isinstance(value, list) and node.items is not None and node.items.children is not None:
        return [_walk(item, node.items, f"{pointer}/{i}", ctx, scrub) for i, item in enumerate(value)]
    if scrub:
        return _scrub_any(value, pointer, ctx)
    return value


def _remove(value: Any, child: Node, here: str, ctx: _Context) -> str | None:
    """Note the removal of ``here``; return the keyed pseudonym to put there instead, if one applies."""
    if ctx.key is not None and child.pseudonymize and isinstance(value, str):
        ctx.pseudonymized.append(here)
        return value if here in ctx.kept_tokens and _TOKEN.match(value) else pseudonym(ctx.key, value)
    ctx.removed.append(here)
    return None


def _walk_some(value: dict[str, Any], node: Node, hits: frozenset[str] | set[str], pointer: str, ctx: _Context,
               rank: int) -> dict[str, Any]:
    """Like the dict case of :func:`_walk`, visiting only the keys the level touches (wide objects)."""
    out = dict(value)
    children = node.children or {}
    for key in hits:
        child, sub = children[key], value[key]
        here = f"{pointer}/{_escape(key)}"
        if child.redact != "never" and RANK[child.redact] <= rank:
            token = _remove(sub, child, here, ctx)
            if token is None:
                del out[key]
            else:
                out[key] = token
        elif isinstance(sub, str) and child.scrub:
            new, counts = ctx.scrubber.scrub(sub)
            if counts:
                ctx.count(here, counts)
            out[key] = new
        else:
            out[key] = _walk(sub, child, here, ctx, child.scrub)
    return out


def _scrub_any(value: Any, pointer: str, ctx: _Context) -> Any:
    """Scrub free-form JSON (config, extra, argv, messages): strings, keys, and secret-named keys."""
    kind_of = type(value)
    if kind_of is str:
        new, counts = ctx.scrubber.scrub(value)
        if counts:
            ctx.count(pointer, counts)
        return new
    if kind_of is list:
        if all(type(item) is str for item in value):
            new_list, counts = ctx.scrubber.scrub_argv(value)
            if counts:
                ctx.count(pointer, counts)
            return new_list
        return [_scrub_any(item, f"{pointer}/{i}", ctx) for i, item in enumerate(value)]
    if kind_of is dict:
        scrub = ctx.scrubber.scrub
        out = {}
        for key, sub in value.items():
            new_key, key_counts = scrub(key)
            if key_counts:
                ctx.count(f"{pointer}/{_escape(new_key)}", key_counts)
            kind = secret_kind(key)
            sub_type = type(sub)
            if kind is not None and sub is not None and sub_type not in (bool, int, float) and sub != marker(kind):
                out[new_key] = marker(kind)
                ctx.count(f"{pointer}/{_escape(new_key)}", {"secret-key": 1})
            elif sub_type is str:
                new, counts = scrub(sub)
                if counts:
                    ctx.count(f"{pointer}/{_escape(new_key)}", counts)
                out[new_key] = new
            elif sub is None or sub_type in (bool, int, float):
                out[new_key] = sub
            else:
                out[new_key] = _scrub_any(sub, f"{pointer}/{_escape(new_key)}", ctx)
        return out
    return value


def redact(record: dict[str, Any], level: str, key: bytes | None = None, version: str | None = None) -> dict[str, Any]:
    """Return a redacted copy of ``record`` (current schema version) at ``level``.

    Level ``none`` returns an unchanged copy. The result carries a ``redaction`` note (merged with
    any earlier note, so redaction is idempotent) and validates against the same schema. Parts the
    level leaves unchanged are shared with the input (never modified).
    """
    if level not in RANK:
        raise ProcrecordError(f"unknown redaction level {level!r} (choose from {', '.join(LEVELS)})")
    version = version or record.get("schema_version") or current_version()
    if level == "none":
        return json_copy(record)
    previous = record.get("redaction") if isinstance(record.get("redaction"), dict) else {}
    ctx = _Context(level, scrubber_for(record, version), key, set(previous.get("pseudonymized", ())))
    out = _walk({k: v for k, v in record.items() if k != "redaction"}, policy(version), "", ctx, False)
    out["redaction"] = _note(previous, ctx, key)
    return out


def _note(previous: dict[str, Any], ctx: _Context, key: bytes | None) -> dict[str, Any]:
    old_level = previous.get("level", "none")
    level = ctx.level if RANK.get(ctx.level, 0) >= RANK.get(old_level, 0) else old_level
    scrubbed = {(e["path"], e["rule"]): e["count"] for e in previous.get("scrubbed", ()) if isinstance(e, dict)}
    for spot, n in ctx.scrubbed.items():
        scrubbed[spot] = scrubbed.get(spot, 0) + n
    note: dict[str, Any] = {
        "level": level,
        "tool": "procrecord",
        "tool_version": __version__,
        "removed": sorted(set(previous.get("removed", ())) | set(ctx.removed)),
        "scrubbed": [{"path": p, "rule": r, "count": n} for (p, r), n in sorted(scrubbed.items())],
    }
    pseudo = set(previous.get("pseudonymized", ())) | set(ctx.pseudonymized)
    if pseudo:
        note["pseudonymized"] = sorted(pseudo)
    if key is not None:
        note["key_fingerprint"] = fingerprint(key)
    elif previous.get("key_fingerprint"):
        note["key_fingerprint"] = previous["key_fingerprint"]
    return note


def check_level(record: dict[str, Any], level: str, version: str | None = None) -> list[Violation]:
    """What in ``record`` breaks the promise of redaction ``level`` (empty when it keeps it).

    A property the level removes, a missing or lower redaction note, or a secret, home path or the
    record's own identifiers left in the text it keeps.
    """
    version = version or record.get("schema_version") or current_version()
    leaks: list[Violation] = []
    note = record.get("redaction") if isinstance(record.get("redaction"), dict) else None
    if note is None:
        leaks.append(Violation("$.redaction", f"record carries no redaction note (required: {level})", "require-level"))
    elif RANK.get(note.get("level"), 0) < RANK[level]:
        leaks.append(Violation("$.redaction.level", f"redacted at {note.get('level')!r}, lower than {level!r}", "require-level"))
    tokens = set(note.get("pseudonymized", ())) if note else set()
    scrubber = scrubber_for(record, version)
    _check(record, policy(version), "", level, tokens, scrubber, False, leaks)
    return leaks


def _check(value: Any, node: Node, pointer: str, level: str, tokens: set[str], scrubber: Scrubber,
           scrub: bool, leaks: list[Violation]) -> None:
    if isinstance(value, dict) and node.children is not None:
        for key, sub in value.items():
            if pointer == "" and key == "redaction":
                continue
            here = f"{pointer}/{_escape(key)}"
            child = node.children.get(key)
            if child is None:
                if scrub:
                    _check_text(sub, here, scrubber, leaks)
            elif removes(child.redact, level) and not (here in tokens and isinstance(sub, str) and _TOKEN.match(sub)):
                leaks.append(Violation(_pointer_to_path(here), f"field removed at level {level!r} is present", "x-redact"))
            else:
                _check(sub, child, here, level, tokens, scrubber, scrub or child.scrub, leaks)
    elif isinstance(value, list) and node.items is not None and node.items.children is not None:
        for i, item in enumerate(value):
            _check(item, node.items, f"{pointer}/{i}", level, tokens, scrubber, scrub, leaks)
    elif scrub:
        _check_text(value, pointer, scrubber, leaks)


def _check_text(value: Any, pointer: str, scrubber: Scrubber, leaks: list[Violation]) -> None:
    if isinstance(value, str):
        for rule in scrubber.detect(value):
            leaks.append(Violation(_pointer_to_path(pointer), f"text still matches scrub rule {rule!r}", "x-scrub"))
    elif isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            for rule in scrubber.scrub_argv(value)[1]:
                leaks.append(Violation(_pointer_to_path(pointer), f"text still matches scrub rule {rule!r}", "x-scrub"))
        else:
            for i, item in enumerate(value):
                _check_text(item, f"{pointer}/{i}", scrubber, leaks)
    elif isinstance(value, dict):
        for key, sub in value.items():
            here = f"{pointer}/{_escape(key)}"
            kind = secret_kind(key)
            if kind and sub is not None and not isinstance(sub, (bool, int, float)) and sub != marker(kind):
                leaks.append(Violation(_pointer_to_path(here), f"value under secret-named key {key!r}", "x-scrub"))
            else:
                _check_text(key, here, scrubber, leaks)
                _check_text(sub, here, scrubber, leaks)


def _pointer_to_path(pointer: str) -> str:
    from procrecord.validation import json_path

    parts: list[Any] = []
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(part) if part.isdigit() else part)
    return json_path(parts)
