"""When a scheduled canvas runs: each schedule kind, the short-month and daylight-saving
rules, an end date, and nothing before the launch (the canvas's wall-clock rule in its
workspace's time zone, to UTC instants)."""

from datetime import UTC, date, datetime, time

import pytest

from canvas.models import Canvas, EntryMode, ScheduleKind
from canvas.occurrences import local_instant, occurrence_latest_due, occurrence_next, zone_get

PARIS = zone_get("Europe/Paris")
NEW_YORK = zone_get("America/New_York")


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


NEW_YEAR = utc(2026, 1, 1)


def scheduled(kind, *, launched=NEW_YEAR, **fields) -> Canvas:
    return Canvas(entry_mode=EntryMode.SCHEDULED, schedule_kind=kind, launched_at=launched,
                  **fields)


def test_at_launch_runs_at_the_launch_and_an_api_canvas_never_runs():
    canvas = scheduled(ScheduleKind.AT_LAUNCH, launched=utc(2026, 5, 4, 10, 17))
    assert occurrence_latest_due(canvas=canvas, zone=PARIS, now=utc(2026, 6, 1)) == \
        utc(2026, 5, 4, 10, 17)
    api = Canvas(entry_mode=EntryMode.API, launched_at=utc(2026, 5, 4))
    assert occurrence_latest_due(canvas=api, zone=PARIS, now=utc(2026, 6, 1)) is None


def test_once_runs_at_its_local_date_and_time_and_not_before():
    canvas = scheduled(ScheduleKind.ONCE, schedule_date=date(2026, 7, 14),
                       schedule_time=time(9, 30))
    # 09:30 in Paris in July is 07:30 UTC (summer time).
    assert occurrence_latest_due(canvas=canvas, zone=PARIS, now=utc(2026, 7, 14, 7, 29)) is None
    assert occurrence_latest_due(canvas=canvas, zone=PARIS, now=utc(2026, 7, 14, 7, 30)) == \
        utc(2026, 7, 14, 7, 30)
    assert occurrence_next(canvas=canvas, zone=PARIS, after=utc(2026, 7, 1)) == \
        utc(2026, 7, 14, 7, 30)


def test_daily_runs_every_day_at_its_local_time():
    canvas = scheduled(ScheduleKind.DAILY, schedule_time=time(9, 0))
    # 09:00 in Paris in winter is 08:00 UTC.
    assert occurrence_latest_due(canvas=canvas, zone=PARIS, now=utc(2026, 2, 3, 7, 59)) == \
        utc(2026, 2, 2, 8, 0)
    assert occurrence_latest_due(canvas=canvas, zone=PARIS, now=utc(2026, 2, 3, 8, 0)) == \
        utc(2026, 2, 3, 8, 0)
    assert occurrence_next(canvas=canvas, zone=PARIS, after=utc(2026, 2, 3, 8, 0)) == \
        utc(2026, 2, 4, 8, 0)


def test_weekly_runs_on_its_days_of_the_week():
    # Monday (0) and Thursday (3); 2026-02-02 is a Monday.
    canvas = scheduled(ScheduleKind.WEEKLY, schedule_time=time(18, 0), schedule_weekdays=[0, 3])
    due = occurrence_latest_due(canvas=canvas, zone=NEW_YORK, now=utc(2026, 2, 4, 12, 0))
    assert due == utc(2026, 2, 2, 23, 0)  # Monday 18:00 EST
    assert occurrence_next(canvas=canvas, zone=NEW_YORK, after=due) == utc(2026, 2, 5, 23, 0)
    assert occurrence_next(canvas=canvas, zone=NEW_YORK, after=utc(2026, 2, 5, 23, 0)) == \
        utc(2026, 2, 9, 23, 0)


