"""Collectors: small callables that fill the sections of a record (see ``interface``).

Third-party collectors register under the ``procrecord.collectors`` entry-point group; each entry
point names a Collector class (or factory) and its output lands under ``extensions.<name>``.
"""

from __future__ import annotations

from typing import Any, Callable

from procrecord.collectors.interface import Collector, Skipped

ENTRY_POINT_GROUP = "procrecord.collectors"
#: Collectors run by default, cheapest first. disks/devices/emissions are opt-in.
DEFAULT = ("invocation", "host", "python", "git", "resources", "distributed")

__all__ = ["Collector", "Skipped", "DEFAULT", "ENTRY_POINT_GROUP", "builtin", "plugins"]


#: Built-in collectors by name: (module, class), imported only when a recorder asks for one.
_BUILTIN = {
    "invocation": ("procrecord.collectors.invocation", "InvocationCollector"),
    "host": ("procrecord.collectors.host", "HostCollector"),
    "python": ("procrecord.collectors.python_env", "PythonCollector"),
    "git": ("procrecord.collectors.git", "GitCollector"),
    "resources": ("procrecord.collectors.resources", "ResourcesCollector"),
    "disks": ("procrecord.collectors.disks", "DisksCollector"),
    "devices": ("procrecord.collectors.devices", "DevicesCollector"),
    "distributed": ("procrecord.collectors.distributed", "DistributedCollector"),
    "emissions": ("procrecord.collectors.emissions", "EmissionsCollector"),
}


def builtin(name: str, **options: Any) -> Collector:
    """A built-in collector by name, with its options."""
    import importlib

    try:
        module, attr = _BUILTIN[name]
    except KeyError:
        raise ValueError(f"unknown collector {name!r}") from None
    factory: Callable[..., Collector] = getattr(importlib.import_module(module), attr)
    return factory(**options)


def plugins(paths: list[str] | None = None) -> list[tuple[str, Any]]:
    """``(name, loader)`` for every collector registered by another package.

    Reads only the ``entry_points.txt`` files that name our group, found by listing ``sys.path``:
    a recorder's start stays in the millisecond range, where ``importlib.metadata.entry_points(group=...)``
    costs tens of milliseconds (import and full scan; ``benchmarks/bench_writer.py`` measures both ways).
    The first distribution on the path wins, as for imports. ``test_plugins_agree_with_importlib_metadata``
    compares this with the library.
    """
    import os

    from procrecord.collectors.distributions import metadata_dirs

    found: dict[str, Any] = {}
    header = f"[{ENTRY_POINT_GROUP}]"
    marker = header.encode()
    for entry, name in metadata_dirs(paths):
        if not name.endswith(".dist-info"):
            continue
        try:
            with open(os.path.join(entry or ".", name, "entry_points.txt"), "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if marker in raw:
            for ep_name, target in _section(raw.decode("utf-8", "replace"), header):
                found.setdefault(ep_name, _loader(target))
    return sorted(found.items())


def _section(text: str, header: str) -> list[tuple[str, str]]:
    entries, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line == header
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, _, target = line.partition("=")
            entries.append((name.strip(), target.strip()))
    return entries


def _loader(target: str) -> Any:
    def load() -> Any:
        import importlib

        module, _, attr = target.partition(":")
        value = importlib.import_module(module.strip())
        for part in attr.split("[")[0].strip().split(".") if attr else []:
            value = getattr(value, part)
        return value

    return load
