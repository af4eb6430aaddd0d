"""What several targets share: where a record's artifacts live, and its lineage ids."""

from __future__ import annotations

import posixpath
import re
import uuid
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

#: Namespace for ids derived from records whose id is not a UUID (records are uuids; legacy ones may not be).
_NAMESPACE = uuid.UUID("6f1c2b4e-7f0a-4c52-9a53-3f0d8e3c5a11")


def as_uuid(value: Any) -> tuple[uuid.UUID, bool]:
    """``value`` as a UUID, or one derived from it (the flag says whether it had to be derived; a missing
    or non-text id is derived from its ``str``)."""
    try:
        return uuid.UUID(value), False
    except (ValueError, TypeError, AttributeError):
        return uuid.uuid5(_NAMESPACE, str(value)), True


def _host(parts: Any) -> str:
    """The authority of split URI ``parts`` without its userinfo (``key:secret@bucket`` -> ``bucket``)."""
    return str(parts.netloc).rpartition("@")[2]


#: RFC 3986's generic syntax (its appendix B): it splits any text, as urlsplit does what it can read.
_GENERIC = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?\Z", re.S)


def _split(uri: str) -> SplitResult:
    """``urlsplit(uri)``; for text it refuses (an unbalanced ``[`` in the authority: ``https://u:t@[host/x``, which a
    valid record may hold) the same parts by RFC 3986's generic syntax, so that the userinfo is still found."""
    try:
        return urlsplit(uri)
    except ValueError:
        match = _GENERIC.match(uri)
        assert match is not None  # every part is optional: any text matches
        scheme, netloc, path, query, fragment = match.groups(default="")
        return SplitResult(scheme.lower(), netloc, path, query, fragment)


def without_userinfo(uri: str) -> str:
    """``uri`` without the user part of its authority (``s3://KEY:SECRET@bucket/x`` or, redacted,
    ``s3://<redacted:credentials>@bucket/x`` -> ``s3://bucket/x``): what identifies a dataset or repository is
    where it is, not who read it, so lineage of redacted and unredacted records joins. Other text as it is."""
    parts = _split(uri)
    if not parts.scheme or "@" not in parts.netloc:
        return uri
    return uri.replace(f"//{parts.netloc}", "//" + _host(parts), 1)


def split_uri(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of an artifact: ``s3://bucket`` and ``key``, or ``file`` and the path (never the
    user part of the authority: see :func:`without_userinfo`)."""
    parts = _split(uri)
    if parts.scheme and len(parts.scheme) > 1 and parts.scheme != "file":  # "C:\\x" is a path, not a scheme
        return f"{parts.scheme}://{_host(parts)}", parts.path.lstrip("/") or "/"
    path = parts.path if parts.scheme == "file" else uri
    return "file", path


def file_uri(uri: str) -> str | None:
    """An absolute URI for an artifact's ``uri`` as recorded, or None when it names no absolute location.

    An absolute path becomes a ``file://`` URI (POSIX ``/a/b``, Windows ``C:\\a`` and ``\\\\server\\share``);
    a URI keeps its scheme, host and path, escaped where RFC 3986 wants it (a redaction placeholder such as
    ``<user>`` becomes ``%3Cuser%3E``), without its userinfo (``s3://key:secret@bucket/x`` and a redacted
    ``s3://<redacted:credentials>@bucket/x`` both name ``s3://bucket/x``: credentials identify nobody's
    file). A relative path (``data/x``, ``~/x``, ``file:x``) is None: it is never resolved against the
    folder of whoever exports, which would name a file that never existed and tell where the export ran.
    """
    if _WINDOWS_ABSOLUTE.match(uri) or uri.startswith("\\\\"):
        from pathlib import PureWindowsPath

        return PureWindowsPath(uri).as_uri()
    try:
        parts = urlsplit(uri)
    except ValueError:  # an unbalanced "[" in what looks like a host: not a URI this can rebuild
        parts = None
    if parts is None or not parts.scheme or len(parts.scheme) == 1:
        if uri.startswith("/"):
            from pathlib import PurePosixPath

            return PurePosixPath(posixpath.normpath(uri)).as_uri()
        return None
    netloc = _host(parts)
    if netloc and not _HOST.match(netloc):
        netloc = quote(netloc, safe="")  # e.g. a placeholder for a redacted host: a valid (escaped) reg-name
    if parts.scheme.lower() == "file" and not netloc and not parts.path.startswith("/"):
        return None  # file:relative/path
    path = _escape(parts.path, "/:@!$&'()*+,;=~")
    hierarchical = netloc or uri[len(parts.scheme) + 1:].startswith("//")
    rebuilt = f"{parts.scheme}://{netloc}{path}" if hierarchical else f"{parts.scheme}:{path}"
    if parts.query:
        rebuilt += "?" + _escape(parts.query, "/?:@!$&'()*+,;=~")
    if parts.fragment:
        rebuilt += "#" + _escape(parts.fragment, "/?:@!$&'()*+,;=~")
    return rebuilt


def local_id(text: str, prefix: str = "path:", uri: bool = False) -> str:
    """A ``#`` local identifier (RFC 3986 fragment): ``prefix`` and ``text`` escaped, where ``text`` is a
    relative path as recorded (``%`` is a character of its name) or, with ``uri``, a URI (its ``%XX`` kept).
    A ``//`` becomes ``/%2F``: JSON-LD processors (roc-validator's among them) resolve a fragment holding
    ``//`` to another IRI."""
    escaped = _escape(text, "/:!$&'()*+,;=~?") if uri else quote(text, safe="/:!$&'()*+,;=~")  # "@" marks a version
    while "//" in escaped:
        escaped = escaped.replace("//", "/%2F")
    return f"#{prefix}{escaped}"


def _escape(text: str, safe: str) -> str:
    """``text`` with what a URI may not hold percent-escaped; ``%XX`` escapes already there are kept."""
    text = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", text)
    return quote(text, safe=safe + "%")


_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(:[0-9]*)?$")


def artifacts(record: dict[str, Any], side: str) -> list[dict[str, Any]]:
    """The record's ``inputs`` or ``outputs`` (1.1 artifacts), the ones with a uri."""
    return [a for a in record.get(side) or () if isinstance(a, dict) and a.get("uri")]


def null_paths(value: Any, where: str = "") -> list[str]:
    """Dotted paths of the null values inside ``value`` (some serialisers drop them)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            here = f"{where}.{key}" if where else str(key)
            if sub is None:
                found.append(here)
            elif isinstance(sub, (dict, list)):
                found.extend(null_paths(sub, here))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            here = f"{where}[{index}]"
            if sub is None:
                found.append(here)
            elif isinstance(sub, (dict, list)):
                found.extend(null_paths(sub, here))
    return found
