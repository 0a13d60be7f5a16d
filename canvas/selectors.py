"""Reads for canvases, steps, audiences and step analytics; always workspace-scoped."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from audiencesync.workspaces.models import Workspace
from canvas.models import (
    Canvas,
    CanvasEntry,
    CanvasStatus,
    ExitCriteria,
    ItemPurpose,
    ItemState,
    ScheduledRun,
    Step,
    StepStats,
    SyncItem,
)
from canvas.services.stats import COUNTERS
from canvas.steps import kinds_where
from partners.models import AdAccount, Audience
from partners.selectors import connection_health_problem


def canvases_for(*, workspace: Workspace) -> QuerySet[Canvas]:
    return Canvas.objects.filter(workspace=workspace).annotate(step_count=Count("steps"))


def canvas_users_inside(*, canvas: Canvas) -> int:
    """Users in the canvas now: waiting in a Delay (a sync step lets users on at once)."""
    return CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).count()


def canvas_exit_criteria(*, canvas: Canvas) -> ExitCriteria:
    """The canvas's exit criteria (unsaved and empty when it has none)."""
    return ExitCriteria.objects.filter(canvas=canvas).first() or ExitCriteria(canvas=canvas)


def canvas_connection_problems(*, workspace: Workspace) -> dict[int, list[str]]:
    """Canvas id -> banners for partner connections its sync steps use that are not healthy."""
    steps = (Step.objects.filter(canvas__workspace=workspace, kind="audience_sync")
             .exclude(partner="").values_list("canvas_id", "partner").distinct())
    connections = {c.partner: c for c in workspace.connections.all()}
    problems: dict[int, list[str]] = defaultdict(list)
    for canvas_id, partner_key in steps:
        problem = connection_health_problem(partner_key=partner_key,
                                            connection=connections.get(partner_key))
        if problem:
            problems[canvas_id].append(problem)
    return dict(problems)


def audiences_created_here(*, ad_account: AdAccount) -> QuerySet[Audience]:
    return (Audience.objects.filter(ad_account=ad_account, created_here=True)
            .prefetch_related("steps__canvas"))


# --- analytics -----------------------------------------------------------------------------


@dataclass
class StepMetrics:
    step: Step
    entered: int = 0
    proceeded: int = 0
    synced: int = 0
    not_synced: int = 0
    errored: int = 0
    exited: int = 0
    oldest_pending_at: datetime | None = None

    @property
    def pending(self) -> int:
        return self.entered - self.synced - self.not_synced - self.errored

    @property
    def oldest_pending_s(self) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return round((timezone.now() - self.oldest_pending_at).total_seconds(), 1)


def analytics_steps(*, canvas: Canvas) -> list[Step]:
    """The steps analytics shows, in order: those with counters, each add step that
    removes on exit followed by its "removed on exit" companion. Two queries."""
    components = list(canvas.steps.filter(kind__in=kinds_where(lambda kind: kind.counters))
                      .select_related("audience").order_by("position"))
    companions = {step.companion_of_id: step for step in Step.objects.filter(
        companion_of__in=components).select_related("audience")}
    return [shown for step in components
            for shown in (step, companions.get(step.pk)) if shown is not None]


def step_metrics(*, steps: list[Step]) -> list[StepMetrics]:
    """The counters (and pending) per step, summed over its buckets (two queries for any
    number of steps)."""
    totals = {
        row["step_id"]: row
        for row in StepStats.objects.filter(step__in=steps).values("step_id").annotate(
            **{name: Sum(name) for name in COUNTERS})
    }
    oldest = dict(
        SyncItem.objects.filter(step__in=steps, state=ItemState.PENDING)
        .values("step_id").annotate(oldest=Min("created_at")).values_list("step_id", "oldest")
    )
    result = []
    for step in steps:
        row = totals.get(step.pk, {})
        result.append(StepMetrics(step=step, oldest_pending_at=oldest.get(step.pk),
                                  **{name: row.get(name) or 0 for name in COUNTERS}))
    return result


def step_series(*, step: Step, since: datetime) -> list[dict]:
    """Per-minute cumulative synced / pending / errored of a step since ``since``.

    The line starts a minute before the first bucket (at the level before it) and runs on to
    the current minute, so even one busy minute draws as a line, not a dot.
    """
    since = since.replace(second=0, microsecond=0)  # buckets are whole minutes
    before = StepStats.objects.filter(step=step, bucket__lt=since).aggregate(
        entered=Sum("entered"), synced=Sum("synced"), not_synced=Sum("not_synced"),
        errored=Sum("errored"))
    running = {k: v or 0 for k, v in before.items()}

    def point(at: datetime) -> dict:
        return {"at": at, "synced": running["synced"], "errored": running["errored"],
                "pending": running["entered"] - running["synced"] - running["not_synced"]
                - running["errored"]}

    series = []
    for row in StepStats.objects.filter(step=step, bucket__gte=since).order_by("bucket").values():
        if not series:
            series.append(point(row["bucket"] - timedelta(minutes=1)))
        for name in running:
            running[name] += row[name]
        series.append(point(row["bucket"]))
    now = timezone.now().replace(second=0, microsecond=0)
    if series and series[-1]["at"] < now:
        series.append(point(now))
    return series


@dataclass
class ConsentRemovals:
    """Removes of one audience queued because ad-tracking consent was withdrawn.

    They ride on the canvas's add steps but are no journey event, so no step counts them
    (a step's entered = synced + not synced + pending + errored stays true): this line does.
    """

    audience_name: str
    removed: int = 0
    pending: int = 0
    errored: int = 0


def consent_removals(*, canvas: Canvas) -> list[ConsentRemovals]:
    """Per audience of the canvas's steps, consent-withdrawal removes kept in the outbox."""
    lines: dict[int, ConsentRemovals] = {}
    for row in (SyncItem.objects.filter(step__canvas=canvas, purpose=ItemPurpose.CONSENT)
                .values("audience_id", "audience__name", "state").annotate(n=Count("id"))
                .order_by("audience__name")):
        line = lines.setdefault(row["audience_id"], ConsentRemovals(row["audience__name"]))
        if row["state"] == ItemState.SYNCED:
            line.removed += row["n"]
        elif row["state"] == ItemState.PENDING:
            line.pending += row["n"]
        else:
            line.errored += row["n"]
    return list(lines.values())


def sync_items_recount(*, step_ids: list[int]) -> dict[int, dict[str, int]]:
    """From the outbox itself: users per state per step (for reconciliation). Journey items
    only: erasure and consent removes ride on a step but are not its users."""
    counts: dict[int, dict[str, int]] = {s: {state: 0 for state in ItemState.values}
                                         for s in step_ids}
    for row in (SyncItem.objects.filter(step_id__in=step_ids, purpose=ItemPurpose.JOURNEY)
                .values("step_id", "state")
                .annotate(n=Count("id"))):
        counts[row["step_id"]][row["state"]] = row["n"]
    return counts


def active_sync_steps() -> QuerySet[Step]:
    return Step.objects.filter(kind="audience_sync").filter(
        Q(canvas__status=CanvasStatus.ACTIVE) | Q(items__state=ItemState.PENDING)
    ).distinct()


def scheduled_runs_recent(*, canvas: Canvas, limit: int = 20) -> list[ScheduledRun]:
    """The canvas's latest scheduled runs, newest first."""
    return list(canvas.runs.order_by("-occurrence")[:limit])
