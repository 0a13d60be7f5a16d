"""Step counters: one upsert per batch of events, in the transaction of the state change."""

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
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
    # Stored exactly as the ORM stores it (SQLite: naive UTC text), so ORM lookups by bucket match.
    bucket = connection.ops.adapt_datetimefield_value(minute_bucket(at))
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


class StatsDrift(Exception):
    """The counters no longer match the outbox (the reconcile task reports where)."""


def step_stats_subtract(*, step_id: int, counter: str, by_bucket: dict[datetime, int]) -> None:
    """Take ``{bucket: n}`` back from the minute buckets that counted them, in one statement.

    For an outcome that is undone (an errored user requeued): the history then reads as if
    it never happened, and every bucket stays a non-negative count.
    """
    by_bucket = {minute_bucket(bucket): n for bucket, n in by_bucket.items() if n}
    if not by_bucket:
        return
    amount = Case(*[When(bucket=bucket, then=Value(n)) for bucket, n in by_bucket.items()],
                  default=Value(0))
    try:
        with transaction.atomic():
            taken = StepStats.objects.filter(step_id=step_id, bucket__in=list(by_bucket)).update(
                **{counter: F(counter) - amount})
    except IntegrityError as error:  # a bucket would go below zero
        raise StatsDrift(f"Step {step_id}: a minute bucket holds fewer {counter} users than "
                         "are taken back.") from error
    if taken != len(by_bucket):
        raise StatsDrift(f"Step {step_id}: {len(by_bucket) - taken} minute bucket(s) that counted "
                         f"these {counter} users are missing.")
