"""procrecord: a versioned, schema-first record of what ran and how.

The package imports nothing heavy at start: validators, collectors and the record model load on
first use. Public names are resolved lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from procrecord._version import __version__

if TYPE_CHECKING:  # the annotation only: `procrecord.Any` must not exist at runtime
    from typing import Any

_LAZY = {
    "validate": ("procrecord.record.validation", "validate"),
    "Violation": ("procrecord.record.validation", "Violation"),
    "load": ("procrecord.bulk.loader", "load"),
    "read": ("procrecord.record.reader", "read"),
    "iter_read": ("procrecord.record.reader", "iter_read"),
    "redact": ("procrecord.operations.redaction", "redact"),
    "upgrade": ("procrecord.operations.migration", "upgrade"),
    "downgrade": ("procrecord.operations.migration", "downgrade"),
    "diff": ("procrecord.operations.comparison", "diff"),
    "Recorder": ("procrecord.writer.recorder", "Recorder"),
    "watch_signals": ("procrecord.writer.recorder", "watch_signals"),
    "ProcrecordError": ("procrecord.errors", "ProcrecordError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'procrecord' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


# Only the public names are the package's: the helpers above are not (`procrecord.Any` must not work).
del TYPE_CHECKING, annotations
