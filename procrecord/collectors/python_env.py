"""The python section: interpreter and installed distributions.

The default scan reads only folder names (``name-version.dist-info``) in ``sys.path``: no file is
opened, so 300 packages take about a millisecond. ``full=True`` reads each distribution's
metadata through importlib.metadata (installer, editable installs) and costs more.
"""

from __future__ import annotations

import platform
import re
import sys
from typing import Any

from procrecord.collectors.interface import Collector

_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)(?:-py\d[\d.]*)?(?:-[^-]+)?\.(?:dist-info|egg-info)$", re.I)


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def scan_packages(paths: list[str] | None = None) -> list[dict[str, str]]:
    """Installed distributions (name, version) from folder names alone, first on the path wins."""
    from procrecord.collectors.distributions import metadata_dirs

    seen: dict[str, str] = {}
    for _, name in metadata_dirs(paths):
        match = _DIST_INFO.match(name)
        if match is not None:
            seen.setdefault(canonical_name(match["name"]), match["version"])
    return [{"name": n, "version": v} for n, v in sorted(seen.items())]


def full_packages() -> list[dict[str, Any]]:
    """Installed distributions with installer and editable flag, from their metadata."""
    import importlib.metadata as md
    import json

    seen: dict[str, dict[str, Any]] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]  # None when missing
        if not name or canonical_name(name) in seen:
            continue
        entry: dict[str, Any] = {"name": canonical_name(name), "version": dist.version or ""}
        installer = (dist.read_text("INSTALLER") or "").strip()
        if installer:
            entry["installer"] = installer
        direct = dist.read_text("direct_url.json")
        if direct:
            try:
                entry["editable"] = bool(json.loads(direct).get("dir_info", {}).get("editable", False))
            except ValueError:
                pass
        seen[entry["name"]] = entry
    return [seen[k] for k in sorted(seen)]


class PythonCollector(Collector):
    """The interpreter and its packages."""

    name = section = "python"

    def __init__(self, packages: str = "scan") -> None:
        if packages not in ("scan", "full", "none"):
            raise ValueError("packages must be 'scan', 'full' or 'none'")
        self.packages = packages

    def collect(self, state: Any) -> dict[str, Any]:
        section: dict[str, Any] = {"implementation": platform.python_implementation(),
                                   "version": platform.python_version()}
        if sys.executable:
            section["executable"] = sys.executable
        if self.packages == "scan":
            section["packages"] = scan_packages()
        elif self.packages == "full":
            section["packages"] = full_packages()
        return section
