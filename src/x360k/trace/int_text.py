"""Integers written as text: what other emulators put in a trace's integer fields.

Our writers store every integer field as a JSON number, but tools written
around Xenia and other emulators write ``"status": "0xC0000008"`` and
``"handle": "0xF8000010"``. Every reader accepts, in an integer field, a JSON
integer or a string spelling one: decimal (``"12"``, ``"-5"``) or ``0x``-prefixed
hex in either case (``"0xC0000008"``, ``"0Xc0000008"``). Nothing else (no
floats, booleans, signs on hex, surrounding blanks, underscores) is an integer.

:data:`INT_TEXT_PATTERN` is the one definition, in a syntax both Python's ``re``
and DuckDB's RE2 accept, so the typed (msgspec) and the bulk (DuckDB) paths
agree on what is valid; :func:`duckdb_int_sql` is its SQL form for any code
that hands JSON to DuckDB.
"""

from __future__ import annotations

import re
from typing import Final

#: A decimal integer or 0x-prefixed hex (RE2 and Python ``re`` syntax, full match).
INT_TEXT_PATTERN: Final = r"-?[0-9]+|0[xX][0-9A-Fa-f]+"
_INT_TEXT: Final = re.compile(INT_TEXT_PATTERN)


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


def duckdb_int_sql(column: str, sql_type: str) -> str:
    """SQL turning a VARCHAR ``column`` (a JSON number or string) into ``sql_type``.

    Values that :data:`INT_TEXT_PATTERN` does not match make the query fail
    (DuckDB's ``error()``), as does a value out of ``sql_type``'s range; a
    reader catches that and lets its typed path name the line.
    """
    quoted = f'"{column}"'
    return (
        f"CASE WHEN {quoted} IS NULL THEN NULL "
        f"WHEN regexp_full_match({quoted}, '{INT_TEXT_PATTERN}') "
        f"THEN CAST({quoted} AS {sql_type}) "
        f"ELSE error('field {column}: not an integer') END"
    )


#: DuckDB's integer types: the columns :func:`strict_read_json` reads as text first.
DUCKDB_INTEGER_TYPES: Final = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)


def strict_read_json(columns: dict[str, str], source: str) -> str:
    """A query reading JSON Lines ``source`` (SQL text) with ``columns`` typed, integers strictly.

    DuckDB's JSON reader casts whatever a field holds to the column's type:
    ``1.5`` becomes 2, ``true`` 1, ``"1e3"`` 1000, ``" 12"`` 12. The typed
    path refuses all of these, so integer columns are read as text here and
    cast through :func:`duckdb_int_sql`: the same values fail the query, and
    the reader's typed path takes over and names the file and line.
    """
    spec = ", ".join(
        f"'{name}': '{'VARCHAR' if sql_type in DUCKDB_INTEGER_TYPES else sql_type}'"
        for name, sql_type in columns.items()
    )
    select = ", ".join(
        f'{duckdb_int_sql(name, sql_type)} AS "{name}"'
        if sql_type in DUCKDB_INTEGER_TYPES
        else f'"{name}"'
        for name, sql_type in columns.items()
    )
    return (
        f"SELECT {select} FROM read_json({source}, format='newline_delimited', "
        f"columns={{{spec}}}, ignore_errors=false)"
    )
