"""Analytics worth opening: a canvas funnel above the step tables, time ranges with buckets
that fit them, a chart whose values show on hover, and how many wait in each Delay."""

import re
from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from canvas.models import Step
from canvas.selectors import TIME_RANGES, canvas_funnel, step_series_over
from canvas.services.entry import canvas_enter_users
from canvas.services.stats import step_stats_add
from tests import builders


def test_the_funnel_counts_entered_in_progress_exited_and_who_waits_in_the_delay(
        owner_client, sync_canvas):
    canvas_enter_users(canvas=sync_canvas, users=builders.users(5))
    delay = sync_canvas.steps.get(kind="delay")
    sync_canvas.entries.filter(profile__external_id__in=["u0", "u1"]).update(
        exited_at=timezone.now(), current_step=None)

    funnel = canvas_funnel(canvas=sync_canvas)
    page = owner_client.get(reverse("canvas:analytics", args=[sync_canvas.pk])).content.decode()
    detail = owner_client.get(reverse("canvas:detail", args=[sync_canvas.pk])).content.decode()

    assert (funnel.entered, funnel.in_progress, funnel.exited) == (5, 3, 2)
    assert funnel.waiting == {delay.pk: 3}
    assert re.search(r'data-funnel="in_progress">3<', page)
    assert re.search(rf'<tr data-step="{delay.pk}">.*?data-funnel="waiting">3<', page, re.S)
    assert "3 waiting here now" in detail


def _counts(step: Step, at, **counters):
    with time_machine.travel(at, tick=False):
        step_stats_add(increments={step.pk: counters})


def test_each_time_range_has_a_point_per_bucket_and_cumulative_levels(sync_canvas):
    step = sync_canvas.steps.get(kind="audience_sync")
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    _counts(step, now - timedelta(days=10), entered=4, synced=4)   # before every short range
    _counts(step, now - timedelta(hours=3), entered=6, synced=1)
    _counts(step, now - timedelta(minutes=5), entered=2, errored=1)

    hour = step_series_over(step=step, time_range=TIME_RANGES["1h"], now=now)
    day = step_series_over(step=step, time_range=TIME_RANGES["24h"], now=now)
    month = step_series_over(step=step, time_range=TIME_RANGES["30d"], now=now)

    assert (len(hour), len(day), len(month)) == (60, 24, 30)
    assert hour[0] == {"at": hour[0]["at"], "synced": 5, "errored": 0, "pending": 5}
    assert hour[-1] | {"at": None} == {"at": None, "synced": 5, "errored": 1, "pending": 6}
    assert day[0]["synced"] == 4 and day[-1]["synced"] == 5
    assert month[-1]["pending"] == 6 and month[0]["synced"] == 0


def test_the_chart_says_each_buckets_values_on_hover_and_the_range_is_chosen(owner_client,
                                                                           sync_canvas):
    canvas_enter_users(canvas=sync_canvas, users=builders.users(3))
    url = reverse("canvas:analytics", args=[sync_canvas.pk])

    hour = owner_client.get(url + "?range=1h").content.decode()
    week = owner_client.get(url + "?range=7d").content.decode()

    assert hour.count('<rect class="bucket"') == 60 and week.count('<rect class="bucket"') == 168
    assert re.search(r"<title>\d\d:\d\d UTC: synced 0, pending 3, errored 0</title>", hour)
    assert 'aria-current="page" class="current">Last 7 days<' in week
