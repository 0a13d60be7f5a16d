"""Plain parameterised inserts for the entry hot path.

Entering 10,000 users writes 30,000 rows; building them as model instances and letting
bulk_create compile them took most of an entry's time (the database itself ~7 %). Here
rows are tuples, adapted the way Django's fields would. PostgreSQL takes them by COPY (an
upsert copies into a temporary table, then inserts from it); SQLite by one prepared
statement run for all of them (executemany, sqlite3's C loop).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import orjson
from django.db import connection
from django.db.models import Model
from django.db.models.expressions import RawSQL


def db_datetime(value: datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def db_json(value) -> str:
    return orjson.dumps(value).decode()


def any_of(values: Sequence, *, db_type: str):
    """The right-hand side of ``field__in`` for thousands of values.

    On PostgreSQL, one array parameter instead of a placeholder per value: psycopg takes a
    while to parse a query with 10,000 of them. ``db_type`` is the column's type ("bigint",
    "text"); elsewhere the values are returned as they are.
    """
    if connection.vendor != "postgresql":
        return values
    return RawSQL(f"SELECT unnest(%s::{db_type}[])", (list(values),))


def _table(model: type[Model], columns: Sequence[str]) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return (quote(model._meta.db_table), ", ".join(quote(c) for c in columns),
            ", ".join(["%s"] * len(columns)))


def rows_insert(*, model: type[Model], columns: Sequence[str], rows: Iterable[tuple]) -> None:
    table, names, marks = _table(model, columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _copy(cursor, table, names, rows)
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))


def rows_upsert(*, model: type[Model], columns: Sequence[str], conflict: Sequence[str],
                update: Sequence[str], rows: Iterable[tuple],
                set_sql: Mapping[str, str] | None = None) -> None:
    """Insert, or update ``update`` columns of the row that has the same ``conflict`` key.

    With no ``update`` columns, a row whose key exists is left alone. ``set_sql`` gives
    the SQL of some updated columns instead of the new value (``{table}`` stands for the
    existing row, ``excluded`` for the new one), for counters that add up. On PostgreSQL
    rows are written in the order of their ``conflict`` key, so two calls upserting
    overlapping rows lock them in the same order and never deadlock (SQLite has one writer
    at a time).
    """
    table, names, marks = _table(model, columns)
    quote = connection.ops.quote_name
    keys = ", ".join(quote(c) for c in conflict)
    set_sql = set_sql or {}
    sets = ", ".join(
        f"{quote(c)} = " + (set_sql[c].format(table=table) if c in set_sql
                            else f"excluded.{quote(c)}")
        for c in update)
    on_conflict = (f"ON CONFLICT ({keys}) DO UPDATE SET {sets}" if update
                   else f"ON CONFLICT ({keys}) DO NOTHING")
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", list(rows))
            return
        staging = quote(f"staging_{uuid.uuid4().hex}")
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
                       f"SELECT {names} FROM {table} WITH NO DATA")
        _copy(cursor, staging, names, rows)
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
                       f"ORDER BY {keys} {on_conflict}")
        cursor.execute(f"DROP TABLE {staging}")


def _copy(cursor, table: str, names: str, rows: Iterable[tuple]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
