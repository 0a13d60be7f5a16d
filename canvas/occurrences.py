"""When a scheduled canvas runs: its occurrences, as UTC instants, from its wall-clock rule.

Pure functions of the canvas's schedule fields, its launch time and the workspace's time
zone; no database. The rules the product promises:

- a monthly day past the end of a shorter month (the 31st in April) runs on its last day;
- a local time that does not exist (clocks jump forward over it) runs at the next minute
  that does; one that occurs twice (clocks fall back) runs once, at its first occurrence;
- an occurrence before the launch never runs (except "at launch", which is the launch).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from canvas.models import Canvas, EntryMode, ScheduleKind

# How far back and ahead a recurring rule is searched: over a month, so a monthly rule
# always has an occurrence inside it, whatever the month lengths.
_SEARCH_DAYS = 62
# A clock change skips at most a few hours of wall time.
_MAX_GAP_MINUTES = 24 * 60


def zone_get(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_names() -> list[str]:
    return sorted(available_timezones() - {"localtime", "Factory"})


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``zone``, by the DST rules above."""
    wall = datetime.combine(day, at.replace(second=0, microsecond=0))
    for minutes in range(_MAX_GAP_MINUTES):
        candidate = (wall + timedelta(minutes=minutes)).replace(tzinfo=zone, fold=0)
        # A wall time that does not exist does not survive the round trip through UTC.
        if candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) \
                == candidate.replace(tzinfo=None):
            return candidate.astimezone(UTC)
    raise ValueError(f"No valid wall time near {wall} in {zone}.")


def _runs_on(canvas: Canvas, day: date) -> bool:
    kind = canvas.schedule_kind
    if kind == ScheduleKind.DAILY:
        return True
    if kind == ScheduleKind.WEEKLY:
        return day.weekday() in (canvas.schedule_weekdays or [])
    if kind == ScheduleKind.MONTHLY:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(canvas.schedule_monthday or 1, last)
    return False


def _day_instant(canvas: Canvas, day: date, zone: ZoneInfo) -> datetime | None:
    if not _runs_on(canvas, day):
        return None
    if canvas.schedule_end_date and day > canvas.schedule_end_date:
        return None
    return local_instant(day, canvas.schedule_time, zone)


def occurrence_latest_due(*, canvas: Canvas, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The latest occurrence at or before ``now`` (None: none is due yet, or ever).

    Only the latest: occurrences missed while no cluster ran are not caught up one by
    one; the one run when a cluster comes back stands for them.
    """
    if canvas.entry_mode != EntryMode.SCHEDULED or canvas.launched_at is None:
        return None
    kind = canvas.schedule_kind
    if kind == ScheduleKind.AT_LAUNCH:
        return canvas.launched_at
    if canvas.schedule_time is None:
        return None
    if kind == ScheduleKind.ONCE:
        if canvas.schedule_date is None:
            return None
        at = local_instant(canvas.schedule_date, canvas.schedule_time, zone)
        return at if canvas.launched_at <= at <= now else None
    today = now.astimezone(zone).date()
    for back in range(_SEARCH_DAYS):
        at = _day_instant(canvas, today - timedelta(days=back), zone)
        if at is None or at > now:
            continue
        return at if at >= canvas.launched_at else None
    return None


def occurrence_next(*, canvas: Canvas, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first occurrence after ``after`` (for the canvas page), if the schedule has one."""
    if canvas.entry_mode != EntryMode.SCHEDULED:
        return None
    kind = canvas.schedule_kind
    if kind == ScheduleKind.AT_LAUNCH:
        return None if canvas.launched_at else after
    if canvas.schedule_time is None:
        return None
    start = max(after, canvas.launched_at or after)
    if kind == ScheduleKind.ONCE:
        if canvas.schedule_date is None:
            return None
        at = local_instant(canvas.schedule_date, canvas.schedule_time, zone)
        return at if at > start else None
    first = start.astimezone(zone).date()
    for ahead in range(_SEARCH_DAYS):
        day = first + timedelta(days=ahead)
        if canvas.schedule_end_date and day > canvas.schedule_end_date:
            return None
        at = _day_instant(canvas, day, zone)
        if at is not None and at > start:
            return at
    return None


def local_day_start(*, zone: ZoneInfo, now: datetime) -> datetime:
    """The UTC instant the workspace's current local day began (for the daily entry cap)."""
    return local_instant(now.astimezone(zone).date(), time(0, 0), zone)
