"""Reads for operators and the profile page: status, requeue and erasure plans, drift, traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.status import Stat

from audiencesync.sync.engine import WAITING_FOR_EARLIER_INTENT
from audiencesync.workspaces.events import workspaces_event_volume
from audiencesync.workspaces.identifiers import MISSING, REASON_TEXT
from audiencesync.workspaces.models import Profile, Workspace
from canvas.models import (
    BatchState,
    ItemPurpose,
    ItemState,
    Step,
    StepKind,
    StepStats,
    SyncAction,
    SyncBatch,
    SyncCursor,
    SyncItem,
    SyncRequest,
)
from canvas.selectors import active_sync_steps, step_metrics
from canvas.services.memberships import RemovalTarget, membership_removal_plan
from canvas.services.stats import minute_bucket
from canvas.steps.audience_sync import NO_CONSENT, NO_CONSENT_TEXT
from partners import registry
from partners.models import ConnectionStatus, PartnerConnection
from partners.selectors import rate_scope_report

# --- sync_status ---------------------------------------------------------------------------


def sync_status_report(*, now: datetime | None = None) -> dict:
    """Sync steps of active canvases and steps with pending users (with users errored in
    the last 24 hours), the rate scopes they use, connections that are not active, the
    clusters alive by django-q2's own heartbeat, and each workspace's event volume. What
    ``sync_status`` prints and the admin's health panel shows."""
    now = now or timezone.now()
    steps = list(active_sync_steps().select_related("canvas", "audience", "ad_account")
                 .order_by("canvas_id", "position"))
    errored_24h = dict(StepStats.objects.filter(step__in=steps, bucket__gte=now - timedelta(hours=24))
                       .values("step_id").annotate(n=Sum("errored")).values_list("step_id", "n"))
    report_steps = [
        {
            "id": m.step.pk, "canvas_id": m.step.canvas_id, "canvas": m.step.canvas.name,
            "partner": m.step.partner, "action": m.step.action,
            "audience": m.step.audience.name if m.step.audience else "",
            "entered": m.entered, "proceeded": m.proceeded, "synced": m.synced,
            "not_synced": m.not_synced, "pending": m.pending, "errored": m.errored,
            "errored_24h": errored_24h.get(m.step.pk) or 0,
            "exited": m.exited, "oldest_pending_s": m.oldest_pending_s,
        }
        for m in step_metrics(steps=steps)
    ]
    scopes: dict[str, tuple] = {}
    for step in steps:
        if not step.partner or step.ad_account is None:
            continue
        partner = registry.get(step.partner)
        scopes[partner.rate_key(step.ad_account.connection_id)] = (
            partner, step.ad_account.connection_id)
    rate = [rate_scope_report(partner=partner, connection_id=connection_id).as_dict()
            for _, (partner, connection_id) in sorted(scopes.items(), key=lambda kv: kv[0])]
    return {"steps": report_steps, "rate": rate, "connections": connections_not_active(),
            "clusters": clusters_alive(), "events": event_volume_report()}


def connections_not_active() -> list[dict]:
    """Partner connections that are not active (invalid or disconnected), every workspace."""
    return [
        {"id": c.pk, "workspace": c.workspace.slug, "partner": c.partner, "status": c.status,
         "invalid_since": c.invalid_since.isoformat() if c.invalid_since else None}
        for c in PartnerConnection.objects.exclude(status=ConnectionStatus.ACTIVE)
        .select_related("workspace").order_by("workspace__slug", "partner")
    ]


def clusters_alive() -> list[dict]:
    """The django-q2 clusters whose heartbeat (a stat each saves every few seconds, kept
    3 seconds) is fresh now."""
    return sorted(({"id": str(stat.cluster_id), "host": stat.host, "status": str(stat.status),
                    "workers": len(stat.workers), "uptime_s": round(stat.uptime())}
                   for stat in Stat.get_all()), key=lambda cluster: cluster["id"])


def event_volume_report() -> list[dict]:
    """Per workspace with events or event summaries: events kept now, received in the last
    24 h, distinct event names and summaries; a constant number of queries."""
    volume = workspaces_event_volume()
    slugs = dict(Workspace.objects.filter(pk__in=volume).values_list("pk", "slug"))
    return [{"workspace": slugs.get(pk, str(pk)), "events": v.events,
             "events_24h": v.events_24h, "event_names": v.event_names, "summaries": v.summaries}
            for pk, v in sorted(volume.items(), key=lambda item: slugs.get(item[0], ""))]


