"""The one redaction function, driven by the schema's ``x-redact``/``x-scrub`` annotations.

``redact(record, level)`` removes every property whose ``x-redact`` the level covers, scrubs what it
keeps under ``x-scrub``, optionally replaces removed identifiers by keyed pseudonyms, and writes a
note into the record. It is used by the writer and by ``procrecord redact`` alike.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from pathlib import Path
from typing import AbstractSet, Any, Callable, Iterable, TypeGuard

import attrs
import orjson

from procrecord._version import __version__
from procrecord.errors import ProcrecordError, RedactionKeyError, UnknownVersionError
from procrecord.jsonsafe import json_copy
from procrecord.operations.scrub import Scrubber, marker
from procrecord.operations.secretnames import hides, is_version_key, is_versions_mapping, pair_secret, version_kept
from procrecord.pointer import escape, tokens, tokens_if_pointer
from procrecord.record.policy import LEVELS, RANK, Node, policy, removes
from procrecord.record.schemas import current_version
from procrecord.record.validation import Violation

KEY_ENV = "PROCRECORD_REDACT_KEY"
MIN_KEY_BYTES = 32
_TOKEN = re.compile(r"^hmac:[0-9a-f]{16}$")


@functools.lru_cache(maxsize=None)
def _identifiers(version: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    return tuple(_identifier_paths(policy(version)))


@functools.lru_cache(maxsize=16)
def _scrubber(version: str, values: tuple[str | None, ...]) -> Scrubber:
    return Scrubber(_identities(version, values))


def _identities(version: str, values: Iterable[Any]) -> dict[str, str]:
    return {kind: value for (_, kind), value in zip(_identifiers(version), values)
            if isinstance(value, str) and value and not _TOKEN.match(value)}


@functools.lru_cache(maxsize=None)
def _identifier_getter(version: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function giving the record's own identifiers (host name, user, home), each a string or None, from
    :func:`_identifiers`' places, generated once per version: straight-line look-ups, each object on the way
    read once (a loop over the paths cost more than the look-ups)."""
    lines = ["def get(v):", "    if v.__class__ is not dict: v = _EMPTY"]
    names: dict[tuple[str, ...], str] = {(): "v"}
    values: list[str] = []
    for path, _ in _identifiers(version):
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in names:
                names[prefix] = name = f"o{len(names)}"
                lines.append(f"    {name} = {names[prefix[:-1]]}.get({prefix[-1]!r})")
                lines.append(f"    if {name}.__class__ is not dict: {name} = _EMPTY")
        value = f"x{len(values)}"
        lines.append(f"    {value} = {names[path[:-1]]}.get({path[-1]!r})")
        values.append(f"{value} if {value}.__class__ is str else None")
    lines.append(f"    return ({', '.join(values)}{',' if len(values) == 1 else ''})")
    namespace: dict[str, Any] = {"_EMPTY": {}}
    exec(compile("\n".join(lines), f"<procrecord identifiers {version}>", "exec"), namespace)
    getter: Callable[[dict[str, Any]], tuple[Any, ...]] = namespace["get"]
    return getter


def scrubber_for(record: dict[str, Any], version: str) -> Scrubber:
    """The scrubber for a record (cached by its identifiers: records of one host share one)."""
    return _scrubber(version, _identifier_getter(version)(record))


