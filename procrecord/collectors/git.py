"""The git section, read from ``.git`` directly (loose refs, packed refs, worktrees, detached HEAD).

Only the dirty flag needs git itself; it runs in a background thread from ``start()`` so it never
delays the job, and is read at flush/stop. No repository is not an error: the section is skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

from procrecord.collectors.interface import Collector, Skipped
from procrecord.writer.threads import start_quiet

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def find_git_dir(start: str | os.PathLike[str]) -> tuple[Path, Path] | None:
    """``(worktree_root, git_dir)`` for the repository holding ``start``, or None."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return folder, dotgit
        if dotgit.is_file():
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                gitdir = Path(text.split(":", 1)[1].strip())
                return folder, (folder / gitdir).resolve() if not gitdir.is_absolute() else gitdir
    return None


def common_dir(git_dir: Path) -> Path:
    """The folder holding refs and config (differs from ``git_dir`` in linked worktrees)."""
    commondir = git_dir / "commondir"
    if commondir.is_file():
        target = Path(commondir.read_text(encoding="utf-8").strip())
        return (git_dir / target).resolve() if not target.is_absolute() else target
    return git_dir


def resolve_ref(git_dir: Path, ref: str) -> str | None:
    """The commit a ref names, from a loose ref file or packed-refs."""
    for base in (git_dir, common_dir(git_dir)):
        loose = base / ref
        if loose.is_file():
            value = loose.read_text(encoding="utf-8").strip()
            if value.startswith("ref:"):
                return resolve_ref(git_dir, value[4:].strip())
            return value if _SHA.match(value) else None
    packed = common_dir(git_dir) / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith(("#", "^")):
                sha, _, name = line.partition(" ")
                if name.strip() == ref and _SHA.match(sha):
                    return sha
    return None


def head(git_dir: Path) -> tuple[str | None, str | None]:
    """``(commit, branch)`` of HEAD; branch is None when HEAD is detached."""
    text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    if text.startswith("ref:"):
        ref = text[4:].strip()
        branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        return resolve_ref(git_dir, ref), branch
    return (text if _SHA.match(text) else None), None


def remote_url(git_dir: Path, remote: str = "origin") -> str | None:
    """The URL of ``remote`` from the repository config, with credentials removed."""
    config = common_dir(git_dir) / "config"
    if not config.is_file():
        return None
    section = None
    for raw in config.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == f'[remote "{remote}"]' and re.match(r"url\s*=", line):
            return strip_credentials(line.split("=", 1)[1].strip())
    return None


def strip_credentials(url: str) -> str:
    """Remove ``user:password@`` (or a token used as user) from a URL; keep scp-style ``git@host:``."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", url)


def is_dirty(root: Path, timeout: float = 10.0) -> bool | None:
    """True when tracked files have uncommitted changes; None when git cannot tell."""
    try:
        proc = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(proc.stdout.strip()) if proc.returncode == 0 else None


class GitCollector(Collector):
    """The checkout the job runs from (the repository holding the working directory)."""

    name = section = "git"

    def __init__(self, path: str | None = None, dirty: bool = True) -> None:
        self.path = path
        self.dirty = dirty
        self._thread: threading.Thread | None = None
        self._dirty: bool | None = None
        self._section: dict[str, Any] | None = None

    def collect(self, state: Any) -> Any:
        found = find_git_dir(self.path or os.getcwd())
        if found is None:
            return Skipped("not in a git repository")
        root, git_dir = found
        commit, branch = head(git_dir)
        section = {"commit": commit, "branch": branch, "remote_url": remote_url(git_dir), "root": str(root)}
        self._section = {k: v for k, v in section.items() if v is not None}
        if self.dirty:
            self._thread = threading.Thread(target=self._check, args=(root,), name="procrecord-git", daemon=True)
            start_quiet(self._thread)  # a signal for the job goes to its main thread
        return dict(self._section)

    def _check(self, root: Path) -> None:
        self._dirty = is_dirty(root)

    def update(self, state: Any) -> Any:
        if self._section is None or self._thread is None:
            return None
        self._thread.join(timeout=None if state.stopping else 0)
        if self._thread.is_alive() or self._dirty is None:
            return None
        return {**self._section, "dirty": self._dirty}