# --- requeue -------------------------------------------------------------------------------


def sync_items_requeueable(*, step: Step, reason_contains: str = "") -> QuerySet[SyncItem]:
    """Errored users of the step, optionally only those whose reason contains the text.

    Users with a later add or remove of the same audience are left out: sending the old
    intent again would overrule the latest one (or repeat it, to no use).
    """
    later = SyncItem.objects.filter(audience_id=OuterRef("audience_id"),
                                    profile_id=OuterRef("profile_id"), id__gt=OuterRef("id"))
    items = SyncItem.objects.filter(step=step, state=ItemState.ERRORED).exclude(Exists(later))
    if reason_contains:
        items = items.filter(reason__icontains=reason_contains)
    return items


# --- erasure -------------------------------------------------------------------------------


def profile_erasure_plan(*, profile: Profile) -> list[RemovalTarget]:
    """The removes that erasing the profile queues: one per audience its membership records
    name (or an add of theirs is pending for), with every set of hashes it was added under.
    Audiences deleted at the partner hold nobody."""
    return membership_removal_plan(profile_ids=[profile.pk])


# --- reconciliation ------------------------------------------------------------------------

OUTCOMES = ("synced", "not_synced", "errored")


def reconcile_since(*, now: datetime | None = None) -> datetime:
    """The oldest minute whose items are all still kept: older ones may have been purged."""
    now = now or timezone.now()
    return minute_bucket(now - timedelta(days=settings.SYNC_ITEM_RETENTION_DAYS)
                         + timedelta(hours=1))


def _int_subquery(queryset: QuerySet, aggregate) -> Coalesce:
    """One number per step from a correlated subquery (0 when there is no row)."""
    value = queryset.filter(step_id=OuterRef("pk")).values("step_id").annotate(n=aggregate)
    return Coalesce(Subquery(value.values("n"), output_field=IntegerField()), Value(0))


def step_stats_drift(*, since: datetime | None = None,
                     step_ids: list[int] | None = None) -> dict[int, dict[str, dict[str, int]]]:
    """Per sync step, every figure where the counters and the outbox disagree.

    ``{step_id: {name: {"counters": n, "items": m}}}``, only the steps and figures that
    differ. Entered and the outcomes are compared over the minutes since ``since`` (an
    item's counter moves in the minute of its created_at / resolved_at), so the retention
    purge of older items is no drift; pending, a level, is compared whole. Only journey
    items count (erasure removes are not journey events). All figures of a step come from
    one statement, so a batch resolved meanwhile cannot show up as drift.
    """
    since = since or reconcile_since()
    stats = StepStats.objects.all()
    window = stats.filter(bucket__gte=since)
    journey = SyncItem.objects.filter(purpose=ItemPurpose.JOURNEY)
    steps = Step.objects.filter(kind=StepKind.AUDIENCE_SYNC)
    if step_ids is not None:
        steps = steps.filter(pk__in=step_ids)
    names = ("entered", *OUTCOMES, "pending")
    rows = steps.annotate(
        c_entered=_int_subquery(window, Sum("entered")),
        i_entered=_int_subquery(journey.filter(created_at__gte=since), Count("id")),
        c_pending=_int_subquery(stats, Sum("entered") - Sum("synced") - Sum("not_synced")
                                - Sum("errored")),
        i_pending=_int_subquery(journey.filter(state=ItemState.PENDING), Count("id")),
        **{f"c_{name}": _int_subquery(window, Sum(name)) for name in OUTCOMES},
        **{f"i_{name}": _int_subquery(journey.filter(state=name, resolved_at__gte=since),
                                      Count("id")) for name in OUTCOMES},
    ).values("id", *[f"{side}_{name}" for name in names for side in "ci"])
    drift: dict[int, dict[str, dict[str, int]]] = {}
    for row in rows:
        differing = {name: {"counters": row[f"c_{name}"], "items": row[f"i_{name}"]}
                     for name in names if row[f"c_{name}"] != row[f"i_{name}"]}
        if differing:
            drift[row["id"]] = differing
    return drift


# --- per-user trace ------------------------------------------------------------------------

TRACE_LIMIT = 200


@dataclass
class TraceRow:
    item: SyncItem
    status: str  # the state and why, in plain words
    attempts: int = 0
    last_error: str = ""
    request_ids: list[str] = field(default_factory=list)

    @property
    def partner_name(self) -> str:
        return registry.get(self.item.step.partner).name if self.item.step.partner else ""


