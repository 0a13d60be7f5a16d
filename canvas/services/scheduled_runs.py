"""Scheduled entry: finding the occurrences that are due, and running them in chunks.

A tick (every minute, from any number of clusters) starts each scheduled canvas's latest
due occurrence by inserting its ScheduledRun row; the unique (canvas, occurrence) row is
what keeps two clusters from running one occurrence, and taking only the latest is what
runs a missed occurrence once. A run enters the target audience in chunks by profile id,
each chunk one transaction that moves the run's cursor and counters with the entries.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audiencesync.errors import ServiceError
from canvas.models import Canvas, CanvasStatus, EntryMode, RunState, ScheduledRun
from canvas.occurrences import occurrence_latest_due, zone_get

from .entry import canvas_enter_target_chunk, canvas_lock_for_entry

# Profiles per transaction: as many as one entries API call holds by default.
CHUNK_SIZE = 10_000


def run_lease() -> timedelta:
    """How long a run may go without finishing a chunk before it is taken for dead: a
    task the cluster killed at its timeout has surely stopped by then."""
    return timedelta(seconds=settings.Q_CLUSTER["timeout"])


def scheduled_runs_due(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled canvas's due occurrence; returns the ids of the runs to work
    on: the ones started here, and the ones whose worker stopped (lease over)."""
    now = now or timezone.now()
    runs = []
    canvases = (Canvas.objects.filter(status=CanvasStatus.ACTIVE,
                                      entry_mode=EntryMode.SCHEDULED)
                .select_related("workspace"))
    for canvas in canvases:
        occurrence = occurrence_latest_due(canvas=canvas, zone=zone_get(canvas.workspace.time_zone),
                                           now=now)
        if occurrence is None:
            continue
        latest = canvas.runs.order_by("-occurrence").values_list("occurrence", "state").first()
        if latest is not None and (latest[0] >= occurrence or latest[1] == RunState.RUNNING):
            continue  # done (or started) already, or the one before is still running
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(canvas=canvas, occurrence=occurrence,
                                                  started_at=now, lease_until=now + run_lease())
        except IntegrityError:
            continue  # another cluster started it first
        runs.append(run.pk)
    stalled = ScheduledRun.objects.filter(state=RunState.RUNNING, lease_until__lt=now)
    for run_id in stalled.values_list("pk", flat=True):
        # Conditional: of two ticks seeing the same stalled run, one takes it over.
        if ScheduledRun.objects.filter(pk=run_id, state=RunState.RUNNING,
                                       lease_until__lt=now).update(
                lease_until=now + run_lease()):
            runs.append(run_id)
    return runs


def scheduled_run_work(*, run_id: int, seconds: float | None = None) -> bool:
    """Enter the run's target audience chunk by chunk; True when the run is over.

    With ``seconds``, stops after the chunk that passes that time (a task must end before
    the cluster's timeout) and returns False: call again to go on.
    """
    started = time.monotonic()
    while not _chunk(run_id):
        if seconds is not None and time.monotonic() - started >= seconds:
            return False
    return True


def _chunk(run_id: int) -> bool:
    """Enter one chunk; True when the run is over (finished, failed, or gone)."""
    canvas_id = ScheduledRun.objects.filter(pk=run_id).values_list("canvas_id", flat=True).first()
    if canvas_id is None:
        return True
    try:
        with transaction.atomic():
            # The canvas lock first, as every entry takes it; then the run's.
            canvas = canvas_lock_for_entry(canvas_id=canvas_id)
            run = ScheduledRun.objects.select_for_update().get(pk=run_id)
            if run.state != RunState.RUNNING:
                return True
            room = None if canvas.cap_per_run is None else canvas.cap_per_run - run.entered
            ids, result = canvas_enter_target_chunk(canvas=canvas, after_id=run.last_profile_id,
                                                    limit=CHUNK_SIZE, run_room=room)
            now = timezone.now()
            if not ids:
                ScheduledRun.objects.filter(pk=run_id).update(state=RunState.FINISHED,
                                                              finished_at=now)
                return True
            capped = result.capped_by
            ScheduledRun.objects.filter(pk=run_id).update(
                last_profile_id=ids[-1], lease_until=now + run_lease(),
                eligible=F("eligible") + len(ids), entered=F("entered") + result.entered,
                already_in_canvas=F("already_in_canvas") + result.already_in_canvas,
                reentry_blocked=F("reentry_blocked") + result.reentry_blocked,
                capped_run=F("capped_run") + capped.get("run", 0),
                capped_day=F("capped_day") + capped.get("day", 0),
                capped_total=F("capped_total") + capped.get("total", 0),
            )
            return False
    except ServiceError as error:
        # The canvas was stopped (or deleted) while the run went on: it enters nobody more.
        ScheduledRun.objects.filter(pk=run_id, state=RunState.RUNNING).update(
            state=RunState.FAILED, finished_at=timezone.now(), error=error.message)
        return True
