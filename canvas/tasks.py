"""django-q2 entry points of canvases. Tasks take ids and call one service."""

from __future__ import annotations

import logging

from django.conf import settings
from django_q.tasks import async_task

from audiencesync.errors import ServiceError
from canvas.segments import services as segment_services
from canvas.services.audience_alerts import audience_gone_alert
from canvas.services.audience_health import audiences_health_read
from canvas.services.entries_bulk import canvas_enter_all_profiles
from canvas.services.scheduled_runs import scheduled_run_work, scheduled_runs_due

logger = logging.getLogger(__name__)


def enter_all_profiles(canvas_id: int, after_id: int = 0) -> dict | str:
    """Enter every profile of the canvas's workspace (the "Enter all profiles" button).

    Works for half the cluster's task timeout, then hands the rest to a successor task, so
    a workspace of any size is entered without the cluster killing the task midway.
    """
    try:
        run = canvas_enter_all_profiles(canvas_id=canvas_id, after_id=after_id,
                                        seconds=settings.Q_CLUSTER["timeout"] / 2)
    except ServiceError as error:
        # Expected when the canvas was stopped or deleted after the button was pressed.
        logger.warning("Entering all profiles into canvas %s stopped: %s", canvas_id,
                       error.message)
        return error.message
    if not run.finished:
        async_task("canvas.tasks.enter_all_profiles", canvas_id, run.last_profile_id,
                   task_name=f"enter all profiles into canvas {canvas_id}")
    return run.result.as_dict()


def scheduled_entry_tick() -> list[int]:
    """Every minute, from every cluster: start the scheduled canvases' due runs."""
    run_ids = scheduled_runs_due()
    for run_id in run_ids:
        async_task("canvas.tasks.scheduled_run", run_id, task_name=f"scheduled run {run_id}")
    return run_ids


def scheduled_run(run_id: int) -> bool:
    """Work on a scheduled run for half the task timeout, then hand it to a successor."""
    over = scheduled_run_work(run_id=run_id, seconds=settings.Q_CLUSTER["timeout"] / 2)
    if not over:
        async_task("canvas.tasks.scheduled_run", run_id, task_name=f"scheduled run {run_id}")
    return over


def segment_size_calculate(segment_id: int) -> dict | None:
    """The exact size, reach and sample of a segment ("Calculate exact size")."""
    segment = segment_services.segment_size_calculate(segment_id=segment_id)
    return None if segment is None else {"size": segment.size}


def read_audience_health() -> str:
    """Every 30 minutes: size and health of the audiences live steps use."""
    result = audiences_health_read()
    return (f"{result.read} audiences read, {len(result.gone)} gone at the partner, "
            f"{len(result.skipped)} ad accounts not read")


def alert_audience_gone(audience_id: int) -> int:
    """After an audience turned deleted at the partner: email whom it concerns, once."""
    return audience_gone_alert(audience_id=audience_id)
