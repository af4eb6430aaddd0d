"""Records embedded in result files (kwcoco ``info``, ``meta.info``, named pointers, ``.kwcoco.zip``).

Only the record items are parsed and only changed items are rewritten: each is spliced back at its
byte span in the layout it had (compact or indented, same indent), so every other byte of the host
file is kept, including values strict JSON has no place for (``NaN``, ``Infinity``). A zip
archive is rewritten with each member's compression method; members other than the JSON ones
are copied unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import orjson

from procrecord.bulk.engine import Outcome
from procrecord.bulk.jsonspans import DuplicateKeyError, SpanError, elements, encode, layout_of, resolve, splice
from procrecord.bulk.limits import DEFAULT_MAX_BYTES
from procrecord.bulk.loader import Loaded, loose, parse
from procrecord.bulk.status import Status, severity
from procrecord.pointer import tokens

if TYPE_CHECKING:
    import zipfile

#: Where records are looked for unless the user names more places: kwcoco and geowatch's
#: ``info`` list, and the ``meta.info`` list of geowatch's pixel evaluation (pxl_eval.json).
DEFAULT_POINTERS = ("/info", "/meta/info")
ZIP_MAGIC = b"PK\x03\x04"


class Found(NamedTuple):
    """A record item of a host document: where it is, what path reports name it, its value."""

    start: int
    end: int
    path: str
    value: dict[str, Any] | None
    problem: str | None = None
    #: False for a finding about a place named with --embedded-pointer that holds no record (or nothing).
    record: bool = True
    #: An item of an ``info`` list (kwcoco, geowatch), where readers dispatch on each item's ``type``.
    in_info: bool = False


def _report_path(pointer_tokens: list[str], index: int | None) -> str:
    from procrecord.record.validation import json_path

    return json_path([*pointer_tokens, *([] if index is None else [index])])


def _item(data: bytes, start: int, end: int, path: str, named: str | None = None) -> Found | None:
    """The record at ``data[start:end]``, a problem with one, or None when it is no record.

    A record is what claims to be one by any of its marks, valid or not (see
    :func:`~procrecord.record.versions.claims_record`): a malformed one is checked and reported,
    never skipped. ``named``: the ``--embedded-pointer`` that named this place; what it names must
    be a record, so anything else is a problem (a kwcoco ``info`` list mixes kinds of items: those
    of other types are skipped).
    """
    from procrecord.bulk.jsoncodec import ExactnessError, loads_exact
    from procrecord.record.versions import claims_record

    def no_record(kind: str) -> Found | None:
        if named is None:
            return None
        return Found(start, end, path, None, f"{kind}, not a process record (named by --embedded-pointer {named})",
                     record=False)

    if data[start:start + 1] != b"{":
        return no_record(_kind(data[start:start + 1]))
    text = data[start:end]
    try:
        value = loads_exact(text)
    except orjson.JSONDecodeError:
        value = loose(text)  # NaN and Infinity are fine in the host, not in a record
        if value is None:
            return no_record("an object that is not valid JSON")
        if claims_record(value):
            return Found(start, end, path, None, "record is not strict JSON (NaN or Infinity in it): left unchanged")
        return no_record("an object")
    except ExactnessError as exc:
        return Found(start, end, path, None, f"invalid for this tool: {exc}")
    if not claims_record(value):
        return no_record("an object")
    from procrecord.bulk.dupkeys import duplicate_keys

    repeated = duplicate_keys(text, value)
    if repeated:
        # As for a record file (see loader.parse): the gate would see only one of the values.
        from procrecord.record.validation import json_path

        where, key = repeated[0]
        return Found(start, end, path, None, f"duplicate key {key!r} in the object at {path}{json_path(where)[1:]} "
                                             "(a reader keeps only one of its values)")
    return Found(start, end, path, value)


def _kind(first: bytes) -> str:
    """What a JSON value is, from its first byte."""
    return {b"[": "a list", b'"': "a string", b"t": "a boolean", b"f": "a boolean", b"n": "null"}.get(first, "a number")


def find_records(data: bytes, pointers: tuple[str, ...], named: tuple[str, ...] = ()) -> tuple[list[Found], bool]:
    """The record items at ``pointers`` (each a record or a list of them), and whether any of
    those places exists in the document.

    ``named``: the pointers the user named (``--embedded-pointer``). What they name must be there
    and be records: a place that is missing (``start`` -1) or holds something else is a
    :class:`Found` with ``record`` False and a problem, never skipped in silence.
    """
    found: list[Found] = []
    located = False
    taken: set[int] = set()
    for pointer in pointers:
        parts = tokens(pointer)
        strict = pointer if pointer in named else None
        span = resolve(data, parts)
        if span is None:
            if strict is not None:
                found.append(Found(-1, -1, "$", None, f"--embedded-pointer {pointer} names nothing in this file",
                                   record=False))
            continue
        start, end = span
        if data[start:start + 1] == b"[":
            located = True
            in_info = bool(parts) and parts[-1] == "info"
            for index, (a, b) in enumerate(elements(data, start)):
                item = _item(data, a, b, _report_path(parts, index), strict)
                if item is not None and a not in taken:
                    taken.add(a)
                    found.append(item._replace(in_info=in_info))
        elif data[start:start + 1] == b"{" or strict is not None:
            located = True
            item = _item(data, start, end, _report_path(parts, None), strict)
            if item is not None and start not in taken:
                taken.add(start)
                found.append(item)
    return found, located


@attrs.frozen
class Embedded:
    """Apply ``inner`` to the process records found in a result file (see the module docstring).

    A document that is itself a record is handled as usual. Otherwise each record item is
    processed, the rest of the document is kept byte for byte, and the outcomes are merged into
    one for the document (violation paths start at the item, e.g. ``$.info[1]``).
    """

    inner: Any
    pointers: tuple[str, ...] = DEFAULT_POINTERS
    max_bytes: int = DEFAULT_MAX_BYTES
    #: The pointers the user named: what they name must be records (see :func:`find_records`).
    named: tuple[str, ...] = ()
    #: Read documents as bytes: only the record items are parsed (see bulk.Operation).
    raw_documents = True

    @property
    def exact_integers(self) -> bool:
        return getattr(self.inner, "exact_integers", False)

    def __call__(self, item: Loaded) -> Outcome:
        data = item.raw if item.raw is not None else orjson.dumps(item.record)
        if item.line is None and data.startswith(ZIP_MAGIC):
            return self._archive(item, data)
        outcome, _ = self._document(item, data)
        return outcome

    def _document(self, item: Loaded, data: bytes) -> tuple[Outcome, bool]:
        """The outcome for one JSON document, and whether its output differs from ``data``."""
        try:
            found, located = find_records(data, self.pointers, self.named)
        except DuplicateKeyError as exc:  # the gate would see one value and the file keep the other
            return Outcome(item.source, item.line, Status.ERROR, message=str(exc), jsonl=item.jsonl), False
        except SpanError as exc:
            return Outcome(item.source, item.line, Status.ERROR, message=f"invalid JSON: {exc}", jsonl=item.jsonl), False
        if not located:  # no host places: the document is a record itself (or not one: inner says so)
            from procrecord.record.versions import claims_record

            loaded = parse(data, item.source, item.line, item.jsonl, exact=self.exact_integers,
                           unique=getattr(self.inner, "unique_keys", False))
            if found and not (isinstance(loaded, Loaded) and claims_record(loaded.record)):
                # not a record itself: what is wrong is the pointer the user named
                return Outcome(item.source, item.line, Status.ERROR, message="; ".join(str(f.problem) for f in found),
                               jsonl=item.jsonl), False
            if not isinstance(loaded, Loaded):
                message = loaded.message
                value = loose(data) if b"NaN" in data or b"Infinity" in data else None
                if isinstance(value, dict) and not claims_record(value):
                    # a host file, strict JSON but for NaN/Infinity, holding nothing where records are looked for
                    message = (f"no process records at {', '.join(self.pointers)} (name where they are with "
                               f"--embedded-pointer), and the file is no record itself: {message}")
                return Outcome(item.source, item.line, Status.ERROR, message=message, jsonl=item.jsonl), False
            outcome = self.inner(loaded)
            return outcome, outcome.output is not None and bool((outcome.info or {}).get("changed", 1))
        if not found:
            return Outcome(item.source, item.line, Status.NO_RECORDS, None, output=data,
                           message="no process records at " + ", ".join(self.pointers), jsonl=item.jsonl,
                           info={"changed": 0}), False
        return self._merge(item, data, found)

    def _merge(self, item: Loaded, data: bytes, found: list[Found]) -> tuple[Outcome, bool]:
        from procrecord.bulk.jsoncodec import loads_exact
        from procrecord.kwcoco import with_item_type

        outcomes = []
        written: dict[int, dict[str, Any]] = {}  # the new value of each changed item, by its start
        for entry in found:
            if entry.value is None:
                outcomes.append((entry, Outcome(item.source, item.line, Status.ERROR, message=entry.problem, jsonl=item.jsonl)))
                continue
            outcome = self.inner(Loaded(item.source, item.line, entry.value, item.jsonl))
            if outcome.output is not None and (outcome.info or {}).get("changed", 1):
                # an item written from now on follows the kwcoco item convention where its version has it
                written[entry.start] = with_item_type(loads_exact(outcome.output))
            if entry.in_info:
                outcome = self._in_info(entry.value, written.get(entry.start), outcome)
            outcomes.append((entry, outcome))
        worst = max((o for _, o in outcomes), key=lambda o: severity(o.status))
        violations = tuple(attrs.evolve(v, path=entry.path + v.path[1:]) for entry, o in outcomes for v in o.violations)
        messages = [f"{entry.path[2:]}: {o.message}" if entry.path != "$" else str(o.message)
                    for entry, o in outcomes if o.message]
        totals: dict[str, int] = {}
        for _, o in outcomes:
            for name, value in (o.info or {}).items():
                totals[name] = totals.get(name, 0) + value
        totals["embedded_records"] = sum(entry.record for entry in found)
        output, changed = None, False
        if all(o.output is not None for _, o in outcomes):
            replacements = []
            for entry, o in outcomes:
                if (o.info or {}).get("changed", 1):
                    text = encode(written[entry.start], layout_of(data, entry.start, entry.end))
                    replacements.append((entry.start, entry.end, text))
            changed = bool(replacements)
            output = splice(data, replacements) if changed else data
        totals["changed"] = int(changed) if output is not None else 0
        outcome = Outcome(item.source, item.line, worst.status, worst.version, violations,
                          "; ".join(messages) or None, output, item.jsonl, totals)
        return outcome, changed

    def _in_info(self, value: dict[str, Any], new: dict[str, Any] | None, outcome: Outcome) -> Outcome:
        """``outcome`` for a record item of an ``info`` list, where readers index every item's ``type``
        (geowatch's ``find_info_items``: an item without one is a KeyError that fails the lookup).

        An item is never written without the ``type`` it had (a downgrade to 1.0, which has no such
        field): that is an error, and the file is not written. A validation (an operation with
        ``checks_placement``) reports a 1.x item without ``type`` as a finding.
        """
        if new is not None and "type" in value and "type" not in new:
            return outcome._replace(
                status=Status.ERROR, output=None, info=None,
                message=f"not written as version {new.get('schema_version')}: that version has no 'type', and an info "
                        f"item without one makes legacy readers fail (geowatch's find_info_items indexes item['type'] "
                        f"of every item: KeyError); write it as 1.1 or later, or downgrade to 0 (the legacy shape)")
        if not getattr(self.inner, "checks_placement", False) or "type" in value or "schema_version" not in value \
                or severity(outcome.status) > severity(Status.INVALID):
            return outcome
        from procrecord.record.validation import Violation

        fix = "upgrade it (procrecord upgrade --embedded): 1.1 and later carry \"type\": \"procrecord\"" \
            if value.get("schema_version") == "1.0" else "give it \"type\": \"procrecord\""
        missing = Violation("$", "'type' is missing: a record in an info list needs one, or legacy readers fail "
                                 f"(geowatch's find_info_items indexes item['type'] of every item: KeyError); {fix}",
                            "kwcoco-info-type")
        status = outcome.status if severity(outcome.status) == severity(Status.INVALID) else Status.INVALID
        return outcome._replace(status=status, violations=(*outcome.violations, missing))

    def _archive(self, item: Loaded, raw: bytes) -> Outcome:
        """A zip archive (``.kwcoco.zip``): the JSON members are handled as documents."""
        import io
        import zipfile

        def failed(message: str) -> Outcome:
            return Outcome(item.source, None, Status.ERROR, message=message)

        try:
            archive = zipfile.ZipFile(io.BytesIO(raw))
        except (zipfile.BadZipFile, OSError) as exc:
            return failed(f"not a readable zip archive: {exc}")
        with archive:
            members = archive.infolist()
            targets = [m for m in members if m.filename.lower().endswith(".json")]
            guessed = not targets and len(members) == 1  # one member, named otherwise: maybe the document
            targets = targets or (members if guessed else [])
            if not targets:
                return failed("zip archive holds no .json member")
            results: list[tuple[zipfile.ZipInfo, Outcome, bool]] = []
            for info in targets:
                if info.file_size > self.max_bytes:
                    return failed(f"member {info.filename} is {info.file_size} bytes unpacked, over the limit of "
                                  f"{self.max_bytes} (raise it with --max-bytes)")
                try:
                    data = archive.read(info)
                except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                    return failed(f"cannot read member {info.filename}: {exc}")
                outcome, changed = self._document(Loaded(f"{item.source}!{info.filename}", None, {}, False, data), data)
                if guessed and outcome.status is Status.ERROR and loose(data) is None:
                    return failed(f"zip archive holds no .json member, and its one member, {info.filename}, "
                                  f"is no JSON document: {outcome.message}")
                results.append((info, outcome, changed))
            output: bytes | None = raw
            if all(o.output is not None for _, o, _ in results) and any(c for _, _, c in results):
                output = _rezip(archive, members, {info.filename: o.output for info, o, c in results if c and o.output is not None})
            elif not all(o.output is not None for _, o, _ in results):
                output = None
        merged = results[0][1] if len(results) == 1 else _combine([o for _, o, _ in results])
        totals = dict(merged.info or {})
        totals["changed"] = int(output is not None and output is not raw)
        return merged._replace(source=item.source, output=output, info=totals)


def _combine(outcomes: list[Outcome]) -> Outcome:
    worst = max(outcomes, key=lambda o: severity(o.status))
    violations = tuple(v for o in outcomes for v in o.violations)
    messages = [f"{o.source}: {o.message}" for o in outcomes if o.message]
    totals: dict[str, int] = {}
    for o in outcomes:
        for name, value in (o.info or {}).items():
            totals[name] = totals.get(name, 0) + value
    return worst._replace(violations=violations, message="; ".join(messages) or None, info=totals)


def _rezip(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], replaced: dict[str, bytes]) -> bytes:
    """A new archive: the same members in the same order, each with its compression method, date,
    attributes and comment; ``replaced`` members get their new text."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as new:
        new.comment = archive.comment
        for info in members:
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type = info.compress_type
            copy.comment = info.comment
            copy.create_system = info.create_system
            copy.external_attr = info.external_attr
            copy.internal_attr = info.internal_attr
            content = replaced[info.filename] if info.filename in replaced else archive.read(info)
            new.writestr(copy, content)
    return out.getvalue()

