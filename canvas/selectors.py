"""Reads for canvases, steps, audiences and step analytics; always workspace-scoped."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from audiencesync.workspaces.models import Workspace
from canvas.models import (
    Canvas,
    CanvasEntry,
    CanvasStatus,
    ItemPurpose,
    ItemState,
    ScheduledRun,
    Step,
    StepKind,
    StepStats,
    SyncItem,
)
from canvas.services.stats import COUNTERS
from partners import registry
from partners.models import AdAccount, Audience, AudienceStatus
from partners.selectors import connection_health_problem

CANVAS_LIST_FILTERS = {
    "": "All", CanvasStatus.ACTIVE: "Active", CanvasStatus.DRAFT: "Draft",
    CanvasStatus.STOPPED: "Stopped", "archived": "Archived",
}


def canvases_for(*, workspace: Workspace, show: str = "") -> QuerySet[Canvas]:
    """The canvas list: ``show`` a status, "archived", or "" for every canvas not archived.

    Each canvas carries its step count and the users it took in today (since 00:00 UTC)
    and in total, counted from the entries' (canvas, entered_at) index.
    """
    canvases = Canvas.objects.filter(workspace=workspace)
    if show == "archived":
        canvases = canvases.filter(archived_at__isnull=False)
    else:
        canvases = canvases.filter(archived_at__isnull=True)
        if show:
            canvases = canvases.filter(status=show)
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    entries = CanvasEntry.objects.filter(canvas=OuterRef("pk")).order_by().values("canvas")
    counted = entries.annotate(n=Count("pk")).values("n")
    return canvases.annotate(
        step_count=Coalesce(Subquery(Step.objects.filter(canvas=OuterRef("pk")).order_by()
                                     .values("canvas").annotate(n=Count("pk")).values("n")), 0),
        entered_total=Coalesce(Subquery(counted), 0),
        entered_today=Coalesce(Subquery(entries.filter(entered_at__gte=today)
                                        .annotate(n=Count("pk")).values("n")), 0),
    )


def canvas_users_inside(*, canvas: Canvas) -> int:
    """Users in the canvas now: waiting in a Delay (a sync step lets users on at once)."""
    return CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True).count()


def canvas_connection_problems(*, workspace: Workspace) -> dict[int, list[str]]:
    """Canvas id -> banners for partner connections its sync steps use that are not healthy,
    and for steps whose audience was deleted at the partner."""
    steps = (Step.objects.filter(canvas__workspace=workspace, kind="audience_sync")
             .exclude(partner="").order_by().values_list("canvas_id", "partner").distinct())
    connections = {c.partner: c for c in workspace.connections.all()}
    problems: dict[int, list[str]] = defaultdict(list)
    for canvas_id, partner_key in steps:
        problem = connection_health_problem(partner_key=partner_key,
                                            connection=connections.get(partner_key))
        if problem:
            problems[canvas_id].append(problem)
    gone = (Step.objects.filter(canvas__workspace=workspace, kind=StepKind.AUDIENCE_SYNC,
                                audience__status=AudienceStatus.DELETED)
            .order_by("canvas_id", "position")
            .values_list("canvas_id", "position", "partner", "audience__name"))
    for canvas_id, position, partner_key, name in gone:
        partner_name = registry.get(partner_key).name
        problems[canvas_id].append(
            f"Step {position + 1} syncs to {name}, which was deleted at {partner_name}: its "
            f"users are errored, not synced. Choose another {partner_name} audience for it.")
    return dict(problems)


def audiences_created_here(*, ad_account: AdAccount) -> list[Audience]:
    """The audiences this product created in the ad account, each with ``used_by``: the
    canvases whose steps sync to it, each named once however many of its steps do."""
    audiences = list(Audience.objects.filter(ad_account=ad_account, created_here=True)
                     .select_related("lookalike_of").prefetch_related("steps__canvas"))
    for audience in audiences:
        canvases = {step.canvas_id: step.canvas for step in audience.steps.all()}
        audience.used_by = sorted(canvases.values(), key=lambda canvas: canvas.name.lower())
    return audiences


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


@dataclass(frozen=True)
class TimeRange:
    key: str
    label: str
    span: timedelta
    unit: str  # the bucket: "minute", "hour" or "day"

    @property
    def step(self) -> timedelta:
        return timedelta(**{f"{self.unit}s": 1})


# Each range's buckets give a readable line: 60 minutes, 24 or 168 hours, 30 days.
TIME_RANGES = {r.key: r for r in (
    TimeRange("1h", "Last hour", timedelta(hours=1), "minute"),
    TimeRange("24h", "Last 24 hours", timedelta(hours=24), "hour"),
    TimeRange("7d", "Last 7 days", timedelta(days=7), "hour"),
    TimeRange("30d", "Last 30 days", timedelta(days=30), "day"),
)}
DEFAULT_TIME_RANGE = "24h"


def _truncate(at: datetime, unit: str) -> datetime:
    at = at.astimezone(UTC).replace(second=0, microsecond=0)
    if unit in ("hour", "day"):
        at = at.replace(minute=0)
    if unit == "day":
        at = at.replace(hour=0)
    return at


def step_series_over(*, step: Step, time_range: TimeRange, now: datetime | None = None
                     ) -> list[dict]:
    """Cumulative synced / pending / errored of a step at the end of every bucket of the
    range, from its first bucket to the current one (an idle bucket repeats the level, so a
    short run draws as a line at its real times, not a diagonal between two points).

    Two queries: the level before the range, and the range's counters summed per bucket.
    """
    now = now or timezone.now()
    first = _truncate(now - time_range.span, time_range.unit) + time_range.step
    before = StepStats.objects.filter(step=step, bucket__lt=first).aggregate(
        **{name: Sum(name) for name in ("entered", "synced", "not_synced", "errored")})
    running = {name: value or 0 for name, value in before.items()}
    per_bucket = {
        _truncate(row["at"], time_range.unit): row
        for row in StepStats.objects.filter(step=step, bucket__gte=first)
        .annotate(at=Trunc("bucket", time_range.unit, tzinfo=UTC))
        .values("at").annotate(**{name: Sum(name) for name in running}).order_by("at")
    }
    series = []
    at, last = first, _truncate(now, time_range.unit)
    while at <= last:
        row = per_bucket.get(at)
        if row:
            for name in running:
                running[name] += row[name] or 0
        series.append({"at": at, "synced": running["synced"], "errored": running["errored"],
                       "pending": running["entered"] - running["synced"]
                       - running["not_synced"] - running["errored"]})
        at += time_range.step
    return series


@dataclass
class CanvasFunnel:
    entered: int
    in_progress: int
    exited: int
    waiting: dict[int, int]  # Delay step id -> users waiting in it now


def canvas_funnel(*, canvas: Canvas) -> CanvasFunnel:
    """Users who entered the canvas, are in it now and left it; who waits in which Delay.
    Two queries."""
    totals = CanvasEntry.objects.filter(canvas=canvas).aggregate(
        entered=Count("pk"), in_progress=Count("pk", filter=Q(exited_at__isnull=True)))
    waiting = dict(CanvasEntry.objects.filter(canvas=canvas, exited_at__isnull=True,
                                              current_step__isnull=False)
                   .order_by().values("current_step").annotate(n=Count("pk"))
                   .values_list("current_step", "n"))
    return CanvasFunnel(entered=totals["entered"], in_progress=totals["in_progress"],
                        exited=totals["entered"] - totals["in_progress"], waiting=waiting)


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


def audiences_to_read_back() -> QuerySet[Audience]:
    """Audiences at the partner that a sync step of an active canvas uses, and the
    look-alikes made here: those whose size and health are read back."""
    live = Q(steps__kind=StepKind.AUDIENCE_SYNC, steps__canvas__status=CanvasStatus.ACTIVE)
    return (Audience.objects.filter(live | Q(lookalike_of__isnull=False),
                                    status=AudienceStatus.ACTIVE)
            .exclude(external_id="").distinct().order_by("ad_account_id", "pk"))
