"""Records as a Dask bag, for notebooks: ``procrecord.dask.read(urls)`` and per-record operations.

Each partition is a batch of whole files or objects in input order (up to 256 files or 4 MiB), read by
the worker that computes it (record bytes never pass through the client). The operations take and return record dicts, so they work with ``bag.map``::

    import procrecord.dask as prd
    records = prd.read("s3://lab/runs/**/*.jsonl", storage_options={"anon": False})
    redacted = records.map(prd.redact, level="most")
    redacted.map(prd.summary).take(5)

A document that cannot be read (invalid JSON, a key written twice, too large) or is no record of a known
version (a stray ``config.json``, a kwcoco file, ``"schema_version": "9.9"``) is the marker record
``{"procrecord_error": message, "source": ..., "line": ...}``: every operation here takes it through
(``upgrade`` and ``redact`` return it unchanged, ``validate`` and ``summary`` report its error), and
``upgrade`` and ``redact`` make a marker of a record they cannot convert (one that breaks its schema:
never a "redacted" record that was not redacted), so one bad file never stops a bag.
"""

from __future__ import annotations

from typing import Any

from procrecord.bulk.limits import DEFAULT_MAX_BYTES

#: A partition holds up to this many files or bytes: a bag is often computed with many other tasks,
#: so partitions stay small (the CLI's tasks are larger and shrink at the end of its run).
PARTITION_FILES = 256
PARTITION_BYTES = 4 << 20
#: The key of the marker record that stands for a document that could not be read.
ERROR_KEY = "procrecord_error"
_MARKER_KEYS = frozenset((ERROR_KEY, "source", "line"))


def _partition(tasks: list[Any], storage_options: dict[str, Any]) -> list[dict[str, Any]]:
    from procrecord.bulk import storage
    from procrecord.bulk.loader import Loaded, LoadError, iter_task

    storage.set_options(storage_options)
    from procrecord.errors import ProcrecordError
    from procrecord.record.validation import resolve_version

    records = []
    # unique: a key written twice is an error, as ``procrecord validate`` says (the parser keeps one value).
    for item in (item for task in tasks for item in iter_task(task, exact=True, unique=True)):
        if isinstance(item, Loaded):
            try:
                resolve_version(item.record)  # no record of a known version: a marker, with where it was
            except ProcrecordError as exc:
                records.append({ERROR_KEY: str(exc), "source": item.source, "line": item.line})
                continue
            records.append(item.record)
        elif isinstance(item, LoadError):
            # A bag holds records: a document that cannot be read stays visible as a marker record.
            records.append({ERROR_KEY: item.message, "source": item.source, "line": item.line})
    return records


def is_error(record: dict[str, Any]) -> bool:
    """True when ``record`` is the marker of a document that could not be read (see :func:`read`)."""
    return isinstance(record.get(ERROR_KEY), str) and record.keys() <= _MARKER_KEYS


def _error_line(record: dict[str, Any]) -> str:
    from procrecord.bulk.loader import where

    return f"{where(str(record.get('source')), record.get('line'))}: error: {record[ERROR_KEY]}"


