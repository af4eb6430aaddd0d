"""JSON Pointer (RFC 6901): the one place the package takes pointer handling from, the ``jsonpointer`` library."""

from __future__ import annotations

from jsonpointer import JsonPointer, JsonPointerException, escape, resolve_pointer, unescape

__all__ = ["escape", "unescape", "tokens", "tokens_if_pointer", "resolve_pointer"]


def tokens(pointer: str) -> list[str]:
    """The unescaped reference tokens of ``pointer`` (``""`` has none)."""
    return list(JsonPointer(pointer).parts)


def tokens_if_pointer(value: object) -> list[str] | None:
    """The reference tokens of ``value`` when it is a well-formed pointer (a string, ``""`` or starting
    ``/``, escapes only ``~0`` and ``~1``); None for anything else (input that may be forged)."""
    if not isinstance(value, str) or value[:1] not in ("", "/"):
        return None
    try:
        return tokens(value)
    except JsonPointerException:
        return None