def test_monthly_runs_on_its_day_and_on_the_last_day_of_a_shorter_month():
    canvas = scheduled(ScheduleKind.MONTHLY, schedule_time=time(6, 0), schedule_monthday=31)
    zone = zone_get("UTC")
    assert occurrence_next(canvas=canvas, zone=zone, after=utc(2026, 1, 31, 6, 0)) == \
        utc(2026, 2, 28, 6, 0)
    assert occurrence_next(canvas=canvas, zone=zone, after=utc(2026, 3, 31, 6, 0)) == \
        utc(2026, 4, 30, 6, 0)
    assert occurrence_next(canvas=canvas, zone=zone, after=utc(2028, 2, 1)) == \
        utc(2028, 2, 29, 6, 0)  # a leap year
    assert occurrence_latest_due(canvas=canvas, zone=zone, now=utc(2026, 5, 15)) == \
        utc(2026, 4, 30, 6, 0)


def test_nothing_runs_after_the_last_day_or_before_the_launch():
    canvas = scheduled(ScheduleKind.DAILY, schedule_time=time(9, 0),
                       schedule_end_date=date(2026, 3, 10), launched=utc(2026, 3, 5, 12, 0))
    zone = zone_get("UTC")
    assert occurrence_latest_due(canvas=canvas, zone=zone, now=utc(2026, 3, 20)) == \
        utc(2026, 3, 10, 9, 0)
    assert occurrence_next(canvas=canvas, zone=zone, after=utc(2026, 3, 10, 9, 0)) is None
    # Launched at 12:00: that morning's 09:00 is not due, the next one is the first.
    assert occurrence_latest_due(canvas=canvas, zone=zone, now=utc(2026, 3, 5, 13, 0)) is None
    assert occurrence_next(canvas=canvas, zone=zone, after=utc(2026, 3, 5, 13, 0)) == \
        utc(2026, 3, 6, 9, 0)


def test_a_local_time_skipped_by_the_clocks_runs_at_the_next_valid_minute():
    # 2026-03-29 in Paris: 02:00 jumps to 03:00, so 02:30 does not exist.
    assert local_instant(date(2026, 3, 29), time(2, 30), PARIS) == utc(2026, 3, 29, 1, 0)
    canvas = scheduled(ScheduleKind.DAILY, schedule_time=time(2, 30))
    assert occurrence_next(canvas=canvas, zone=PARIS, after=utc(2026, 3, 28, 12)) == \
        utc(2026, 3, 29, 1, 0)
    assert occurrence_next(canvas=canvas, zone=PARIS, after=utc(2026, 3, 29, 1, 0)) == \
        utc(2026, 3, 30, 0, 30)  # 02:30 summer time


def test_a_local_time_that_occurs_twice_runs_once_at_its_first_occurrence():
    # 2026-10-25 in Paris: 03:00 falls back to 02:00, so 02:30 happens at 00:30 and 01:30 UTC.
    canvas = scheduled(ScheduleKind.DAILY, schedule_time=time(2, 30))
    first = occurrence_next(canvas=canvas, zone=PARIS, after=utc(2026, 10, 24, 12))
    assert first == utc(2026, 10, 25, 0, 30)
    assert occurrence_next(canvas=canvas, zone=PARIS, after=first) == utc(2026, 10, 26, 1, 30)
    # An hour later, at the second 02:30, the latest due occurrence is still the first one.
    assert occurrence_latest_due(canvas=canvas, zone=PARIS, now=utc(2026, 10, 25, 1, 45)) == first


@pytest.mark.parametrize("zone_name", ["UTC", "Europe/Paris", "America/New_York",
                                       "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_every_day_of_a_year_has_exactly_one_daily_occurrence(zone_name):
    zone = zone_get(zone_name)
    canvas = scheduled(ScheduleKind.DAILY, schedule_time=time(2, 15), launched=utc(2025, 12, 30))
    seen, at = [], utc(2025, 12, 31, 12)
    while not seen or seen[-1] < date(2026, 12, 31):
        at = occurrence_next(canvas=canvas, zone=zone, after=at)
        seen.append(at.astimezone(zone).date())
    assert seen == [date.fromordinal(date(2026, 1, 1).toordinal() + n) for n in range(365)]
