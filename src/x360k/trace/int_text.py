"""Integers written as text: what other emulators put in a trace's integer fields.

Our writers store every integer field as a JSON number, but tools written
around Xenia and other emulators write ``"status": "0xC0000008"`` and
``"handle": "0xF8000010"``. Every reader accepts, in an integer field, a JSON
integer or a string spelling one: decimal (``"12"``, ``"-5"``) or ``0x``-prefixed
hex in either case (``"0xC0000008"``, ``"0Xc0000008"``). Nothing else (no
floats, booleans, signs on hex, surrounding blanks, underscores) is an integer.

The unsigned fields C code writes signed (``columns.SIGNED_WRITTEN``: status
and handle) may be: an NTSTATUS is a signed ``LONG`` (``"status": -1073741816``
is 0xC0000008) and pseudo-handles are small negative numbers (``"handle": -2`` is
0xFFFFFFFE). A negative value the signed type of the field's width holds reads as
its two's complement (:func:`as_unsigned`); anything lower is out of range.

:data:`INT_TEXT_PATTERN` is the one definition, in a syntax both Python's ``re``
and DuckDB's RE2 accept, so the typed (msgspec) and the bulk (DuckDB) paths
agree on what is valid; :func:`duckdb_int_sql` is its SQL form for any code
that hands JSON to DuckDB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

#: A decimal integer or 0x-prefixed hex (RE2 and Python ``re`` syntax, full match).
INT_TEXT_PATTERN: Final = r"-?[0-9]+|0[xX][0-9A-Fa-f]+"
_INT_TEXT: Final = re.compile(INT_TEXT_PATTERN)


#: What a JSON value other than a string becomes in DuckDB's ``VARCHAR[]`` (a number, a
#: boolean, null's text, an object or array as JSON text). Items starting ``0x`` never match.
NON_STRING_ITEM_PATTERN: Final = (
    r"^(?:-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|true|false|null|[\[{].*)$"
)


def args_may_not_be_strings(items: Any) -> bool:
    """Whether a bulk read's flattened ``args`` items (an Arrow string array) hold a null or
    one that a JSON value other than a string would have made (:data:`NON_STRING_ITEM_PATTERN`).

    The bulk readers then hand the file to the typed path, which writes a number as hex
    and names anything else; a string that only looks like one (``"true"``) reads the same
    there. Arrow's kernels come from :mod:`x360k.trace.arrowfn` (a small diff must not pay
    for importing ``pyarrow.compute``).
    """
    from x360k.trace import arrowfn as af

    if not len(items):
        return False
    if items.null_count:
        return True
    rest = af.filter_by(items, af.invert(af.starts_with(items, "0x")))
    return bool(len(rest)) and af.any_true(af.match_substring_regex(rest, NON_STRING_ITEM_PATTERN))


def parse_int_text(text: str) -> int:
    """The integer a string spells, or ``ValueError`` saying why it is none."""
    if _INT_TEXT.fullmatch(text) is None:
        raise ValueError(f"{text!r} is neither an integer nor 0x-prefixed hex")
    if text[:2] in ("0x", "0X"):
        return int(text[2:], 16)
    return int(text, 10)


def int_value(value: int | str) -> int:
    """A JSON integer field's value, given as a number or as text."""
    if isinstance(value, str):
        return parse_int_text(value)
    return value


def as_unsigned(number: int, high: int) -> int:
    """``number`` as a field of unsigned range 0..``high`` (2**n - 1) holds it: a negative
    value of the signed n-bit range as its two's complement, any other value unchanged
    (for the caller's range check to refuse if it does not fit)."""
    if -((high + 1) >> 1) <= number < 0:
        return number & high
    return number


def duckdb_int_sql(column: str, sql_type: str, unsigned_high: int | None = None) -> str:
    """SQL turning a VARCHAR ``column`` (a JSON number or string) into ``sql_type``.

    Values that :data:`INT_TEXT_PATTERN` does not match make the query fail
    (DuckDB's ``error()``), as does a value out of ``sql_type``'s range; a
    reader catches that and lets its typed path name the line.
    ``unsigned_high``: the field is unsigned of that range (0..2**n - 1), so a
    negative value is read as :func:`as_unsigned` reads it.
    """
    quoted = f'"{column}"'
    signed = ""
    if unsigned_high is not None:
        wide = f"CAST({quoted} AS HUGEINT)"
        signed = (
            f"WHEN starts_with({quoted}, '-') AND regexp_full_match({quoted}, '-[0-9]+') "
            f"AND {wide} >= -{(unsigned_high + 1) >> 1} "
            f"THEN CAST({wide} + {unsigned_high + 1} AS {sql_type}) "
        )
    return (
        f"CASE WHEN {quoted} IS NULL THEN NULL "
        f"{signed}"
        f"WHEN regexp_full_match({quoted}, '{INT_TEXT_PATTERN}') "
        f"THEN CAST({quoted} AS {sql_type}) "
        f"ELSE error('field {column}: not an integer') END"
    )


#: DuckDB's integer types: the columns :func:`strict_read_json` reads as text first.
DUCKDB_INTEGER_TYPES: Final = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)


def strict_read_json(
    columns: dict[str, str], source: str, unsigned: Mapping[str, int] | None = None
) -> str:
    """A query reading JSON Lines ``source`` (SQL text) with ``columns`` typed, integers strictly.

    DuckDB's JSON reader casts whatever a field holds to the column's type:
    ``1.5`` becomes 2, ``true`` 1, ``"1e3"`` 1000, ``" 12"`` 12. The typed
    path refuses all of these, so integer columns are read as text here and
    cast through :func:`duckdb_int_sql`: the same values fail the query, and
    the reader's typed path takes over and names the file and line.
    ``unsigned``: by name, the highest value of each unsigned field that may be written
    signed (``columns.SIGNED_WRITTEN``): its negative values are read as two's complement
    of the field's width, not the column's.
    """
    unsigned = unsigned or {}
    spec = ", ".join(
        f"'{name}': '{'VARCHAR' if sql_type in DUCKDB_INTEGER_TYPES else sql_type}'"
        for name, sql_type in columns.items()
    )
    select = ", ".join(
        f'{duckdb_int_sql(name, sql_type, unsigned.get(name))} AS "{name}"'
        if sql_type in DUCKDB_INTEGER_TYPES
        else f'"{name}"'
        for name, sql_type in columns.items()
    )
    return (
        f"SELECT {select} FROM read_json({source}, format='newline_delimited', "
        f"columns={{{spec}}}, ignore_errors=false)"
    )