def read(urls: str | list[str], storage_options: dict[str, Any] | None = None,
         max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """A Dask bag of the records in ``urls`` (paths, folders, globs or fsspec URLs), a partition per batch of files;
    a document that cannot be read becomes ``{"procrecord_error": message, "source": ..., "line": ...}``.
    A storage option the URLs' storage does not take, or whose value it cannot use, raises
    :class:`~procrecord.errors.StorageOptionError` naming it (as ``--storage-option`` is a usage error)."""
    import dask.bag as db
    from dask import delayed

    from procrecord.bulk import storage
    from procrecord.bulk.executors import batches
    from procrecord.bulk.loader import plan
    from procrecord.errors import StorageOptionError

    sources = [urls] if isinstance(urls, str) else list(urls)
    previous = storage.options()
    storage.set_options(storage_options or {})
    try:
        try:  # a name the storage does not take, or a value it cannot use, is said as the CLI says it
            storage.check_options([source for source in sources if storage.is_url(source)])
        except StorageOptionError as exc:
            raise StorageOptionError(str(exc).replace("--storage-option ", "storage_options: ", 1)) from None
        groups = list(batches(plan(sources, max_bytes, chunk_bytes=1 << 62, read_ahead=False), PARTITION_FILES,
                              PARTITION_BYTES))
    finally:
        storage.set_options(previous)
    parts = [delayed(_partition)(group, storage_options or {}) for group in groups]
    return db.from_delayed(parts) if parts else db.from_sequence([])


def _marker(record: dict[str, Any], message: str) -> dict[str, Any]:
    """The marker of a record an operation could not convert, named by its id (a bag's record has no path)."""
    rid = record.get("id")
    return {ERROR_KEY: message, "source": f"record {rid}" if isinstance(rid, str) else "record", "line": None}


def upgrade(record: dict[str, Any], to: str | None = None) -> dict[str, Any]:
    """``record`` upgraded to ``to`` (default: the newest version); a marker record is returned unchanged, and
    a record that breaks its schema or cannot be upgraded becomes a marker saying why (as the CLI refuses it)."""
    if is_error(record):
        return record
    from procrecord.errors import ProcrecordError
    from procrecord.operations.migration import upgrade as _upgrade
    from procrecord.record.schemas import current_version
    from procrecord.record.validation import validate_versioned

    try:
        version, violations = validate_versioned(record)
        if violations:
            first = violations[0]
            return _marker(record, f"input does not validate against schema {version}: {first.path}: {first.message}")
        return _upgrade(record, to or current_version(), checked=True)
    except ProcrecordError as exc:
        return _marker(record, str(exc))


def redact(record: dict[str, Any], level: str = "most", key: bytes | None = None,
           pseudonymize: bool = False) -> dict[str, Any]:
    """``record`` upgraded to the newest version and redacted at ``level``.

    A record that breaks its schema is not redacted: it becomes a marker saying why (the schema decides what
    a level hides, so a field it does not know could not be judged). A marker record keeps its form, its
    message and source scrubbed as free text is (a path names a home folder, a message may quote a key):
    what a redacted bag holds is redacted, markers included.

    Pseudonyms (``level="most"`` only): ``pseudonymize=True`` takes the key from the worker's own
    ``PROCRECORD_REDACT_KEY`` (it never travels in the task graph); ``key=`` (at least 32 bytes) is pickled
    into every task that uses it.
    """
    from procrecord.operations.redaction import known_level

    known_level(level)
    key = _pseudonym_key(level, key, pseudonymize)
    if is_error(record):
        return _redact_marker(record, level)
    from procrecord.operations.redaction import redact as _redact

    current = upgrade(record)
    if is_error(current):
        return _redact_marker(current, level)
    return _redact(current, level, key)


def _pseudonym_key(level: str, key: bytes | None, pseudonymize: bool) -> bytes | None:
    """The key of :func:`redact`, checked as ``procrecord redact`` checks ``--pseudonymize`` and ``--key-file``."""
    from procrecord.errors import RedactionKeyError
    from procrecord.operations.redaction import KEY_ENV, MIN_KEY_BYTES, load_key

    if key is not None and pseudonymize:
        raise ValueError("give key= or pseudonymize=True (the key from the worker's environment), not both")
    if (key is not None or pseudonymize) and level != "most":
        raise ValueError(f"pseudonyms are made at level 'most' only (level {level!r} keeps none)")
    if pseudonymize:
        found = load_key()
        if found is None:
            raise RedactionKeyError(f"pseudonymize=True needs {KEY_ENV} in the environment of every worker")
        return found
    if key is not None:
        if not isinstance(key, bytes):
            raise TypeError(f"key must be bytes, not {type(key).__name__}")
        if len(key) < MIN_KEY_BYTES:
            raise RedactionKeyError(f"pseudonym key is {len(key)} bytes; at least {MIN_KEY_BYTES} are required")
    return key


def _redact_marker(record: dict[str, Any], level: str) -> dict[str, Any]:
    from procrecord.operations.redaction import free_text_scrubber, known_level

    known_level(level)
    if level == "none":
        return record
    scrub = free_text_scrubber().scrub
    return {key: scrub(value)[0] if isinstance(value, str) else value for key, value in record.items()}


def validate(record: dict[str, Any]) -> list[str]:
    """The schema violations of ``record`` (its own version), as ``path: message`` lines; empty when valid.

    A marker record gives its one error, ``source[:line]: error: message``.
    """
    if is_error(record):
        return [_error_line(record)]
    from procrecord.errors import ProcrecordError
    from procrecord.record.validation import validate_versioned

    try:
        _, violations = validate_versioned(record)
    except ProcrecordError as exc:  # no record of a known version (a dict not read by read())
        return [f"error: {exc}"]
    return [f"{v.path}: {v.message}" for v in violations]


def summary(record: dict[str, Any]) -> str:
    """The one-line summary ``procrecord show`` prints for ``record`` (a marker: ``source[:line]: error: message``)."""
    if is_error(record):
        return _error_line(record)
    from procrecord.bulk.loader import Loaded
    from procrecord.operations.summary import ShowRecord

    return ShowRecord()(Loaded("-", None, record, False)).message or ""
