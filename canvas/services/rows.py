"""Plain parameterised inserts for the entry hot path.

Entering 10,000 users writes 30,000 rows; building them as model instances and letting
bulk_create compile them took most of an entry's time (the database itself ~7 %). Here
rows are tuples and one prepared statement runs for all of them (executemany: sqlite3's C
loop, psycopg's pipeline), with values adapted the way Django's fields would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import orjson
from django.db import connection
from django.db.models import Model


def db_datetime(value: datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def db_json(value) -> str:
    return orjson.dumps(value).decode()


def _table(model: type[Model], columns: Sequence[str]) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return (quote(model._meta.db_table), ", ".join(quote(c) for c in columns),
            ", ".join(["%s"] * len(columns)))


def rows_insert(*, model: type[Model], columns: Sequence[str], rows: Iterable[tuple]) -> None:
    table, names, marks = _table(model, columns)
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))


def rows_upsert(*, model: type[Model], columns: Sequence[str], conflict: Sequence[str],
                update: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert, or update ``update`` columns of the row that has the same ``conflict`` key."""
    table, names, marks = _table(model, columns)
    quote = connection.ops.quote_name
    keys = ", ".join(quote(c) for c in conflict)
    sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT ({keys}) DO UPDATE SET {sets}", list(rows))