def not_synced_text(reason: str) -> str:
    """Entry's reason codes ("email: invalid_email, phone: missing") in plain words."""
    if reason == NO_CONSENT:
        return NO_CONSENT_TEXT
    parts = []
    for part in reason.split(", "):
        field_name, _, code = part.partition(": ")
        if code == MISSING:
            parts.append(f"no {field_name}")
        elif code in REASON_TEXT:
            text = REASON_TEXT[code].rstrip(".")
            parts.append(f"no usable {field_name} — {text[0].lower()}{text[1:]}")
        else:
            return reason  # not a code list: already words
    return "; ".join(parts)


def sync_item_status(*, item: SyncItem, live_batch: SyncBatch | None = None,
                     queued: bool = False) -> str:
    """What happened to one user at one step, as the profile page and the admin say it."""
    if item.state == ItemState.SYNCED:
        return "Synced" if item.action == SyncAction.ADD else "Synced: removed from the audience"
    if item.state == ItemState.NOT_SYNCED:
        return f"Not synced: {not_synced_text(item.reason)}"
    if item.state == ItemState.ERRORED:
        return f"Errored: {item.reason}" if item.reason else "Errored"
    if queued:
        return "Pending: waiting for the next batch"
    if live_batch is None:
        return "Pending"
    if live_batch.state == BatchState.WAITING_RECONNECT:
        return "Pending: waiting for reconnect"
    if live_batch.last_error == WAITING_FOR_EARLIER_INTENT:
        return "Pending: waiting for an earlier add/remove of the same users to be sent"
    if live_batch.state == BatchState.RETRYING:
        when = (f" at {timezone.localtime(live_batch.next_attempt_at):%H:%M:%S}"
                if live_batch.next_attempt_at else "")
        return f"Pending: will retry{when}"
    return "Pending: being sent"


def profile_sync_trace(*, profile: Profile, limit: int = TRACE_LIMIT) -> list[TraceRow]:
    """The profile's latest sync items, newest first, each with its status in plain words.

    A constant number of queries: the items, the unresolved batches holding the pending
    ones, the cursors of their steps, and the partner request ids of every batch involved.
    """
    return sync_items_trace(items=list(
        SyncItem.objects.filter(profile=profile)
        .select_related("step__canvas", "audience", "batch").order_by("-id")[:limit]))


def sync_items_trace(*, items: list[SyncItem]) -> list[TraceRow]:
    """Each item's trace row, in the given order, in four queries whatever their number."""
    pending = [item for item in items if item.state == ItemState.PENDING]
    live = _live_batches(pending)
    cursors = dict(SyncCursor.objects.filter(step_id__in={i.step_id for i in pending})
                   .values_list("step_id", "last_item_id"))
    batches = {item.pk: live.get(item.pk) or item.batch for item in items}
    request_ids = _request_ids({batch.pk for batch in batches.values() if batch is not None})
    rows = []
    for item in items:
        batch = batches[item.pk]
        queued = item.state == ItemState.PENDING and item.pk > cursors.get(item.step_id, 0)
        rows.append(TraceRow(
            item=item,
            status=sync_item_status(item=item, live_batch=live.get(item.pk), queued=queued),
            attempts=batch.attempts if batch else 0,
            # Holding back for an earlier intent is said by the status; it is no error.
            last_error=(batch.last_error if batch and batch.last_error != WAITING_FOR_EARLIER_INTENT
                        else ""),
            request_ids=request_ids.get(batch.pk, []) if batch else [],
        ))
    return rows


def _live_batches(pending: list[SyncItem]) -> dict[int, SyncBatch]:
    """Item id -> the unresolved batch whose range holds it (the newest, after a requeue)."""
    if not pending:
        return {}
    batches = list(SyncBatch.objects.exclude(state=BatchState.DONE).covering(pending)
                   .order_by("id"))
    found = {}
    for item in pending:
        for batch in batches:
            if batch.covers(item):
                found[item.pk] = batch
    return found


def _request_ids(batch_ids: set[int]) -> dict[int, list[str]]:
    ids: dict[int, list[str]] = {}
    for batch_id, request_id in (SyncRequest.objects.filter(batch_id__in=batch_ids)
                                 .exclude(partner_request_id="").order_by("created_at")
                                 .values_list("batch_id", "partner_request_id")):
        ids.setdefault(batch_id, []).append(request_id)
    return ids


# --- purges --------------------------------------------------------------------------------


def sync_requests_older_than(*, cutoff: datetime) -> QuerySet[SyncRequest]:
    return SyncRequest.objects.filter(created_at__lt=cutoff)
