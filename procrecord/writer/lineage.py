"""Lineage: a recorded job tells the jobs it starts who their parent is, through the environment.

While a job is recorded, ``PROCRECORD_PARENT=<root-id>/<parent-id>`` (in the spirit of W3C
``traceparent``) and ``PROCRECORD_PARENT_NAME`` are set in its environment, so any ``Recorder`` or
``procrecord run`` started below it — through ``subprocess``, shell scripts or ``procrecord run``
inside ``procrecord run`` — links to it. ``stop()`` restores the previous values. A job with no
recorded parent is the root of its own tree (``root.id`` is its own id).
"""

from __future__ import annotations

import os
import re
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
    """Sets the lineage variables in ``os.environ`` for the duration of a job and restores them after."""

    def __init__(self, own_id: str, root_id: str, name: str | None) -> None:
        self._previous = {key: os.environ.get(key) for key in (PARENT_ENV, PARENT_NAME_ENV)}
        wanted = child_environ(own_id, root_id, name, environ={})
        self._ours = {key: wanted.get(key) for key in (PARENT_ENV, PARENT_NAME_ENV)}
        for key, value in self._ours.items():
            _set(key, value)

    def restore(self) -> None:
        """Put the previous values back (only where nobody changed ours in between)."""
        for key, value in self._previous.items():
            if os.environ.get(key) == self._ours[key]:
                _set(key, value)


def _set(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
