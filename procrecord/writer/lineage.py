"""Lineage: a recorded job tells the jobs it starts who their parent is, through the environment.

While a job is recorded, ``PROCRECORD_PARENT=<root-id>/<parent-id>`` (in the spirit of W3C
``traceparent``) and ``PROCRECORD_PARENT_NAME`` are set in its environment, so any ``Recorder`` or
``procrecord run`` started below it — through ``subprocess``, shell scripts or ``procrecord run``
inside ``procrecord run`` — links to it. ``stop()`` restores the previous values, whatever order
the jobs of one process stop in. A job with no
recorded parent is the root of its own tree (``root.id`` is its own id).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, MutableMapping

PARENT_ENV = "PROCRECORD_PARENT"
PARENT_NAME_ENV = "PROCRECORD_PARENT_NAME"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse(value: str | None) -> tuple[str, str] | None:
    """``(root id, parent id)`` from a ``PROCRECORD_PARENT`` value; None when absent or malformed."""
    if not value:
        return None
    root, sep, parent = value.strip().lower().partition("/")
    if not sep or not _UUID.match(root) or not _UUID.match(parent):
        return None
    return root, parent


def sections(own_id: str, environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """The ``parent`` and ``root`` sections of a job with id ``own_id`` started in ``environ``."""
    env = os.environ if environ is None else environ
    found = parse(env.get(PARENT_ENV))
    if found is None:
        return {"root": {"id": own_id}}
    root, parent = found
    return {"parent": {"id": parent, "name": env.get(PARENT_NAME_ENV) or None}, "root": {"id": root}}


def value_for_children(own_id: str, root_id: str) -> str:
    """What ``PROCRECORD_PARENT`` says to the children of job ``own_id`` in tree ``root_id``."""
    return f"{root_id}/{own_id}"


def child_environ(own_id: str, root_id: str, name: str | None,
                  environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``environ`` (default: ours) that makes a child process a child of job ``own_id``."""
    env = dict(os.environ if environ is None else environ)
    env[PARENT_ENV] = value_for_children(own_id, root_id)
    if name:
        env[PARENT_NAME_ENV] = name
    else:
        env.pop(PARENT_NAME_ENV, None)
    return env


class Export:
    """Sets the lineage variables in ``os.environ`` for the duration of a job and restores them after.

    The exports of a process's running jobs form a stack, the environment holding the newest one's
    values. Jobs may end in any order: one that ends under a newer one hands its previous values
    to that one (as removing a node from a linked list), so the newest job still running, or no
    job, is what the environment names when the others have ended.
    """

    def __init__(self, own_id: str, root_id: str, name: str | None) -> None:
        wanted = child_environ(own_id, root_id, name, environ={})
        self._ours = {key: wanted.get(key) for key in (PARENT_ENV, PARENT_NAME_ENV)}
        with _LOCK:
            self._previous = {key: os.environ.get(key) for key in (PARENT_ENV, PARENT_NAME_ENV)}
            for key, value in self._ours.items():
                _set(key, value)
            _ACTIVE.append(self)

    def restore(self) -> None:
        """Put the previous values back (only where nobody changed ours in between); when a newer
        job is still running, leave its values and give it ours to restore."""
        with _LOCK:
            index = next((i for i, export in enumerate(_ACTIVE) if export is self), None)
            if index is not None:
                del _ACTIVE[index]
                if index < len(_ACTIVE):
                    newer = _ACTIVE[index]
                    for key, value in self._previous.items():
                        if newer._previous[key] == self._ours[key]:
                            newer._previous[key] = value
                    return
            for key, value in self._previous.items():
                if os.environ.get(key) == self._ours[key]:
                    _set(key, value)


#: The exports of the jobs running in this process, oldest first.
_ACTIVE: list[Export] = []
_LOCK = threading.Lock()


def _forget_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()  # a thread of the parent may have held it at the fork
    _ACTIVE.clear()  # a forked child's jobs are its own; its parent's exports never end in it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _set(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
