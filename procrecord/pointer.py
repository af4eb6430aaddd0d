"""JSON Pointer (RFC 6901) tokens: the one place that escapes and unescapes them."""

from __future__ import annotations


def escape(token: str) -> str:
    """``a/b~c`` -> ``a~1b~0c`` (most keys need nothing and come back as they are)."""
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


def unescape(token: str) -> str:
    """The inverse of :func:`escape`."""
    if "~" in token:
        return token.replace("~1", "/").replace("~0", "~")
    return token


def tokens(pointer: str) -> list[str]:
    """The unescaped reference tokens of ``pointer`` (``""`` has none)."""
    return [unescape(raw) for raw in pointer.split("/")[1:]]
