"""Step counters: one upsert per batch of events, in the transaction of the state change."""

from datetime import datetime

from django.db import connection
from django.utils import timezone

from canvas.models import StepStats

COUNTERS = ("entered", "proceeded", "synced", "not_synced", "errored", "exited")


def minute_bucket(moment: datetime | None = None) -> datetime:
    return (moment or timezone.now()).replace(second=0, microsecond=0)


def step_stats_add(*, increments: dict[int, dict[str, int]], at: datetime | None = None) -> None:
    """Add ``{step_id: {counter: n}}`` to the current minute's buckets in one statement."""
    rows = [(step_id, counts) for step_id, counts in increments.items() if any(counts.values())]
    if not rows:
        return
    table = StepStats._meta.db_table
    bucket = minute_bucket(at)
    placeholders = ", ".join(["(" + ", ".join(["%s"] * (2 + len(COUNTERS))) + ")"] * len(rows))
    params: list = []
    for step_id, counts in rows:
        params += [step_id, bucket, *[counts.get(name, 0) for name in COUNTERS]]
    columns = ", ".join(COUNTERS)
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in COUNTERS)
    sql = (
        f"INSERT INTO {table} (step_id, bucket, {columns}) VALUES {placeholders} "
        f"ON CONFLICT (step_id, bucket) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