def _identifier_paths(node: Node, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for name, child in (node.children or {}).items():
        if child.identifier:
            found.append(((*path, name), child.identifier))
        found.extend(_identifier_paths(child, (*path, name)))
    return found


def load_key(key_file: str | None = None) -> bytes | None:
    """The pseudonym key from ``key_file`` or ``$PROCRECORD_REDACT_KEY``; None when neither is set."""
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise RedactionKeyError(f"cannot read key file {key_file}: {exc.strerror}") from exc
    elif os.environ.get(KEY_ENV):
        key = os.environ[KEY_ENV].encode()
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise RedactionKeyError(f"pseudonym key is {len(key)} bytes; at least {MIN_KEY_BYTES} are required")
    return key


def fingerprint(key: bytes) -> str:
    """Public fingerprint of a pseudonym key (never the key itself)."""
    import hashlib

    return "sha256:" + hashlib.sha256(b"procrecord-key-fingerprint\0" + key).hexdigest()[:16]


def pseudonym(key: bytes, value: str) -> str:
    """Keyed, linkable token for an identifier."""
    import hashlib
    import hmac

    return "hmac:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


class _Context:
    __slots__ = ("level", "scrubber", "key", "kept_tokens", "removed", "pseudonymized", "found")

    def __init__(self, level: str, scrubber: Scrubber, key: bytes | None, kept_tokens: AbstractSet[str]) -> None:
        self.level = level
        self.scrubber = scrubber
        self.key = key
        self.kept_tokens = kept_tokens
        self.removed: list[str] = []
        self.pseudonymized: list[str] = []
        #: (pointer, replacements by rule) for each scrubbed value, summed up in the note.
        self.found: list[tuple[str, dict[str, int]]] = []

    def pseudonymize(self, value: Any, here: str) -> str | None:
        """Note the removal of an identifier at ``here``; return its keyed pseudonym, if one applies."""
        if self.key is not None and isinstance(value, str):
            self.pseudonymized.append(here)
            return value if here in self.kept_tokens and _TOKEN.match(value) else pseudonym(self.key, value)
        self.removed.append(here)
        return None


# --- the walk, generated per (schema version, level) ------------------------------------------------
#
# The policy tree is turned into straight-line Python: each schema object the level touches is
# copied once (only when it holds a property to change) and only the properties the level names are
# removed, scrubbed or entered. Objects at fixed places are inlined with their JSON pointers written
# in as constants; array items and objects in scrubbed parts get functions of their own. Everything
# the level leaves alone is shared with the input (never modified). Free-form values (config, argv,
# messages) go to _scrub_any.

#: The first line of each generated function: the names its body uses.
_PRELUDE = "removed, key, clean = ctx.removed, ctx.key, ctx.scrubber.unchanged"


class _Generator:
    """Writes the walk of one policy tree at one level (see above).

    A pointer is passed around as a Python expression: a string constant where the place is fixed,
    a variable (built only when an object there is copied) below array items.
    """

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.lines: list[str] = []
        self.names: dict[tuple[int, bool], str] = {}
        self.constants: dict[str, Any] = {}
        self.variables = 0

    def root(self, node: Node) -> None:
        body = self._value(node, False, "v", repr(""), "    ")
        self.lines += ["def _root(v, ctx):", f"    {_PRELUDE}", *body, "    return v", ""]

    def _function(self, node: Node, scrub: bool) -> str:
        """The name of a generated function ``f(v, ctx, ptr)`` for ``node`` (used in scrubbed parts)."""
        memo = (id(node), scrub)
        if memo not in self.names:
            name = self.names[memo] = f"_node{len(self.names)}"
            body = self._value(node, scrub, "v", "ptr", "    ")
            self.lines += [f"def {name}(v, ctx, ptr):", f"    {_PRELUDE}", *body, "    return v", ""]
        return self.names[memo]

    def _variable(self, stem: str) -> str:
        self.variables += 1
        return f"_{stem}{self.variables}"

    @staticmethod
    def _child(ptr: str, name: str) -> str:
        """The pointer expression of ``ptr``'s child ``name`` (a constant where ``ptr`` is one)."""
        if ptr.startswith(("'", '"')):
            return repr(ast.literal_eval(ptr) + name)
        return f"{ptr} + {name!r}"

    def _value(self, node: Node, scrub: bool, var: str, ptr: str, pad: str, prelude: tuple[str, ...] = ()) -> list[str]:
        """Lines that replace the value in ``var`` (whose pointer ``ptr`` evaluates to) by its redaction."""
        if node.children is not None:
            return self._object(node, scrub, var, ptr, pad, prelude)
        items = node.items
        if items is None or items.children is None:
            return [f"{pad}{var} = _scrub_any({var}, {ptr}, ctx)"] if scrub else []
        if scrub:
            call = f"{self._function(items, True)}(x, ctx, {self._child(ptr, '/')} + str(i))"
            return [f"{pad}if {var}.__class__ is list:", f"{pad}    {var} = [{call} for i, x in enumerate({var})]",
                    f"{pad}else:", f"{pad}    {var} = _scrub_any({var}, {ptr}, ctx)"]
        # Items are redacted in place of a copy of the list, made at the first item that changes. An item
        # copied to be scrubbed and found clean (its strings not seen before) is no change: the list stays
        # the input's, and a list of free text is then remembered as clean at its first sight.
        new, index, item, before, item_ptr = (self._variable(s) for s in ("l", "i", "x", "o", "p"))
        body = self._value(items, False, item, item_ptr, pad + "        ",
                           prelude=(f"{item_ptr} = {self._child(ptr, '/')} + str({index})",))
        if not body:
            return []
        loop = [f"{pad}    {new} = None",
                f"{pad}    for {index}, {item} in enumerate({var}):", f"{pad}        {before} = {item}", *body,
                f"{pad}        if {item} is not {before} and {item} != {before}:", f"{pad}            if {new} is None:",
                f"{pad}                {new} = list({var})", f"{pad}            {new}[{index}] = {item}",
                f"{pad}    if {new} is not None:", f"{pad}        {var} = {new}"]
        visit = [n for n in items.children if n in items.active[self.rank]]
        if visit and all(self._text_leaf(items.children[n]) for n in visit):
            # A list of objects holding only free text (packages): the lists every run of a job shares
            # are recognised as clean by their serialised text, as configs are (see _scrub_nested).
            # Serialising is cheaper than looking its strings up one by one: a freshly parsed string
            # is hashed before any look-up.
            text, found = self._variable("t"), self._variable("f")
            return [f"{pad}if {var}.__class__ is list:", f"{pad}    {text} = _clean_list({var}, ctx, {ptr})",
                    f"{pad}    if {text} is not None:", f"{pad}        {found} = len(ctx.found)",
                    *("    " + line for line in loop),
                    f"{pad}        elif {text} and len(ctx.found) == {found}:",
                    f"{pad}            ctx.scrubber.mark_clean({text}, _LIST_MAX_BYTES)"]
        return [f"{pad}if {var}.__class__ is list:", *loop]

    def _object(self, node: Node, scrub: bool, var: str, ptr: str, pad: str, prelude: tuple[str, ...]) -> list[str]:
        children = node.children or {}
        lines = []
        if scrub:
            # Every value is scrubbed: the values of keys the schema does not name are free-form.
            known = self._constant(frozenset(children))
            lines += [f"{pad}if {var}.__class__ is not dict:", f"{pad}    {var} = _scrub_any({var}, {ptr}, ctx)",
                      f"{pad}else:"]
            pad += "    "
            lines += [f"{pad}{line}" for line in prelude]
            lines.append(f"{pad}{var} = {{name: sub if name in {known} else _scrub_any(sub, {ptr} + '/' + escape(name), ctx)"
                         f" for name, sub in {var}.items()}}")
            visit = list(children)
        else:
            visit = [name for name in children if name in node.active[self.rank]]
            if not visit:
                return []
            # Copy only an object that holds something to change; one whose children are all free text
            # is left as it is when every string in it was scrubbed before and found clean.
            test = f"{pad}if {var}.__class__ is dict and ({' or '.join(f'{n!r} in {var}' for n in visit)}):"
            if all(self._text_leaf(children[n]) for n in visit):
                # Left as it is when every string in it was scrubbed before and found clean: one C loop,
                # written in (a call less per object); an unhashable value where text belongs is looked at
                # the long way.
                lines += [test, f"{pad}    try:",
                          f"{pad}        _ok = clean.issuperset(map({var}.get, {self._constant(tuple(visit))}))",
                          f"{pad}    except TypeError:", f"{pad}        _ok = False", f"{pad}    if not _ok:",
                          f"{pad}        {var} = {var}.copy()", *(f"{pad}        {line}" for line in prelude)]
                pad += "        "
            else:
                lines += [test, f"{pad}    {var} = {var}.copy()", *(f"{pad}    {line}" for line in prelude)]
                pad += "    "
        for name in visit:
            child = children[name]
            key, at = repr(name), self._child(ptr, "/" + escape(name))
            body: list[str]
            if child.redact != "never" and RANK[child.redact] <= self.rank:
                if child.pseudonymize:
                    body = ["if key is None:", f"    del {var}[{key}]", f"    removed.append({at})", "else:",
                            f"    token = ctx.pseudonymize({var}[{key}], {at})", "    if token is None:",
                            f"        del {var}[{key}]", "    else:", f"        {var}[{key}] = token"]
                else:
                    body = [f"del {var}[{key}]", f"removed.append({at})"]
            elif (scrub or child.scrub) and child.children is None and (child.items is None or child.items.children is None):
                # A string scrubbed before and found clean is one look-up, without a call.
                # A field named as a version (``packages[].version``, ``tool_version``) keeps a
                # four-part version as a config key of that name does.
                call = f"_scrub_version(_s, {at}, ctx, {key})" if is_version_key(name) else f"_scrub_any(_s, {at}, ctx)"
                body = [f"_s = {var}[{key}]", "if _s.__class__ is not str or _s not in clean:",
                        f"    {var}[{key}] = {call}"]
            elif scrub or child.scrub:
                body = [f"{var}[{key}] = {self._function(child, True)}({var}[{key}], ctx, {at})"]
            else:
                inner = self._variable("v")
                body = [f"{inner} = {var}[{key}]", *self._value(child, False, inner, at, ""), f"{var}[{key}] = {inner}"]
            lines += [f"{pad}if {key} in {var}:", *(f"{pad}    {line}" for line in body)]
        return lines

    def _text_leaf(self, child: Node) -> bool:
        """True for a scrubbed string (or list of strings) that this level keeps."""
        removed = child.redact != "never" and RANK[child.redact] <= self.rank
        return (child.scrub and not removed and child.children is None
                and (child.items is None or child.items.children is None))

    def _constant(self, value: Any) -> str:
        name = f"_const{len(self.constants)}"
        self.constants[name] = value
        return name


_WALKERS: dict[tuple[int, str], tuple[Node, Callable[[dict[str, Any], _Context], dict[str, Any]]]] = {}


def _walker(version: str, level: str) -> Callable[[dict[str, Any], _Context], dict[str, Any]]:
    """The generated walk of schema ``version`` at ``level`` (made once per policy tree and level)."""
    tree = policy(version)
    made = _WALKERS.get((id(tree), level))
    if made is None or made[0] is not tree:
        generator = _Generator(RANK[level])
        generator.root(tree)
        namespace: dict[str, Any] = {"_scrub_any": _scrub_any, "_scrub_version": _scrub_version,
                                     "_clean_list": _clean_list,
                                     "_LIST_MAX_BYTES": _LIST_MAX_BYTES, "escape": escape, **generator.constants}
        exec(compile("\n".join(generator.lines), f"<procrecord redaction {version} {level}>", "exec"), namespace)
        made = _WALKERS[(id(tree), level)] = (tree, namespace["_root"])
    return made[1]


#: Lists of free-text objects up to this size are remembered as clean by their text.
_LIST_MAX_BYTES = 16384


def _clean_list(value: list[Any], ctx: _Context, place: str) -> bytes | None:
    """None when ``value`` is known clean; else its text to remember once found clean (``b""``: too big).

    The clean text last seen at ``place`` is compared first: the records of one job carry the same
    list there, and comparing bytes costs less than hashing them for a look-up.
    """
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return b""
    scrubber = ctx.scrubber
    if scrubber.last_lists.get(place) == text:
        return None
    if scrubber.known_clean(text):
        if len(scrubber.last_lists) >= 64:
            scrubber.last_lists.clear()  # places below array items are many
        scrubber.last_lists[place] = text
        return None
    return text if len(text) <= _LIST_MAX_BYTES else b""


def _scrub_any(value: Any, pointer: str, ctx: _Context) -> Any:
    """Scrub free-form JSON (config, extra, argv, messages): strings, keys, and secret-named keys."""
    kind_of = value.__class__
    if kind_of is str:
        new, counts = ctx.scrubber.scrub(value)
        if counts:
            ctx.found.append((pointer, counts))
        return new
    if kind_of is dict:
        return _scrub_mapping(value, pointer, ctx)
    if kind_of is list:
        kinds = {item.__class__ for item in value}
        if kinds <= _PLAIN_SCALARS:
            return value  # numbers, booleans, nulls: nothing to scrub
        if kinds == _STRINGS:
            new_list, counts = ctx.scrubber.scrub_argv(value)
            if counts:
                ctx.found.append((pointer, counts))
            return new_list
        return [_scrub_any(item, f"{pointer}/{i}", ctx) for i, item in enumerate(value)]
    return value


def _scrub_version(value: Any, pointer: str, ctx: _Context, name: str) -> Any:
    """:func:`_scrub_any` of a schema field named as a version: a four-part version stays."""
    if value.__class__ is str:
        new, counts = ctx.scrubber.scrub(value)
        if counts and not version_kept(name, value, counts):
            ctx.found.append((pointer, counts))
            return new
        return value
    return _scrub_any(value, pointer, ctx)


_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})
_STRINGS = frozenset({str})


