"""JSON text in and out: orjson, with integers beyond 64 bits kept exact.

orjson reads an integer outside the 64-bit range as the nearest float and refuses to write one. A
record can hold such a number (a 128-bit seed or a hash kept as an integer in a config), so a
rewrite would change it silently and the writer would fail to write it. Here, text that may hold
one (an integer literal of 19 digits or more, found with a few C calls; long fractions such as
kwcoco's scores do not count) is read again by the standard library, which keeps integers exact,
and a value orjson cannot write is written by the standard library instead.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: Every digit to ``0``; ``.``, ``e``/``E``, ``-`` and ``+`` to themselves (``e`` for ``E``); every
#: other byte to a space. An integer literal then reads `` 000…`` or `` -000…``: a fraction
#: (``.000…``) or an exponent (``e000…``, ``e-000…``) never starts with a space.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else b if b in b".e-+" else 0x65 if b == 0x45 else 0x20
                for b in range(256))
_RUN = b"0" * 19  # the shortest integer literal that can fall outside [-2**63, 2**64)
_INTEGER, _NEGATIVE = b" " + _RUN, b" -" + _RUN


class ExactnessError(ValueError):
    """Text orjson accepted that the standard library cannot read exactly (nesting, digit limits)."""


def may_hold_big_integer(data: bytes) -> bool:
    """False when ``data`` holds no integer literal of 19 digits or more, so orjson reads every
    integer in it exactly. Long fractions and exponents (``0.0016622953670337726``) do not count."""
    marks = data.translate(_DIGITS)
    # A run of 19 digits is rare and cheap to look for; the searches for a run after a space are
    # slow in indented text (every space starts a candidate), so they run only when one exists.
    if _RUN not in marks:
        return False
    return _INTEGER in marks or _NEGATIVE in marks or marks.startswith((_RUN, b"-" + _RUN))


def loads_exact(data: bytes) -> Any:
    """``orjson.loads(data)``, except that integers beyond 64 bits stay ``int``.

    Raises :class:`orjson.JSONDecodeError` for what orjson rejects, :class:`ExactnessError` when the
    text is valid but cannot be read again exactly.
    """
    return exact_again(data, orjson.loads(data))


def exact_again(data: bytes, value: Any) -> Any:
    """``value``, which orjson parsed from ``data``, or ``data`` read again by the standard library when it
    may hold an integer beyond 64 bits (which orjson read as a float); raises as :func:`loads_exact`."""
    if not may_hold_big_integer(data):
        return value
    # orjson has already checked the text (strict JSON: no NaN, UTF-8, nesting), so the standard
    # library reads the same document, integers aside.
    try:
        return json.loads(data)
    except RecursionError:
        raise ExactnessError("nested too deeply to read its integers of more than 64 bits exactly") from None
    except ValueError as exc:  # e.g. more digits than int() converts
        raise ExactnessError(f"cannot read its integers exactly: {exc}") from None


_OPTIONS = {(False, False): 0, (True, False): orjson.OPT_INDENT_2, (False, True): orjson.OPT_SORT_KEYS,
            (True, True): orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS}


def dumps(value: Any, indent: bool = False, sort_keys: bool = False) -> bytes:
    """``orjson.dumps`` (compact, or indented by 2), falling back to the standard library for
    integers beyond 64 bits. Text that is not Unicode (lone surrogates: how Python decodes a command
    line argument or a path that is not UTF-8) is written with its odd characters escaped (``\\xff``).
    Other values orjson refuses still raise its ``TypeError``."""
    try:
        return orjson.dumps(value, option=_OPTIONS[indent, sort_keys])
    except TypeError as exc:
        message = str(exc)
        if "surrogates" in message:
            return dumps(without_surrogates(value), indent, sort_keys)
        if "exceeds 64-bit range" not in message:
            raise
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=sort_keys,
                              indent=2 if indent else None, separators=(",", ": ") if indent else (",", ":"))
        except (TypeError, ValueError):
            raise exc from None
        try:
            return text.encode()
        except UnicodeEncodeError:
            return dumps(without_surrogates(value), indent, sort_keys)


def without_surrogates(value: Any) -> Any:
    """``value`` with every string (and key) made valid Unicode: the bytes that ``surrogateescape``
    kept become ``\\xNN``, any other lone surrogate ``\\udNNN``."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(k) if isinstance(k, str) else k: without_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_surrogates(v) for v in value]
    return value


def _text(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode()
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate surrogateescape did not make
        return text.encode("utf-8", "backslashreplace").decode()
