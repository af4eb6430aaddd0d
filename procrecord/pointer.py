"""JSON Pointer (RFC 6901): the one place the package takes pointer handling from, the ``jsonpointer`` library."""

from __future__ import annotations

from jsonpointer import JsonPointer, escape, resolve_pointer, unescape

__all__ = ["escape", "unescape", "tokens", "resolve_pointer"]


def tokens(pointer: str) -> list[str]:
    """The unescaped reference tokens of ``pointer`` (``""`` has none)."""
    return list(JsonPointer(pointer).parts)