def _scrub_nested(value: dict[str, Any], parent: str, key: str, ctx: _Context) -> dict[str, Any]:
    """A mapping inside free-form data (under ``key`` of the mapping at ``parent``): the parts of a config
    that every run of a job shares (``data``, ``model``) are serialised once and recognised as clean by
    their text (its pointer is made only when it is not)."""
    if len(value) > _CLEAN_MAX_KEYS:
        return _scrub_mapping(value, parent + _step(ctx.scrubber.plain_keys, key), ctx)
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return _scrub_mapping(value, parent + _step(ctx.scrubber.plain_keys, key), ctx)
    scrubber = ctx.scrubber
    if scrubber.known_clean(text):
        return value
    pointer = parent + _step(scrubber.plain_keys, key)
    versions = is_versions_mapping(pointer.rpartition("/")[2])
    done = None if versions else scrubber.scrubbed.get(text)
    if done is not None:
        # scrubbed before (a job's section holding a secret, the same in every run): its result again, a
        # copy of its own, and its findings under this pointer
        ctx.found.extend([(pointer + below, counts) for below, counts in done[1]])
        copied: dict[str, Any] = orjson.loads(done[0])
        return copied
    found = len(ctx.found)
    new = _scrub_mapping(value, pointer, ctx)
    if "Key" in value or "key" in value or "KEY" in value:  # (BARE_KEYS: three look-ups, not a loop over the keys)
        return new  # (a bare key is judged with this mapping's own key: its text alone is never remembered)
    if new is value and len(ctx.found) == found:
        if not versions:
            # (a mapping of versions keeps four-part numbers its text would not keep under another name)
            scrubber.mark_clean(text)
    elif not versions:
        _remember_scrubbed(scrubber, text, new, pointer, ctx.found[found:])
    return new


