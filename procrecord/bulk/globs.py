"""The patterns of ``--include`` and ``--exclude``: gitignore-like globs on the paths below a source.

One rule for every walk (local folders and prefixes in object storage alike):

* a pattern without ``/`` matches an entry's name at any depth (``node_modules``, ``*.json``);
* a pattern with ``/`` matches the entry's path below the source (``sub/*.json``, ``/old``: a ``/``
  at the start only anchors it);
* ``*`` and ``?`` never match ``/``; a ``**`` segment matches any number of folders (``deep/**/*.jsonl``,
  ``**/o.json``, ``sub/**``); ``[abc]``, ``[a-z]`` and ``[!abc]`` match one character;
* a pattern ending with ``/`` matches folders only (``node_modules/``).

Matching is case-sensitive, as before.
"""

from __future__ import annotations

import functools
import re

import attrs


@attrs.frozen
class Glob:
    """One compiled pattern."""

    regex: re.Pattern[str]
    #: The pattern holds a ``/``: it is matched against the whole path below the source, else a name.
    whole_path: bool
    #: The pattern ends with ``/``: it matches folders only.
    folders_only: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        """True when the entry at ``relative`` (its ``/``-separated path below the source) matches."""
        if self.folders_only and not is_dir:
            return False
        target = relative if self.whole_path else relative.rpartition("/")[2]
        return self.regex.fullmatch(target) is not None


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> Glob:
    """The :class:`Glob` of ``pattern`` (see the module's rules)."""
    folders_only = pattern.endswith("/")
    body = pattern.rstrip("/")
    whole_path = "/" in body
    body = body.lstrip("/")
    try:
        regex = re.compile("(?s:" + _translate(body) + ")")
    except re.error:  # a class such as [z-a]: the pattern stands for itself
        regex = re.compile(re.escape(body))
    return Glob(regex, whole_path, folders_only)


def static_prefix(pattern: str, sep: str = "/") -> str:
    """The leading parts of a source glob before the first with a wildcard, joined by ``sep``: the folder the
    pattern starts from, below which ``--include``/``--exclude`` read paths ("" when the first part has one)."""
    parts = []
    for part in pattern.split(sep):
        if any(char in part for char in "*?["):
            break
        parts.append(part)
    return sep.join(parts)


def matches_any(patterns: tuple[str, ...], relative: str, is_dir: bool) -> bool:
    """True when one of ``patterns`` matches the entry at ``relative``."""
    return any(compile_glob(pattern).matches(relative, is_dir) for pattern in patterns)


def _translate(pattern: str) -> str:
    parts = pattern.split("/")
    out = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:.*/)?")  # any number of folders (none included)
        else:
            out.append(_segment(part) + ("" if last else "/"))
    return "".join(out)


def _segment(part: str) -> str:
    """One path segment of a pattern as a regex that never matches ``/``."""
    out = []
    index, size = 0, len(part)
    while index < size:
        char = part[index]
        index += 1
        if char == "*":
            while index < size and part[index] == "*":
                index += 1  # ``**`` inside a name is one ``*``
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = index
            if end < size and part[end] == "!":
                end += 1
            if end < size and part[end] == "]":
                end += 1
            while end < size and part[end] != "]":
                end += 1
            if end >= size:
                out.append(re.escape(char))  # no closing bracket: a plain "["
                continue
            body = part[index:end]
            index = end + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = "".join("\\" + c if c in "\\^[]" else c for c in body)
            out.append(f"[^/{body}]" if negate else f"[{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)
