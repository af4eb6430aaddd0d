"""The one validator: jsonschema-rs decides, the pure-Python jsonschema explains failures."""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Iterable

import attrs

from procrecord.errors import UnknownVersionError
from procrecord.record.schemas import current_version, load_schema, registry, schema_id, version_key
from procrecord.record.versions import detect_version

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@attrs.frozen
class Violation:
    """One way a record breaks its schema: where (``$.a.b[0]``), what, and which keyword failed."""

    path: str
    message: str
    keyword: str
    schema_path: str = ""

    def to_dict(self) -> dict[str, str]:
        """Plain dict for JSON reports."""
        return attrs.asdict(self)


def json_path(parts: Iterable[Any]) -> str:
    """Render path parts as ``$.a.b[0]`` (non-identifier keys as ``['a b']``)."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.match(part):
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


@functools.lru_cache(maxsize=None)
def _fast(version: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(
        load_schema(version), validate_formats=True, registry=_rs_registry(), offline=True
    )


@functools.lru_cache(maxsize=None)
def _rs_registry() -> Any:
    import jsonschema_rs

    from procrecord.record.schemas import known_versions

    return jsonschema_rs.Registry([(schema_id(v), load_schema(v)) for v in known_versions()])


@functools.lru_cache(maxsize=None)
def _slow(version: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        load_schema(version), registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def resolve_version(record: dict[str, Any], version: str | None = None) -> str:
    """Pick the schema to check ``record`` against: ``version``, ``"latest"``, or the record's own."""
    if version is None:
        return detect_version(record)
    if version == "latest":
        try:
            return detect_version(record)
        except UnknownVersionError:
            claimed = record.get("schema_version")
            newest = current_version()
            if isinstance(claimed, str) and claimed.split(".")[0] == newest.split(".")[0]:
                return newest
            raise
    load_schema(version)  # raises UnknownVersionError for a version we do not ship
    return version


def validate(record: dict[str, Any], version: str | None = None, all_errors: bool = False) -> list[Violation]:
    """Validate ``record``; return its violations (empty when valid), best match first.

    ``version`` forces a schema (``"latest"`` checks a newer minor version against the newest one
    known); by default the record's own version is used. An unknown version raises
    :class:`~procrecord.errors.UnknownVersionError`.
    """
    return validate_versioned(record, version, all_errors)[1]


def validate_versioned(record: dict[str, Any], version: str | None = None, all_errors: bool = False) -> tuple[str, list[Violation]]:
    """Like :func:`validate`, also returning the schema version the record was checked against."""
    target = resolve_version(record, version)
    claimed = record.get("schema_version")
    if (version == "latest" and isinstance(claimed, str) and claimed != target
            and _newer(claimed, target)):
        record = {**record, "schema_version": target}
    if is_valid(record, target):
        return target, []
    return target, explain(record, target, all_errors)


def is_valid(record: dict[str, Any], version: str) -> bool:
    """True when ``record`` is valid against schema ``version`` (the fast engine's yes or no only:
    :func:`explain` says why not)."""
    try:
        return bool(_fast(version).is_valid(record))
    except ValueError:  # not JSON (built in Python): a key that is not a string, a set... explain() says where
        return False


_JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def _not_json(record: Any) -> Violation | None:
    """Where ``record`` holds something JSON cannot (a non-string key, a set, an object, NaN or an
    infinity), or None."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(record, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, sub in value.items():
                if not isinstance(key, str):
                    return Violation(json_path(path), f"key {key!r} is not a string (not JSON)", "json")
                stack.append((sub, (*path, key)))
        elif isinstance(value, list):
            stack.extend((sub, (*path, i)) for i, sub in enumerate(value))
        elif not isinstance(value, _JSON_TYPES):
            return Violation(json_path(path), f"{type(value).__name__} value is not JSON", "json")
        elif isinstance(value, float) and not math.isfinite(value):
            return Violation(json_path(path), f"{value} is not a JSON number", "json")
    return None


def _newer(claimed: str, target: str) -> bool:
    try:
        return version_key(claimed) > version_key(target)
    except ValueError:
        return False


def explain(record: dict[str, Any], version: str, all_errors: bool = False) -> list[Violation]:
    """Violations of ``record`` from the pure-Python engine (best match first)."""
    from jsonschema.exceptions import best_match, relevance

    try:
        _fast(version).is_valid(record)
    except ValueError as exc:
        return [_not_json(record) or Violation("$", f"not JSON: {exc}", "json")]
    errors = list(_slow(version).iter_errors(record))
    if not errors:
        odd = _not_json(record)  # e.g. an infinity, which only the fast engine refuses
        if odd is not None:
            return [odd]
        # The engines disagree: say so rather than pretend the record is fine.
        return [Violation("$", "rejected by jsonschema-rs but accepted by jsonschema", "engine-disagreement")]
    best = best_match(errors)
    ordered = [best] + sorted((e for e in errors if e is not best), key=relevance)
    chosen = ordered if all_errors else ordered[:1]
    return [_violation(e) for e in chosen]


#: The longest finding message (a schema's long enum may make one long; a record's value never does).
MAX_MESSAGE = 300
#: Keywords whose failing value is worth showing when it is short and harmless (a mistyped status, a
#: malformed time): the other findings describe it instead.
_SHOWN_KEYWORDS = frozenset({"enum", "const", "format"})
_HARMLESS = re.compile(r"[A-Za-z0-9._:+-]{1,40}")


def _described(value: Any) -> str:
    """What a finding says of a value it does not quote: its kind and size."""
    if isinstance(value, str):
        return f"a string of {len(value)} character{'s' if len(value) != 1 else ''}" if value else "an empty string"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}" if value else "an empty list"
    return f"an object with {len(value)} key{'s' if len(value) != 1 else ''}" if value else "an empty object"


def _shown(value: str) -> bool:
    """True for a short word-like string that no scrub rule finds anything in (safe to print in a log)."""
    if _HARMLESS.fullmatch(value) is None:
        return False
    from procrecord.operations.redaction import free_text_scrubber

    return not free_text_scrubber().detect(value)


def safe_message(error: Any) -> str:
    """The engine's message of ``error`` without the record's own text: findings go to terminals and CI
    logs, so a string, list or object the message would print (a command line holding a token, written as
    one string where the schema wants a list) is described by its kind and size instead (numbers, booleans
    and null are printed; a short harmless string is printed for ``enum``, ``const`` and ``format``)."""
    message: str = error.message
    instance = error.instance
    if instance.__class__ in (str, list, dict):
        text = repr(instance)
        if text in message and not (instance.__class__ is str and error.validator in _SHOWN_KEYWORDS
                                    and _shown(instance)):
            message = message.replace(text, _described(instance))
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"


def _violation(error: Any) -> Violation:
    parts = list(error.absolute_path)
    message = safe_message(error)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if len(extra) == 1:
            parts.append(extra[0])
            message = f"unexpected key {extra[0]!r} (not in the schema)"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if len(missing) == 1:
            parts.append(missing[0])
            message = f"required key {missing[0]!r} is missing"
    schema_path = "/" + "/".join(str(p) for p in error.absolute_schema_path)
    return Violation(json_path(parts), message, str(error.validator), schema_path)