def _remember_scrubbed(scrubber: Scrubber, text: bytes, new: dict[str, Any], pointer: str,
                       found: list[tuple[str, dict[str, int]]]) -> None:
    """Remember what scrubbing the mapping serialised as ``text`` made of it (see Scrubber.scrubbed): its
    text (read back as a copy: only when it reads back equal) and its findings below its pointer."""
    if len(text) > scrubber.CLEAN_MAX_BYTES or not scrubber.seen_twice(text):
        return  # (remembered at its second sight: a section holding a run's own path is new in every record)
    try:
        out = orjson.dumps(new)
    except (TypeError, orjson.JSONEncodeError):
        return
    if b"null" in out and orjson.loads(out) != new:
        return  # (a NaN or an infinity is written null: the text would not give it back)
    size = len(pointer)
    if all(at.startswith(pointer) for at, _ in found):
        scrubber.remember_scrubbed(text, out, tuple((at[size:], counts) for at, counts in found))


#: Wider mappings are not serialised to be looked up (rarely shared whole between runs).
_CLEAN_MAX_KEYS = 64


def _distinct(key: str, *taken: dict[str, Any]) -> str:
    """``key (2)``, ``key (3)``...: the first of these in none of ``taken``."""
    n = 2
    while any(f"{key} ({n})" in names for names in taken):
        n += 1
    return f"{key} ({n})"


def _step(plain: dict[str, str], key: str) -> str:
    # The table may have been emptied (it is bounded) by a nested mapping since it was checked.
    step = plain.get(key)
    return step if step is not None else "/" + escape(key)


def _scrub_mapping(value: dict[str, Any], pointer: str, ctx: _Context) -> dict[str, Any]:
    scrubber = ctx.scrubber
    if "value" in value or "Value" in value or "VALUE" in value or "ParameterValue" in value:  # (PAIR_VALUES)
        pair = pair_secret(value)
        if pair is not None:  # ``{"name": "DB_PASSWORD", "value": X}``: X as under a key of that name
            value = {**value, pair[0]: marker(pair[1])}
            ctx.found.append((f"{pointer}/{escape(pair[0])}", {"secret-key": 1}))
    plain = scrubber.plain_keys
    if plain.keys() >= value.keys():
        # The hot loop of redaction (configs are wide): every key was seen before and needs nothing,
        # strings seen before are one look-up, and the mapping is copied only if a value changes.
        cache, scrub = scrubber.cache, scrubber.scrub
        out = None
        new: Any
        for key, sub in value.items():
            sub_type = sub.__class__
            if sub_type is str:
                found = cache.get(sub)
                if found is None:
                    found = scrub(sub)
                if not found[1] or ("ipv4" in found[1] and version_kept(key, sub, found[1], pointer.rpartition("/")[2])):
                    continue
                ctx.found.append((pointer + _step(plain, key), found[1]))
                new = found[0]
            elif sub_type is dict:
                new = _scrub_nested(sub, pointer, key, ctx)
            elif sub_type is list:
                new = _scrub_any(sub, pointer + _step(plain, key), ctx)
            else:
                continue
            if new is not sub:
                if out is None:
                    out = value.copy()
                out[key] = new
        return value if out is None else out
    out = {}
    parent = pointer.rpartition("/")[2]
    for key, sub in value.items():
        new_key, key_counts, _ = scrubber.scrub_key(key)
        if key_counts and (new_key in out or new_key in value):
            new_key = _distinct(new_key, out, value)  # keys scrubbed to one text: keep every value
        here = f"{pointer}/{escape(new_key)}"
        if key_counts:
            ctx.found.append((here, key_counts))
        # The scrubbed key is judged (a key that was a token names no secret once it is a marker), so
        # redacting the output again finds the same.
        kind = hides(new_key, sub, parent)
        if kind is not None:
            out[new_key] = marker(kind)
            ctx.found.append((here, {"secret-key": 1}))
        elif (sub.__class__ is str and (is_version_key(new_key) or is_versions_mapping(parent))
              and version_kept(new_key, sub, scrubber.scrub(sub)[1], parent)):
            out[new_key] = sub
        else:
            out[new_key] = _scrub_any(sub, here, ctx)
    return out


def known_level(level: str) -> None:
    """Raise :class:`ProcrecordError` unless ``level`` is a redaction level."""
    if level not in RANK:
        raise ProcrecordError(f"unknown redaction level {level!r} (choose from {', '.join(LEVELS)})")


def free_text_scrubber() -> Scrubber:
    """The scrubber of text that belongs to no record (no record's own names to look for), shared."""
    from procrecord.record.schemas import current_version

    return _scrubber(current_version(), ())


def redact(record: dict[str, Any], level: str, key: bytes | None = None, version: str | None = None) -> dict[str, Any]:
    """Return a redacted copy of ``record`` (current schema version) at ``level``.

    Level ``none`` returns an unchanged copy. The result carries a ``redaction`` note (merged with
    any earlier note, so redaction is idempotent) and validates against the same schema. Parts the
    level leaves unchanged are shared with the input (never modified).
    """
    if level not in RANK or level == "none":
        known_level(level)
        copied: dict[str, Any] = json_copy(record)
        return copied
    if version == "0" or (version is None and "schema_version" not in record and _is_legacy(record)):
        return _redact_legacy(record, level, key)
    version = _version_of(record, version)
    earlier = record.get("redaction")
    previous: dict[str, Any] = earlier if isinstance(earlier, dict) else {}
    tokens = previous.get("pseudonymized")
    ctx = _Context(level, scrubber_for(record, version), key, set(_strings(tokens)) if tokens else _NO_TOKENS)
    out = _walker(version, level)(record, ctx)
    if out is record:
        out = dict(record)
    if isinstance(earlier, dict) and _LEGACY_BAG in ctx.removed:
        _keep_clean_legacy_bag(record, out, ctx, level, version)
    if _LEGACY_BAG in ctx.removed:
        _keep_legacy_values(record, out, ctx, level, version)
    out.pop("redaction", None)
    out["redaction"] = note = _note(previous, ctx, key)
    if note["level"] != level and check_level(out, note["level"], version):
        # An earlier note claimed a higher level than the record meets (forged, or stale after an
        # edit): the note says what this redaction made true, never more.
        note["level"] = level
    return out


_LEGACY_BAG = "/provenance/legacy"
_NO_TOKENS: frozenset[str] = frozenset()


