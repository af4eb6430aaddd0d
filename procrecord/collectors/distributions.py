"""Where installed distributions are: the ``*.dist-info`` / ``*.egg-info`` folders on ``sys.path``.

Listing site-packages is the costly part of the package scan and of plugin discovery; both share
one listing, remembered until a folder on the path changes (its modification time moves whenever a
distribution is installed or removed).
"""

from __future__ import annotations

import os
import sys

_CACHE: dict[tuple[str, ...], tuple[tuple[float, ...], list[tuple[str, str]]]] = {}


def _mtimes(paths: tuple[str, ...]) -> tuple[float, ...]:
    stamps = []
    for entry in paths:
        try:
            stamps.append(os.stat(entry or ".").st_mtime)
        except OSError:
            stamps.append(-1.0)
    return tuple(stamps)


def metadata_dirs(paths: list[str] | None = None) -> list[tuple[str, str]]:
    """``(path entry, folder name)`` of every ``*.dist-info``/``*.egg-info`` folder, in path order."""
    key = tuple(paths if paths is not None else sys.path)
    stamps = _mtimes(key)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamps:
        return cached[1]
    found: list[tuple[str, str]] = []
    for entry in key:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        found.extend((entry, name) for name in names if name.endswith((".dist-info", ".egg-info")))
    if len(_CACHE) > 32:
        _CACHE.clear()
    _CACHE[key] = (stamps, found)
    return found
