"""The disks section: the filesystem under a path, from the kernel's own data.

Mount point and filesystem type come from /proc/self/mountinfo, sizes from statvfs, and the
storage kind from /sys (``queue/rotational`` of the underlying disk, virtio and network filesystems
recognised) — no ``df`` or ``lsblk`` subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from procrecord.collectors.interface import Collector, Skipped

NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "lustre", "gpfs", "ceph",
              "fuse.ceph", "beegfs", "glusterfs", "fuse.glusterfs", "9p", "afs", "fuse.s3fs", "fuse.gcsfuse",
              "fuse.rclone", "wekafs", "panfs"}
MEMORY_FS = {"tmpfs", "ramfs", "devtmpfs", "hugetlbfs"}
OVERLAY_FS = {"overlay", "overlayfs", "aufs", "fuse-overlayfs"}


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mount_for(path: str, mountinfo: str = "/proc/self/mountinfo") -> dict[str, str] | None:
    """``{mount_point, filesystem, device, devno}`` of the mount holding ``path`` (Linux)."""
    try:
        with open(mountinfo, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best: dict[str, str] | None = None
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        point = _unescape(fields[4])
        inside = real == point or real.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and (best is None or len(point) >= len(best["mount_point"])):
            best = {"mount_point": point, "filesystem": tail[0], "device": _unescape(tail[1]), "devno": fields[2]}
    return best


def storage_kind(filesystem: str, devno: str | None, sys_root: str = "/sys") -> str:
    """``ssd``/``hdd``/``network``/``memory``/``overlay``/``unknown`` for a mount."""
    if filesystem in NETWORK_FS or filesystem.startswith("nfs"):
        return "network"
    if filesystem in MEMORY_FS:
        return "memory"
    if filesystem in OVERLAY_FS:
        return "overlay"
    if not devno:
        return "unknown"
    block = Path(sys_root) / "dev" / "block" / devno
    try:
        device = block.resolve(strict=True)
    except OSError:
        return "unknown"
    disk = device if (device / "queue").is_dir() else device.parent
    if "virtio" in str(disk) or _driver(disk).startswith("virtio"):
        return "unknown"  # virtio disks report rotational=1 whatever backs them
    slaves = list((disk / "slaves").iterdir()) if (disk / "slaves").is_dir() else []
    if slaves:  # device-mapper / md: look at what it is built on
        kinds = {storage_kind("", _read(s / "dev"), sys_root) for s in slaves}
        return kinds.pop() if len(kinds) == 1 else "unknown"
    rotational = _read(disk / "queue" / "rotational")
    return {"0": "ssd", "1": "hdd"}.get(rotational or "", "unknown")


def _driver(disk: Path) -> str:
    try:
        return os.path.basename(os.readlink(disk / "device" / "driver"))
    except OSError:
        return ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


def disk_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One entry of the disks section for ``path`` (raises OSError when the path does not exist)."""
    text = os.fspath(path)
    absolute = os.path.abspath(text)
    stats = os.statvfs(absolute)  # raises FileNotFoundError for a missing path
    entry: dict[str, Any] = {"path": absolute, "total_bytes": stats.f_blocks * stats.f_frsize,
                             "free_bytes": stats.f_bavail * stats.f_frsize}
    mount = mount_for(absolute)
    if mount is not None:
        entry.update(mount_point=mount["mount_point"], filesystem=mount["filesystem"], device=mount["device"],
                     kind=storage_kind(mount["filesystem"], mount["devno"]))
    return entry


class DisksCollector(Collector):
    """Disks holding the paths the job asked about (``add_disk_info``)."""

    name = section = "disks"

    def __init__(self, paths: list[Any] | None = None) -> None:
        self.paths = [os.fspath(p) for p in paths or []]
        self.problems: list[str] = []

    def collect(self, state: Any) -> Any:
        if not self.paths:
            return Skipped("no disk requested (use add_disk_info)")
        entries, self.problems = [], []
        for path in self.paths:
            try:
                entries.append(disk_info(path))
            except OSError as exc:
                self.problems.append(f"{path}: {exc.strerror or exc}")
        if not entries:
            return Skipped("; ".join(self.problems))
        return entries

    update = collect