def _keep_clean_legacy_bag(record: dict[str, Any], out: dict[str, Any], ctx: _Context, level: str, version: str) -> None:
    """Put back the legacy bag of a redacted legacy item upgraded when it holds nothing the level hides
    (what the gate lets pass: see check_level), so that redacting a record the gate accepts changes nothing."""
    given, kept = record.get("provenance"), out.get("provenance")
    if not (isinstance(given, dict) and isinstance(kept, dict) and given.get("upgraded_from") == "0"
            and isinstance(given.get("legacy"), dict)):
        return
    leaks: list[Violation] = []
    _check_legacy_bag(given["legacy"], level, version, leaks, out)
    if not leaks:
        provenance = dict(given)  # (the input's order of keys, with what the walk made of the others)
        provenance.update(kept)
        out["provenance"] = provenance
        ctx.removed = [pointer for pointer in ctx.removed if pointer != _LEGACY_BAG]


def _keep_legacy_values(record: dict[str, Any], out: dict[str, Any], ctx: _Context, level: str, version: str) -> None:
    """Put back the entries of the legacy bag of an upgraded legacy record that ``level`` keeps (readers'
    numbers: see :data:`_LEGACY_KEPT`); the note then names each entry removed instead of the whole bag."""
    given, walked = record.get("provenance"), out.get("provenance")
    if not (isinstance(given, dict) and isinstance(walked, dict) and given.get("upgraded_from") == "0"
            and isinstance(given.get("legacy"), dict)):
        return
    bag: dict[str, Any] = given["legacy"]
    kept = {pointer: value for pointer, value in bag.items() if legacy_value_kept(pointer, value, level, version, out)}
    if not kept:
        return
    provenance = dict(given)  # (the input's order of keys, with what the walk made of the others)
    provenance.update(walked)
    provenance["legacy"] = kept
    out["provenance"] = provenance
    # (a key of the bag is the legacy record's own: scrubbed as an earlier note's pointers are)
    gone = [_scrub_pointer(["provenance", "legacy", pointer], ctx.scrubber.scrub)[0] for pointer in bag if pointer not in kept]
    ctx.removed = [pointer for pointer in ctx.removed if pointer != _LEGACY_BAG] + gone


def _is_legacy(record: dict[str, Any]) -> bool:
    from procrecord.record.versions import is_legacy

    return is_legacy(record)


def _redact_legacy(record: dict[str, Any], level: str, key: bytes | None) -> dict[str, Any]:
    """A legacy (version 0) record redacted in its own shape, as ``redact --embedded`` keeps it: upgraded
    (every value of it finds a place, unknown keys in ``provenance.legacy``), redacted by the current
    schema's rules, downgraded, with the note beside ``type`` and ``properties``. Read as a current
    record it would hold no field the walk knows, and come back with a note and nothing scrubbed."""
    from procrecord.operations.legacy import join_args
    from procrecord.operations.migration import downgrade, upgrade

    out, _ = downgrade(redact(upgrade(record), level, key), "0")
    given = record.get("properties")
    props = out.get("properties")
    if isinstance(given, dict) and isinstance(given.get("args"), str) and isinstance(props, dict):
        args = props.get("args")
        if isinstance(args, list) and all(isinstance(a, str) for a in args):
            # the original string went with the legacy bag; the item keeps its shape: args stays a string
            props["args"] = join_args(args)
    return out


def _version_of(record: dict[str, Any], version: str | None) -> str:
    version = version or record.get("schema_version") or current_version()
    if not isinstance(version, str):
        raise UnknownVersionError(f"schema_version is {version!r}, expected a string like '1.0'")
    return version


def _note(previous: dict[str, Any], ctx: _Context, key: bytes | None) -> dict[str, Any]:
    """The redaction note, merged with the note of an earlier redaction (so redacting twice changes nothing)."""
    level, removed, found, pseudo = ctx.level, ctx.removed, ctx.found, ctx.pseudonymized
    if previous:
        old_level = previous.get("level")
        if isinstance(old_level, str) and _rank(old_level) > RANK[level]:
            level = old_level
        # An earlier note is input like any text: its pointers are scrubbed, and only entries of a note's
        # form are kept (a pointer, a rule's name), so no secret rides along in it.
        scrub = ctx.scrubber.scrub
        removed = [*_pointers(previous.get("removed"), scrub), *removed]
        found = [(_scrub_pointer(parts, scrub)[0], {e["rule"]: e["count"]}) for e in _listed(previous.get("scrubbed"))
                 if isinstance(e, dict) and (parts := tokens_if_pointer(e.get("path"))) is not None
                 and _is_rule_name(e.get("rule")) and e.get("count").__class__ is int] + found
        pseudo = [*_pointers(previous.get("pseudonymized"), scrub), *pseudo]
    pointers, entries = _note_lists(removed, found)
    note: dict[str, Any] = {"level": level, "tool": "procrecord", "tool_version": __version__,
                            "removed": pointers, "scrubbed": entries}
    if pseudo:
        note["pseudonymized"] = sorted(set(pseudo))
    if key is not None:
        note["key_fingerprint"] = fingerprint(key)
    elif isinstance(previous.get("key_fingerprint"), str):
        note["key_fingerprint"] = previous["key_fingerprint"]
    return note


#: A rule's name in a note (``secret-assignment``, ``record-host``): lower-case words joined by ``-``.
_RULE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _is_rule_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= 64 and _RULE_NAME.fullmatch(value) is not None


def _pointers(value: Any, scrub: Callable[[str], tuple[str, dict[str, int]]]) -> list[str]:
    """The JSON pointers of an earlier note's list, scrubbed (anything else is dropped)."""
    return [_scrub_pointer(parts, scrub)[0] for parts in map(tokens_if_pointer, _listed(value)) if parts is not None]


def _scrub_pointer(parts: list[str], scrub: Callable[[str], tuple[str, dict[str, int]]]) -> tuple[str, dict[str, int]]:
    """A JSON pointer (its tokens) with each key scrubbed as the walk scrubs keys (it stays a pointer)."""
    counts: dict[str, int] = {}
    steps = []
    for step in parts:
        new, found = scrub(step)
        steps.append("/" + escape(new))
        for name, n in found.items():
            counts[name] = counts.get(name, 0) + n
    return "".join(steps), counts


