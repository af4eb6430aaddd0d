"""What several targets share: where a record's artifacts live, and its lineage ids."""

from __future__ import annotations

import os
import uuid
from typing import Any
from urllib.parse import urlsplit

#: Namespace for ids derived from records whose id is not a UUID (records are uuids; legacy ones may not be).
_NAMESPACE = uuid.UUID("6f1c2b4e-7f0a-4c52-9a53-3f0d8e3c5a11")


def as_uuid(value: Any) -> tuple[uuid.UUID, bool]:
    """``value`` as a UUID, or one derived from it (the flag says whether it had to be derived; a missing
    or non-text id is derived from its ``str``)."""
    try:
        return uuid.UUID(value), False
    except (ValueError, TypeError, AttributeError):
        return uuid.uuid5(_NAMESPACE, str(value)), True


def without_userinfo(uri: str) -> str:
    """``uri`` without the user part of its authority (``s3://KEY:SECRET@bucket/x`` or, redacted,
    ``s3://<redacted:credentials>@bucket/x`` -> ``s3://bucket/x``): what identifies a dataset or repository is
    where it is, not who read it, so lineage of redacted and unredacted records joins. Other text as it is."""
    parts = urlsplit(uri)
    if not parts.scheme or "@" not in parts.netloc:
        return uri
    return uri.replace(f"//{parts.netloc}", "//" + parts.netloc.rpartition("@")[2], 1)


def split_uri(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of an artifact: ``s3://bucket`` and ``key``, or ``file`` and the path (never the
    user part of the authority: see :func:`without_userinfo`)."""
    parts = urlsplit(uri)
    if parts.scheme and len(parts.scheme) > 1 and parts.scheme != "file":  # "C:\\x" is a path, not a scheme
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", parts.path.lstrip("/") or "/"
    path = parts.path if parts.scheme == "file" else uri
    return "file", path


def file_uri(uri: str) -> str:
    """An absolute URI for an artifact (plain paths become ``file://`` URIs)."""
    parts = urlsplit(uri)
    if parts.scheme and len(parts.scheme) > 1:
        return uri
    from pathlib import Path

    return Path(os.path.abspath(uri)).as_uri()


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
