"""Is the file at a record's output one that a new record may replace?

A record replaces an earlier record (or an empty file), never anything else: ``procrecord run -o
train.py`` must not turn the job's script into its record. Told cheaply, from at most
:data:`PREFIX` bytes: a file that fits is parsed whole; of a bigger one the top-level members are read
in order until the marks of a record are seen (every writer of records puts ``schema_version``,
``record_type`` and ``type`` first, and a legacy record's ``type`` comes before its ``properties``);
when they do not tell (a record saved with its keys sorted, a legacy record with ``properties`` first),
the whole file is read, up to :data:`WHOLE` bytes.

A record is a JSON object whose ``record_type`` (or ``type``) starts with ``procrecord``, or a
legacy ProcessContext record (``type`` ``process`` or ``process_context``, with ``properties``). A
``.jsonl``/``.ndjson`` output holds one record as one line (the writer replaces the file at every
write, it does not append): such a file whose first line is a record may be replaced, one that holds
more than one record may not (the others would be lost).
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from procrecord.record.versions import LEGACY_TYPES, is_ours

#: What is read first of an existing output to tell whether it is a record.
PREFIX = 1 << 20
#: The most that is read when the first :data:`PREFIX` bytes do not tell (a record whose marks come
#: after a big member: saved with its keys sorted, or a legacy record with ``properties`` first).
WHOLE = 256 << 20
#: The names the readers parse line by line (as in :mod:`procrecord.writer.recorder`).
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_BOM = "\ufeff"
NOT_A_RECORD = "it exists and is not a procrecord record"


def refusal(path: str) -> str | None:
    """Why the file at ``path`` must not be replaced by a record, or None: nothing is there, it is
    no regular file (:mod:`procrecord.atomic` refuses to replace that, and says so), or it is empty
    or a record."""
    try:
        info = os.stat(path)
    except OSError:
        return None  # nothing there (or nothing to read): writing it says what is wrong, if anything
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return None
    lines = path.lower().endswith(_JSONL_SUFFIXES)
    try:
        with open(path, "rb") as handle:
            data = handle.read(PREFIX + 1)
            verdict = _verdict(data[:PREFIX], len(data) <= PREFIX, lines)
            if verdict is _UNSURE:  # a big object whose first members do not say
                if info.st_size > WHOLE:
                    return (f"it exists and its first {PREFIX >> 20} MiB do not tell whether it is a procrecord "
                            f"record (it is over {WHOLE >> 20} MiB)")
                verdict = _verdict(data + handle.read(), True, lines)
    except OSError as exc:
        return f"it exists and cannot be read to tell whether it is a procrecord record ({exc.strerror or exc})"
    return None if verdict is _UNSURE else verdict


_UNSURE = "unsure"


def _verdict(data: bytes, whole: bool, lines: bool) -> str | None:
    """Why a file starting with ``data`` (all of it when ``whole``) must not be replaced, None when it
    may, or :data:`_UNSURE` when its start does not tell."""
    text = data.decode("utf-8", "replace").removeprefix(_BOM)
    if not text.strip():
        return None  # an empty file (blank lines only): nothing is lost
    if whole:
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = None
            if not lines:
                return NOT_A_RECORD
        if value is not None or not lines:
            return None if isinstance(value, dict) and is_record(value) else NOT_A_RECORD
    # JSON Lines (or a prefix of a big file): the first line's record, and no other line
    head = text.lstrip()
    first, newline, rest = head.partition("\n") if lines else (head, "", "")
    claim = _claims(first, complete=whole or bool(newline))
    if claim is None:
        return _UNSURE
    if not claim:
        return NOT_A_RECORD
    if rest.strip():
        return ("it holds more than one line (a record output holds one record: replacing the file "
                "would lose the others)")
    return None


def is_record(value: dict[str, Any]) -> bool:
    """True when the members of ``value`` (all, or the first ones) mark a procrecord record."""
    if is_ours(value.get("record_type")) or is_ours(value.get("type")):
        return True
    return value.get("type") in LEGACY_TYPES and "properties" in value


def _claims(text: str, complete: bool) -> bool | None:
    """True when the JSON object that ``text`` holds (all of it when ``complete``, else its start)
    is a record, as far as its first members tell; None when ``text`` ends before they tell."""
    if complete:
        try:
            value = json.loads(text)
        except ValueError:
            return False
        return isinstance(value, dict) and is_record(value)
    decoder = json.JSONDecoder()
    end = len(text)
    at = _skip(text, 0)
    if at >= end or text[at] != "{":
        return False
    at += 1
    seen: dict[str, Any] = {}
    while True:
        at = _skip(text, at)
        if at < end and text[at] == ",":
            at = _skip(text, at + 1)
        if at >= end:
            return True if is_record(seen) else None  # the prefix ends before the object does
        if text[at] != '"':
            break  # the object's end, or no JSON
        try:
            key, at = decoder.raw_decode(text, at)
        except ValueError:
            return True if is_record(seen) else None  # a key cut by the prefix's end
        at = _skip(text, at)
        if at >= end:
            return True if is_record(seen) else None
        if text[at] != ":":
            break
        seen[key] = None  # present, its value maybe beyond the prefix (a legacy record's properties)
        try:
            seen[key], at = decoder.raw_decode(text, _skip(text, at + 1))
        except ValueError:
            return True if is_record(seen) else None  # its value runs past the prefix (or is broken)
        if is_record(seen):
            return True
    return is_record(seen)


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at