def _check_note(note: dict[str, Any], scrubber: Scrubber, leaks: list[Violation]) -> None:
    """The note's own strings, held to what the record's text is: JSON pointers and rule names, scrubbed;
    the tool's name and version as free text (``redact`` writes its own there)."""
    for name in ("tool", "tool_version"):
        value = note.get(name)
        if isinstance(value, str) and not (name == "tool_version" and version_kept(name, value, scrubber.scrub(value)[1])):
            _check_text(value, f"/redaction/{name}", scrubber, leaks)
    for name in ("removed", "pseudonymized"):
        for i, item in enumerate(_listed(note.get(name))):
            _check_note_pointer(item, f"/redaction/{name}/{i}", scrubber, leaks)
    for i, entry in enumerate(_listed(note.get("scrubbed"))):
        if isinstance(entry, dict):
            here = f"/redaction/scrubbed/{i}"
            _check_note_pointer(entry.get("path"), here + "/path", scrubber, leaks)
            rule = entry.get("rule")
            if not _is_rule_name(rule):
                leaks.append(Violation(_pointer_to_path(here + "/rule"), "not a rule's name", "x-scrub"))
            else:
                for found in scrubber.detect(rule):
                    leaks.append(Violation(_pointer_to_path(here + "/rule"), f"text still matches scrub rule {found!r}", "x-scrub"))


def _check_note_pointer(item: Any, pointer: str, scrubber: Scrubber, leaks: list[Violation]) -> None:
    parts = tokens_if_pointer(item)
    if parts is None:
        leaks.append(Violation(_pointer_to_path(pointer), "not a JSON pointer", "x-scrub"))
        return
    for rule in _scrub_pointer(parts, scrubber.scrub)[1]:
        leaks.append(Violation(_pointer_to_path(pointer), f"text still matches scrub rule {rule!r}", "x-scrub"))


def _rank(level: Any) -> int:
    """The rank of a note's level; 0 for anything that is not a level (a note is input, not trusted)."""
    return RANK.get(level, 0) if isinstance(level, str) else 0


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [item for item in _listed(value) if isinstance(item, str)]


_SORTED: dict[tuple[str, ...], list[str]] = {}


def _sorted(pointers: list[str]) -> list[str]:
    """``pointers`` sorted, without repeats; the walk removes the same paths from most records, so the
    order is remembered."""
    key = tuple(pointers)
    found = _SORTED.get(key)
    if found is None:
        if len(_SORTED) >= 256:
            _SORTED.clear()
        found = _SORTED[key] = sorted(set(pointers))
    return list(found)


#: The last record's removed pointers and findings, and the note's lists made of them (one tuple, replaced
#: whole, so a thread never reads one record's findings with another's lists).
_LAST_LISTS: tuple[list[str], list[tuple[str, dict[str, int]]], list[str], list[dict[str, Any]]] = ([], [], [], [])


