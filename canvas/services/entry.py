"""Entry of profiles into an active canvas, and their walk from step to step.

Work per call is a constant number of queries whatever the number of users: profiles
are upserted and read in bulk, the path through the canvas is computed once per group
of users standing at the same step, and items, entries and counters are written with one
statement each.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.workspaces import identifiers, rows
from audiencesync.workspaces.fields import AD_TRACKING, EXTERNAL_ID, PROFILE_DEFAULTS, PROFILE_FIELDS
from audiencesync.workspaces.models import Profile
from canvas.models import (
    Canvas,
    CanvasEntry,
    CanvasStatus,
    ItemPurpose,
    ItemState,
    Step,
    SyncAction,
    SyncCursor,
    SyncItem,
)

from . import memberships
from .stats import step_stats_add

NO_CONSENT = "no_ad_tracking_consent"
NO_CONSENT_TEXT = "The user has not consented to ad tracking, and this step respects consent."


@dataclass
class EntryResult:
    entered: int = 0
    already_in_canvas: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"entered": self.entered, "already_in_canvas": self.already_in_canvas,
                "rejected": self.rejected, "errors": self.errors}

    def add(self, other: EntryResult) -> None:
        self.entered += other.entered
        self.already_in_canvas += other.already_in_canvas
        self.rejected += other.rejected
        self.errors += other.errors


@dataclass(frozen=True)
class Walk:
    """Where users starting at some step end up: the sync steps they pass, then a stop."""

    sync_steps: list[Step]
    delay_step: Step | None  # they wait here; None: they leave the canvas


def canvas_walk(*, steps: list[Step], start: int) -> Walk:
    passed = []
    for step in steps[start:]:
        if step.is_sync:
            passed.append(step)
        else:
            return Walk(sync_steps=passed, delay_step=step)
    return Walk(sync_steps=passed, delay_step=None)


def _lock_active_canvas(canvas_id: int) -> Canvas:
    canvas = (Canvas.objects.select_for_update(of=("self",)).select_related("workspace")
              .filter(pk=canvas_id).first())
    if canvas is None:
        raise ServiceError("No such canvas.", code="not_found")
    if canvas.status != CanvasStatus.ACTIVE:
        raise ServiceError(
            f"Canvas {canvas.name!r} is {canvas.get_status_display().lower()}: only an active "
            "canvas takes entries.", code="conflict",
        )
    return canvas


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """What entry needs of a profile: read as plain values, not model instances."""

    id: int
    email: str
    phone: str
    idfa: str
    gaid: str
    ad_tracking_enabled: bool


def _profile_rows(queryset) -> list[ProfileRow]:
    return [ProfileRow(*values) for values in queryset.values_list("id", *PROFILE_FIELDS)]


def canvas_enter_profiles(*, canvas: Canvas, profile_ids: list[int]) -> EntryResult:
    """Enter existing profiles (by id) into an active canvas; ones still in it, and erased
    ones, are skipped."""
    with transaction.atomic():
        canvas = _lock_active_canvas(canvas.pk)
        profiles = _profile_rows(Profile.objects.live().filter(
            workspace_id=canvas.workspace_id,
            pk__in=rows.any_of(profile_ids, db_type="bigint")))
        return _enter(canvas=canvas, profiles=profiles)


def canvas_enter_users(*, canvas: Canvas, users: list[dict]) -> EntryResult:
    """Upsert profiles from ``users`` (already validated dicts with ``external_id``), enter them.

    Only the fields a user carries are written: a user sent without ``phone`` keeps the
    phone the profile already has.
    """
    with transaction.atomic():
        canvas = _lock_active_canvas(canvas.pk)
        withdrawing = _consent_withdrawing(workspace_id=canvas.workspace_id, users=users)
        _profiles_upsert(workspace_id=canvas.workspace_id, users=users)
        # Before entering: a step that ignores consent and adds them again comes later.
        memberships.profiles_consent_withdrawn(profile_ids=withdrawing)
        profiles = _profile_rows(Profile.objects.filter(
            workspace_id=canvas.workspace_id,
            external_id__in=rows.any_of([u[EXTERNAL_ID] for u in users], db_type="text")))
        return _enter(canvas=canvas, profiles=profiles)


def _consent_withdrawing(*, workspace_id: int, users: list[dict]) -> list[int]:
    """Ids of profiles whose ad-tracking consent these users turn off (one query, if any)."""
    withdrawn = [u[EXTERNAL_ID] for u in users if u.get(AD_TRACKING) is False]
    if not withdrawn:
        return []
    return list(Profile.objects.filter(
        workspace_id=workspace_id, ad_tracking_enabled=True,
        external_id__in=rows.any_of(withdrawn, db_type="text"),
    ).values_list("pk", flat=True))


def _profiles_upsert(*, workspace_id: int, users: list[dict]) -> None:
    """One upsert per set of fields present (a handful), whatever the number of users."""
    by_fields: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for user in users:
        by_fields[tuple(f for f in PROFILE_FIELDS if f in user)].append(user)
    now = rows.db_datetime(timezone.now())
    columns = ["workspace_id", "external_id", *PROFILE_FIELDS, "attributes", "created_at",
               "updated_at"]
    empty_attributes = rows.db_json({})
    for present, group in by_fields.items():
        rows.rows_upsert(
            model=Profile, columns=columns, conflict=["workspace_id", "external_id"],
            update=[*present, "updated_at"],
            rows=[(workspace_id, u[EXTERNAL_ID],
                   *[u.get(f, PROFILE_DEFAULTS[f]) for f in PROFILE_FIELDS],
                   empty_attributes, now, now) for u in group],
        )


def _enter(*, canvas: Canvas, profiles: list[ProfileRow]) -> EntryResult:
    in_canvas = set(
        CanvasEntry.objects.filter(
            canvas=canvas, exited_at__isnull=True,
            profile_id__in=rows.any_of([p.id for p in profiles], db_type="bigint"),
        ).values_list("profile_id", flat=True)
    )
    newcomers = [p for p in profiles if p.id not in in_canvas]
    result = EntryResult(entered=len(newcomers), already_in_canvas=len(profiles) - len(newcomers))
    if not newcomers:
        return result
    steps = list(canvas.steps.order_by("position"))
    now = timezone.now()
    walk = canvas_walk(steps=steps, start=0)
    step_id, resume_at, exited_at = _placement(walk, now)
    entered_at = rows.db_datetime(now)
    rows.rows_insert(
        model=CanvasEntry,
        columns=["canvas_id", "profile_id", "current_step_id", "resume_at", "entered_at",
                 "exited_at"],
        rows=[(canvas.pk, p.id, step_id, resume_at, entered_at, exited_at) for p in newcomers],
    )
    _pass_sync_steps(canvas=canvas, steps=steps, walk=walk, profiles=newcomers, now=now)
    return result


def _placement(walk: Walk, now: datetime) -> tuple[int | None, object, object]:
    """(current step, resume at, exited at) of users after ``walk``, as database values."""
    if walk.delay_step is None:
        return None, None, rows.db_datetime(now)
    return walk.delay_step.pk, rows.db_datetime(now + walk.delay_step.delay), None


def _pass_sync_steps(
    *, canvas: Canvas, steps: list[Step], walk: Walk, profiles: list, now: datetime
) -> None:
    """Write the outbox items and counters of users passing ``walk.sync_steps`` right now."""
    if not walk.sync_steps:
        return
    country = canvas.workspace.default_country
    last_position = steps[-1].position
    created_at = rows.db_datetime(now)
    items = []
    increments = {}
    # A remove sends what the person was added under: their membership records, adds still
    # pending, and adds written just before it on this walk.
    removes = {step.audience_id for step in walk.sync_steps if step.action == SyncAction.REMOVE}
    added = memberships.membership_hashes(audience_ids=sorted(removes),
                                          profile_ids=[p.id for p in profiles]) if removes else {}
    for step in walk.sync_steps:
        not_synced = 0
        for profile in profiles:
            hashes, reason = _hashes_for(step=step, profile=profile, country=country,
                                         added=added.get((step.audience_id, profile.id)))
            if hashes and step.action == SyncAction.ADD and step.audience_id in removes:
                added.setdefault((step.audience_id, profile.id), []).append(hashes)
            if hashes:
                items.append((step.pk, profile.id, step.audience_id, step.action,
                              ItemPurpose.JOURNEY, rows.db_json(hashes), ItemState.PENDING, "",
                              created_at, None))
            else:
                not_synced += 1
                items.append((step.pk, profile.id, step.audience_id, step.action,
                              ItemPurpose.JOURNEY, "{}", ItemState.NOT_SYNCED, reason,
                              created_at, created_at))
        is_last = step.position == last_position
        increments[step.pk] = {
            "entered": len(profiles), "not_synced": not_synced,
            "proceeded": 0 if is_last else len(profiles), "exited": len(profiles) if is_last else 0,
        }
    # Locking the cursors orders these inserts before any later claim of the steps.
    list(SyncCursor.objects.select_for_update()
         .filter(step_id__in=sorted(increments)).values_list("pk", flat=True))
    rows.rows_insert(
        model=SyncItem,
        columns=["step_id", "profile_id", "audience_id", "action", "purpose", "hashes", "state",
                 "reason", "created_at", "resolved_at"],
        rows=items,
    )
    step_stats_add(increments=increments, at=now)


def _hashes_for(*, step: Step, profile, country: str,
                added: list[dict[str, str]] | None = None) -> tuple[dict | list, str]:
    """The step's match fields of the profile, hashed; or no hashes and why not.

    A remove sends every set of hashes the person was added under (``added``), and only
    when the product added them under none (an audience filled elsewhere) today's
    identifiers. Consent gates adds only: a remove is never held back for it, or exactly
    the people who withdrew consent would stay in the audience.
    """
    is_add = step.action == SyncAction.ADD
    if not is_add and added:
        return memberships.item_hashes(added), ""
    if is_add and step.respect_ad_tracking and not profile.ad_tracking_enabled:
        return {}, NO_CONSENT
    judged = identifiers.profile_identifiers(profile=profile, default_country=country,
                                             fields=step.match_fields,
                                             respect_ad_tracking=is_add and step.respect_ad_tracking)
    hashes = {name: j.sha256 for name, j in judged.items() if j.ok}
    if hashes:
        return hashes, ""
    return {}, ", ".join(f"{name}: {j.reason}" for name, j in judged.items())


def entries_release_due(*, limit: int = 10_000) -> int:
    """Move users whose Delay is over on to their next steps; returns how many moved."""
    now = timezone.now()
    due = list(
        CanvasEntry.objects.filter(exited_at__isnull=True, resume_at__lte=now)
        .order_by("resume_at").values_list("pk", "canvas_id", "current_step_id")[:limit]
    )
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for entry_id, canvas_id, step_id in due:
        groups[(canvas_id, step_id)].append(entry_id)
    moved = 0
    for (canvas_id, step_id), entry_ids in groups.items():
        moved += _release_group(canvas_id=canvas_id, delay_step_id=step_id, entry_ids=entry_ids)
    return moved


def _release_group(*, canvas_id: int, delay_step_id: int, entry_ids: list[int]) -> int:
    with transaction.atomic():
        canvas = (Canvas.objects.select_for_update(of=("self",)).select_related("workspace")
                  .get(pk=canvas_id))
        moving = list(
            CanvasEntry.objects.filter(pk__in=entry_ids, exited_at__isnull=True,
                                       current_step_id=delay_step_id)
            .values_list("pk", "profile_id")
        )
        if not moving:
            return 0
        now = timezone.now()
        steps = list(canvas.steps.order_by("position"))
        index = next(i for i, s in enumerate(steps) if s.pk == delay_step_id)
        walk = canvas_walk(steps=steps, start=index + 1)
        step_id, resume_at, exited_at = _placement(walk, now)
        CanvasEntry.objects.filter(pk__in=[pk for pk, _ in moving]).update(
            current_step_id=step_id,
            resume_at=None if resume_at is None else now + walk.delay_step.delay,
            exited_at=None if exited_at is None else now,
        )
        profiles = _profile_rows(Profile.objects.filter(pk__in=[p for _, p in moving]))
        _pass_sync_steps(canvas=canvas, steps=steps, walk=walk, profiles=profiles, now=now)
        return len(moving)