def _note_lists(removed: list[str], found: list[tuple[str, dict[str, int]]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The note's ``removed`` and ``scrubbed`` lists. The records of a job find the same: the last record's
    lists are given again (copies) when its pointers and findings compare equal (the walk's own constant
    strings and the scrubber's remembered counts, mostly the same objects: nothing is hashed)."""
    global _LAST_LISTS
    last = _LAST_LISTS
    if found == last[1] and removed == last[0]:
        return list(last[2]), list(map(dict.copy, last[3]))
    pointers, entries = _sorted(removed), _scrub_entries(found)
    _LAST_LISTS = (list(removed), list(found), list(pointers), list(map(dict.copy, entries)))
    return pointers, entries


def _scrub_entries(found: list[tuple[str, dict[str, int]]]) -> list[dict[str, Any]]:
    """The note's ``scrubbed`` list: one entry per (path, rule), in order, counts summed."""
    # (plain loops: a comprehension is a call of its own, and this runs once per record)
    rows = []
    for pointer, counts in found:
        for rule, n in counts.items():
            rows.append((pointer, rule, n))
    rows.sort()
    entries: list[dict[str, Any]] = []
    last_pointer = last_rule = None
    for pointer, rule, n in rows:
        if rule == last_rule and pointer == last_pointer:
            entries[-1]["count"] += n
        else:
            entries.append({"path": pointer, "rule": rule, "count": n})
            last_pointer, last_rule = pointer, rule
    return entries


def check_level(record: dict[str, Any], level: str, version: str | None = None) -> list[Violation]:
    """What in ``record`` breaks the promise of redaction ``level`` (empty when it keeps it).

    A property the level removes, a missing or lower redaction note, or a secret, home path or the
    record's own identifiers left in the text it keeps.
    """
    from procrecord.record.versions import is_legacy

    if version == "0" or (version is None and is_legacy(record)):
        return _check_legacy(record, level)
    version = _version_of(record, version)
    leaks: list[Violation] = []
    note = record.get("redaction") if isinstance(record.get("redaction"), dict) else None
    if note is None:
        leaks.append(Violation("$.redaction", f"record carries no redaction note (required: {level})", "require-level"))
    elif _rank(note.get("level")) < RANK[level]:
        leaks.append(Violation("$.redaction.level", f"redacted at {note.get('level')!r}, lower than {level!r}", "require-level"))
    tokens = set(_strings(note.get("pseudonymized"))) if note else set()
    scrubber = scrubber_for(record, version)
    provenance = record.get("provenance")
    bag = None
    if (note is not None and isinstance(provenance, dict) and provenance.get("upgraded_from") == "0"
            and isinstance(provenance.get("legacy"), dict)):
        # A redacted legacy item upgraded: the legacy bag holds what its shape had no 1.x home for (compat's
        # ``disk_info.names: []``, the nulls of the fields its writer left out). A bag holding no text passes, so an
        # upgrade never turns a record that passed into one that fails; text in it, or any value of a field the
        # level removes, is a leak as before (the level removes the bag).
        bag = provenance["legacy"]
        record = {**record, "provenance": {k: v for k, v in provenance.items() if k != "legacy"}}
    _check(record, policy(version), "", level, tokens, scrubber, False, leaks)
    if bag is not None:
        _check_legacy_bag(bag, level, version, leaks, record)
    if note is not None:
        _check_note(note, scrubber, leaks)
    return leaks


def _check_legacy_bag(bag: dict[str, Any], level: str, version: str, leaks: list[Violation],
                      record: dict[str, Any]) -> None:
    for pointer, value in bag.items():
        if legacy_value_hidden(pointer, value, level, version, record):
            leaks.append(Violation(_pointer_to_path(f"/provenance/legacy/{escape(pointer)}"),
                                   f"field removed at level {level!r} is present (a legacy value)", "x-redact"))


def drop_hidden_legacy_values(record: dict[str, Any], level: Any, version: str) -> None:
    """Take out of the legacy bag of ``record`` (upgraded from a redacted legacy item, changed in place) the
    values its redaction ``level`` hides, and name them in its note's ``removed``: the upgrade of a record
    that met its level meets it still, and says what it left out (what the level promised to remove)."""
    provenance, note = record.get("provenance"), record.get("redaction")
    if level not in ("most", "all") or not isinstance(provenance, dict) or not isinstance(provenance.get("legacy"), dict) \
            or not isinstance(note, dict):
        return
    bag: dict[str, Any] = provenance["legacy"]
    hidden = [pointer for pointer, value in bag.items() if legacy_value_hidden(pointer, value, level, version, record)]
    if not hidden:
        return
    kept = {pointer: value for pointer, value in bag.items() if pointer not in hidden}
    record["provenance"] = {**provenance, "legacy": kept} if kept else {k: v for k, v in provenance.items() if k != "legacy"}
    scrub = scrubber_for(record, version).scrub
    gone = [_scrub_pointer(["provenance", "legacy", pointer], scrub)[0] for pointer in hidden] if kept else [_LEGACY_BAG]
    listed = note.get("removed")
    if isinstance(listed, list):
        record["redaction"] = {**note, "removed": sorted({*listed, *gone}) if all(isinstance(p, str) for p in listed)
                               else [*listed, *(p for p in gone if p not in listed)]}


def _is_amount(value: Any) -> bool:
    return isinstance(value, (int, float)) and value.__class__ is not bool and value >= 0


def _is_count(value: Any) -> bool:
    return value.__class__ is int and value >= 0


#: Values of the legacy shape with no 1.x home that legacy readers use (geowatch's parse_resource_item reads
#: ``iters_per_second`` and ``device_info.allocated_vram``), identify nobody and are kept in the legacy bag
#: where the 1.x field they stand beside is kept (the bag as a whole is ``x-redact: most``: anything else in
#: it is removed): legacy pointer -> (the 1.x field's place in the policy, the values kept).
_LEGACY_KEPT: dict[str, tuple[tuple[str, ...], Callable[[Any], bool]]] = {
    "/properties/iters_per_second": (("timing", "duration_s"), _is_amount),
    "/properties/device_info/device_type": (("devices", "[]", "type"), lambda v: v == "cuda"),
    "/properties/device_info/allocated_vram": (("devices", "[]", "torch_max_allocated_bytes"), _is_count),
    "/properties/device_info/reserved_vram": (("devices", "[]", "torch_max_reserved_bytes"), _is_count),
    "/properties/emissions/co2_ton": (("emissions", "emissions_kg"), _is_amount),
    "/properties/emissions/est_dollar_to_offset": (("emissions", "emissions_kg"), _is_amount),
    "/properties/disk_info/hwtype": (("disks", "[]", "kind"), lambda v: v in ("hdd", "ssd", "unknown")),
    # the legacy writer's empty text for an unknown value (readers pass these two to string functions)
    "/properties/machine/arch": (("host", "arch"), lambda v: v == ""),
    "/properties/machine/cpu_brand": (("host", "cpu", "model"), lambda v: v == ""),
}


@functools.lru_cache(maxsize=64)
def _kept_at(place: tuple[str, ...], level: str, version: str) -> bool:
    """True when ``level`` keeps the field at ``place`` of schema ``version`` (and every object on the way)."""
    node: Node | None = policy(version)
    for part in place:
        node = None if node is None else node.items if part == "[]" else (node.children or {}).get(part)
        if node is None or removes(node.redact, level):
            return False
    return True


def legacy_value_kept(pointer: str, value: Any, level: str, version: str, record: dict[str, Any]) -> bool:
    """True for an entry of the legacy bag of ``record`` that redaction at ``level`` keeps: one of
    :data:`_LEGACY_KEPT`, or the original text of a value the record holds as it is (the item's ``args``
    string, a timestamp of another form), where the level keeps that value (it holds nothing more)."""
    rule = _LEGACY_KEPT.get(pointer)
    if rule is not None:
        return rule[1](value) and _kept_at(rule[0], level, version)
    form = _legacy_forms().get(pointer)
    if form is None or not isinstance(value, str) or not _kept_at(form[0], level, version):
        return False
    held: Any = record
    for part in form[0]:
        held = held.get(part) if isinstance(held, dict) else None
    try:
        return held is not None and form[1](value) == held
    except ValueError:
        return False


@functools.cache
def _legacy_forms() -> dict[str, tuple[tuple[str, ...], Callable[[str], Any]]]:
    """Legacy pointer -> (the 1.x value it is the original text of, the parse that gives that value)."""
    from procrecord.operations.legacy import parse_duration, parse_timestamp, split_args

    return {"/properties/args": (("invocation", "argv"), split_args),
            "/properties/start_timestamp": (("timing", "start_time"), parse_timestamp),
            "/properties/stop_timestamp": (("timing", "stop_time"), parse_timestamp),
            "/properties/end_timestamp": (("timing", "stop_time"), parse_timestamp),
            "/properties/duration": (("timing", "duration_s"), parse_duration)}


def legacy_value_hidden(pointer: str, value: Any, level: str, version: str, record: dict[str, Any]) -> bool:
    """True for an entry of the legacy bag of a redacted record that ``level`` hides: text (other than what
    it keeps), or any value of a legacy field the level removes (the gate reports it as a leak)."""
    if legacy_value_kept(pointer, value, level, version, record):
        return False
    if _holds_text(value):
        return True
    if value is None:
        return False
    path = "$" + pointer.replace("/", ".")
    return any(path == old or path.startswith((old + ".", old + "[")) for old in _removed_legacy_paths(version, level))


def _holds_text(value: Any) -> bool:
    """True for a value holding text (an empty string holds none: ``machine.arch`` of ``""``)."""
    if isinstance(value, str):
        return value != ""
    if isinstance(value, dict):
        return any(isinstance(k, str) and k for k in value) or any(map(_holds_text, value.values()))
    return isinstance(value, list) and any(map(_holds_text, value))


@functools.lru_cache(maxsize=16)
def _removed_legacy_paths(version: str, level: str) -> tuple[str, ...]:
    """The legacy places (``$.properties.machine.host``) of the fields ``level`` removes."""
    found = []
    for new, old in _legacy_paths():
        node: Node | None = policy(version)
        for part in new[2:].replace("[0]", ".[]").split("."):
            if node is None:
                break
            node = node.items if part == "[]" else (node.children or {}).get(part)
            if node is not None and removes(node.redact, level):
                found.append(old)
                break
    return tuple(found)


def _check_legacy(record: dict[str, Any], level: str) -> list[Violation]:
    """The gate for a legacy (version 0) record: the upgraded record is checked (the upgrade keeps every
    value); its note is the legacy item's ``properties.redaction`` (where a redacted legacy item keeps it)."""
    from procrecord.operations.legacy import drop_removed_sections
    from procrecord.operations.migration import upgrade

    given = record.get("properties")
    properties: dict[str, Any] = given if isinstance(given, dict) else {}
    note = properties.get("redaction")
    top = record.get("redaction")
    if note is not None:
        record = {**record, "properties": {k: v for k, v in properties.items() if k != "redaction"}}
    if isinstance(top, dict):
        # Upgraded without its note: the upgrade of a redacted item leaves out of the legacy bag what the
        # level hides, and the gate must see it (checked as the item's own text below).
        current = upgrade({k: v for k, v in record.items() if k != "redaction"})
        current = {**current, "redaction": top}
        drop_removed_sections(current, top.get("level"))
    else:
        current = upgrade(record)
    if isinstance(note, dict):
        current = {**current, "redaction": note}
    provenance = current.get("provenance")
    if isinstance(provenance, dict) and isinstance(provenance.get("legacy"), dict):
        # Values the legacy shape keeps with no 1.x home (``device_type: cuda``) are parked in the legacy
        # bag by the upgrade: in a legacy item they are its own fields, checked as free text.
        kept = provenance["legacy"]
        current = {**current, "provenance": {k: v for k, v in provenance.items() if k != "legacy"}}
        leaks = [_in_legacy_terms(v) for v in check_level(current, level)]
        _check_text(kept, "/properties", scrubber_for(current, _version_of(current, None)), leaks)
        return leaks
    return [_in_legacy_terms(v) for v in check_level(current, level)]


@functools.cache
def _legacy_paths() -> tuple[tuple[str, str], ...]:
    """Where each field the gate checks is in a legacy item (``$.host.hostname`` is ``$.properties.machine.host``),
    longest first so that a field's own place wins over its section's."""
    from procrecord.operations.legacy import MACHINE_PATHS

    pairs = {"$." + ".".join(place): f"$.properties.machine.{key}" for key, place in MACHINE_PATHS.items()}
    pairs.update({
        "$.invocation.argv": "$.properties.args", "$.invocation.config": "$.properties.config",
        "$.name": "$.properties.name", "$.id": "$.properties.uuid", "$.extra": "$.properties.extra",
        "$.emissions.emissions_kg": "$.properties.emissions.co2_kg", "$.emissions.energy_kwh": "$.properties.emissions.total_kWH",
        "$.emissions.run_id": "$.properties.emissions.run_id", "$.disks[0].path": "$.properties.disk_info.path",
        "$.disks[0].device": "$.properties.disk_info.source", "$.disks[0].filesystem": "$.properties.disk_info.filesystem",
        "$.devices[0].name": "$.properties.device_info.device_name",
        "$.timing.start_time": "$.properties.start_timestamp", "$.timing.stop_time": "$.properties.stop_timestamp",
    })
    return tuple(sorted(pairs.items(), key=lambda pair: -len(pair[0])))


def _in_legacy_terms(violation: Violation) -> Violation:
    """A finding of the upgraded record, at the place of the legacy item it came from (where the item
    has one: the note is looked for beside ``type`` and ``properties``, where a downgrade writes it)."""
    path = violation.path
    for new, old in _legacy_paths():
        if path == new or path.startswith((new + ".", new + "[")):
            return attrs.evolve(violation, path=old + path[len(new):])
    return violation


def _check(value: Any, node: Node, pointer: str, level: str, tokens: set[str], scrubber: Scrubber,
           scrub: bool, leaks: list[Violation]) -> None:
    if isinstance(value, dict) and node.children is not None:
        for key, sub in value.items():
            if pointer == "" and key == "redaction":
                continue
            here = f"{pointer}/{escape(key)}"
            child = node.children.get(key)
            if child is None:
                if scrub:
                    _check_text(sub, here, scrubber, leaks)
            elif removes(child.redact, level) and not (here in tokens and isinstance(sub, str) and _TOKEN.match(sub)):
                leaks.append(Violation(_pointer_to_path(here), f"field removed at level {level!r} is present", "x-redact"))
            elif not (child.children is None and child.items is None and isinstance(sub, str) and is_version_key(key)
                      and version_kept(key, sub, scrubber.scrub(sub)[1])):  # a version kept (see _scrub_version)
                _check(sub, child, here, level, tokens, scrubber, scrub or child.scrub, leaks)
    elif isinstance(value, list) and node.items is not None and node.items.children is not None:
        for i, item in enumerate(value):
            _check(item, node.items, f"{pointer}/{i}", level, tokens, scrubber, scrub, leaks)
    elif scrub:
        _check_text(value, pointer, scrubber, leaks)


def _check_text(value: Any, pointer: str, scrubber: Scrubber, leaks: list[Violation]) -> None:
    if isinstance(value, str):
        for rule in scrubber.detect(value):
            leaks.append(Violation(_pointer_to_path(pointer), f"text still matches scrub rule {rule!r}", "x-scrub"))
    elif isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            for rule in scrubber.scrub_argv(value)[1]:
                leaks.append(Violation(_pointer_to_path(pointer), f"text still matches scrub rule {rule!r}", "x-scrub"))
        else:
            for i, item in enumerate(value):
                _check_text(item, f"{pointer}/{i}", scrubber, leaks)
    elif isinstance(value, dict):
        parent = pointer.rpartition("/")[2]
        pair = pair_secret(value)
        for key, sub in value.items():
            here = f"{pointer}/{escape(key)}"
            if pair is not None and key == pair[0]:
                leaks.append(Violation(_pointer_to_path(here), f"value of the secret named {pair[2]!r}",
                                       "x-scrub"))
            elif hides(key, sub, parent) is not None:
                leaks.append(Violation(_pointer_to_path(here), f"value under secret-named key {key!r}", "x-scrub"))
            else:
                for rule in scrubber.scrub_key(key)[1]:  # (a key as the walk scrubs keys)
                    leaks.append(Violation(_pointer_to_path(here), f"text still matches scrub rule {rule!r}", "x-scrub"))
                if not (isinstance(sub, str) and (is_version_key(key) or is_versions_mapping(parent))
                        and version_kept(key, sub, scrubber.scrub(sub)[1], parent)):
                    _check_text(sub, here, scrubber, leaks)


def _pointer_to_path(pointer: str) -> str:
    from procrecord.record.validation import json_path

    return json_path([int(part) if part.isdigit() else part for part in tokens(pointer)])
