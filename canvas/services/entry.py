"""Entry of profiles into an active canvas, and their walk from step to step.

Work per call is a constant number of queries whatever the number of users: profiles
are upserted and read in bulk, the path through the canvas is computed once per group
of users standing at the same step, entries and counters are written with one statement
each, and each step kind's hooks (canvas/steps) take the whole group at once.
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
    Step,
)
from canvas.steps import Increments, step_type

from . import memberships
from .stats import step_stats_add
from .targeting import (
    canvas_has_target,
    canvas_target_profiles,
    cap_room,
    profiles_in_target,
    reentry_blocked,
)


@dataclass
class EntryResult:
    """What became of the users of one entry: each is counted in exactly one of entered,
    already_in_canvas, not_eligible (outside the target audience), reentry_blocked (the
    re-entry rule), capped (an entry cap: ``capped_by`` says which) or rejected (invalid)."""

    entered: int = 0
    already_in_canvas: int = 0
    not_eligible: int = 0
    reentry_blocked: int = 0
    capped_by: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)

    @property
    def capped(self) -> int:
        return sum(self.capped_by.values())

    def as_dict(self) -> dict:
        return {"entered": self.entered, "already_in_canvas": self.already_in_canvas,
                "not_eligible": self.not_eligible, "reentry_blocked": self.reentry_blocked,
                "capped": self.capped, "rejected": self.rejected, "errors": self.errors}

    def add(self, other: EntryResult) -> None:
        self.entered += other.entered
        self.already_in_canvas += other.already_in_canvas
        self.not_eligible += other.not_eligible
        self.reentry_blocked += other.reentry_blocked
        for cap, n in other.capped_by.items():
            self.capped_by[cap] = self.capped_by.get(cap, 0) + n
        self.rejected += other.rejected
        self.errors += other.errors


@dataclass(frozen=True)
class Walk:
    """Where users starting at some step end up: the steps they pass at once, then a stop."""

    passed: list[Step]
    stop: Step | None  # the step they wait at; None: they leave the canvas


def canvas_walk(*, steps: list[Step], start: int) -> Walk:
    passed = []
    for step in steps[start:]:
        if step_type(step.kind).waits:
            return Walk(passed=passed, stop=step)
        passed.append(step)
    return Walk(passed=passed, stop=None)


def canvas_check_takes_entries(*, canvas: Canvas) -> None:
    """Only an active canvas takes entries: ServiceError ``conflict`` if ``canvas`` is not."""
    if canvas.status != CanvasStatus.ACTIVE:
        advice = " Launch it first." if canvas.status == CanvasStatus.DRAFT else ""
        raise ServiceError(
            f"Canvas {canvas.name!r} is {canvas.get_status_display().lower()}: only an active "
            f"canvas takes entries.{advice}", code="conflict",
        )


def _lock_active_canvas(canvas_id: int) -> Canvas:
    canvas = (Canvas.objects.select_for_update(of=("self",))
              .select_related("workspace", "target_segment").filter(pk=canvas_id).first())
    if canvas is None:
        raise ServiceError("No such canvas.", code="not_found")
    canvas_check_takes_entries(canvas=canvas)
    return canvas


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """What entry needs of a profile in Python: its id. Step kinds read anything else in
    the database (an Audience Sync step copies the profile's stored hashes there)."""

    id: int


def _profile_rows(queryset) -> list[ProfileRow]:
    return [ProfileRow(pk) for pk in queryset.values_list("id", flat=True)]


def canvas_enter_profiles(*, canvas: Canvas, profile_ids: list[int]) -> EntryResult:
    """Enter existing profiles (by id) into an active canvas; ones still in it, and erased
    ones, are skipped."""
    with transaction.atomic():
        canvas = _lock_active_canvas(canvas.pk)
        profiles = _profile_rows(Profile.objects.live().filter(
            workspace_id=canvas.workspace_id,
            pk__in=rows.any_of(profile_ids, db_type="bigint")))
        return _enter(canvas=canvas, profiles=profiles)


def canvas_lock_for_entry(*, canvas_id: int) -> Canvas:
    """Lock an active canvas for entry, in the caller's transaction (ServiceError
    ``not_found`` or ``conflict`` if it takes no entries)."""
    return _lock_active_canvas(canvas_id)


def canvas_enter_target_chunk(*, canvas: Canvas, after_id: int, limit: int,
                              run_room: int | None) -> tuple[list[int], EntryResult]:
    """Enter the next ``limit`` profiles of the canvas's target audience above ``after_id``.

    For a scheduled run, in its transaction, with the canvas locked by
    ``canvas_lock_for_entry``. Returns the ids taken (the eligible profiles, in id order;
    none: the audience is done) and what became of them.
    """
    ids = list(canvas_target_profiles(canvas=canvas).filter(pk__gt=after_id).order_by("pk")
               .values_list("pk", flat=True)[:limit])
    if not ids:
        return ids, EntryResult()
    return ids, _enter(canvas=canvas, profiles=[ProfileRow(i) for i in ids], in_target=True,
                       run_room=run_room)


def canvas_enter_users(*, canvas: Canvas, users: list[dict]) -> EntryResult:
    """Upsert profiles from ``users`` (already validated dicts with ``external_id``), enter them.

    Only the fields a user carries are written: a user sent without ``phone`` keeps the
    phone the profile already has.
    """
    with transaction.atomic():
        canvas = _lock_active_canvas(canvas.pk)
        withdrawing = _consent_withdrawing(workspace_id=canvas.workspace_id, users=users)
        _profiles_upsert(workspace_id=canvas.workspace_id, users=users,
                         default_country=canvas.workspace.default_country)
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


def _profiles_upsert(*, workspace_id: int, users: list[dict], default_country: str) -> None:
    """One upsert per set of fields present (a handful), whatever the number of users.

    Each identifier a user carries is normalised and hashed here, once, into the profile's
    stored columns, which the steps then copy.
    """
    by_fields: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for user in users:
        by_fields[tuple(f for f in PROFILE_FIELDS if f in user)].append(user)
    now = rows.db_datetime(timezone.now())
    columns = ["workspace_id", "external_id", *PROFILE_FIELDS, *identifiers.STORED_COLUMNS,
               "attributes", "created_at", "updated_at"]
    empty_attributes = rows.db_json({})
    for present, group in by_fields.items():
        stored_update = [c for f in present if f in identifiers.FIELDS
                         for c in identifiers.stored_columns(f)]
        rows.rows_upsert(
            model=Profile, columns=columns, conflict=["workspace_id", "external_id"],
            update=[*present, *stored_update, "updated_at"],
            rows=[(workspace_id, u[EXTERNAL_ID],
                   *[u.get(f, PROFILE_DEFAULTS[f]) for f in PROFILE_FIELDS],
                   *identifiers.stored_row(
                       values={f: u.get(f, "") for f in identifiers.FIELDS},
                       default_country=default_country).values(),
                   empty_attributes, now, now) for u in group],
        )


def _enter(*, canvas: Canvas, profiles: list[ProfileRow], in_target: bool = False,
           run_room: int | None = None) -> EntryResult:
    """Enter ``profiles`` that pass the canvas's entry rules, in this order: the target
    audience (unless the caller took them from it: ``in_target``), not inside the canvas
    now, the re-entry rule, then the caps (``run_room``: a scheduled run's own), which
    keep the first profiles in id order."""
    result = EntryResult()
    now = timezone.now()
    if not in_target and canvas_has_target(canvas=canvas):
        eligible = set(profiles_in_target(canvas=canvas, profile_ids=[p.id for p in profiles]))
        result.not_eligible = len(profiles) - len(eligible)
        profiles = [p for p in profiles if p.id in eligible]
    in_canvas = set(
        CanvasEntry.objects.filter(
            canvas=canvas, exited_at__isnull=True,
            profile_id__in=rows.any_of([p.id for p in profiles], db_type="bigint"),
        ).values_list("profile_id", flat=True)
    ) if profiles else set()
    newcomers = [p for p in profiles if p.id not in in_canvas]
    result.already_in_canvas = len(profiles) - len(newcomers)
    blocked = reentry_blocked(canvas=canvas, profile_ids=[p.id for p in newcomers], now=now)
    newcomers = [p for p in newcomers if p.id not in blocked]
    result.reentry_blocked = len(blocked)
    if newcomers:
        kept, result.capped_by = cap_room(canvas=canvas, now=now, run_room=run_room).cut(
            len(newcomers))
        newcomers = sorted(newcomers, key=lambda p: p.id)[:kept]
    result.entered = len(newcomers)
    if not newcomers:
        return result
    steps = list(canvas.steps.order_by("position"))
    walk = canvas_walk(steps=steps, start=0)
    step_id, resume_at, exited_at = _placement(walk, now)
    resume_at, entered_at, exited_at = (rows.db_datetime(at) for at in (resume_at, now, exited_at))
    rows.rows_insert(
        model=CanvasEntry,
        columns=["canvas_id", "profile_id", "current_step_id", "resume_at", "entered_at",
                 "exited_at"],
        rows=[(canvas.pk, p.id, step_id, resume_at, entered_at, exited_at) for p in newcomers],
    )
    step_stats_add(increments=_reach(canvas=canvas, steps=steps, walk=walk, profiles=newcomers,
                                     now=now), at=now)
    return result


def _placement(walk: Walk, now: datetime) -> tuple[int | None, datetime | None, datetime | None]:
    """(current step, resume at, exited at) of users after ``walk``."""
    if walk.stop is None:
        return None, None, now
    return walk.stop.pk, step_type(walk.stop.kind).wait_until(step=walk.stop, now=now), None


def _reach(*, canvas: Canvas, steps: list[Step], walk: Walk, profiles: list,
           now: datetime) -> Increments:
    """Tell each kind on ``walk`` which of its steps the users reach; their counters.

    One call per kind, whatever the number of users or steps of that kind, so each kind
    writes its rows for the whole walk at once.
    """
    reached = [*walk.passed, *([walk.stop] if walk.stop is not None else [])]
    by_kind: dict[str, list[Step]] = defaultdict(list)
    for step in reached:
        by_kind[step.kind].append(step)
    increments: Increments = {}
    for kind, kind_steps in by_kind.items():
        _merge(increments, step_type(kind).on_reach(
            canvas=canvas, canvas_steps=steps, steps=kind_steps, profiles=profiles, now=now))
    return increments


def _merge(into: Increments, more: Increments) -> None:
    for step_id, counts in more.items():
        mine = into.setdefault(step_id, {})
        for name, n in counts.items():
            mine[name] = mine.get(name, 0) + n


def entries_release_due(*, limit: int = 10_000) -> int:
    """Move users whose wait is over on to their next steps; returns how many moved."""
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
        moved += _release_group(canvas_id=canvas_id, waiting_step_id=step_id, entry_ids=entry_ids)
    return moved


def _release_group(*, canvas_id: int, waiting_step_id: int, entry_ids: list[int]) -> int:
    with transaction.atomic():
        canvas = (Canvas.objects.select_for_update(of=("self",)).select_related("workspace")
                  .get(pk=canvas_id))
        moving = list(
            CanvasEntry.objects.filter(pk__in=entry_ids, exited_at__isnull=True,
                                       current_step_id=waiting_step_id)
            .values_list("pk", "profile_id")
        )
        if not moving:
            return 0
        now = timezone.now()
        steps = list(canvas.steps.order_by("position"))
        index = next(i for i, s in enumerate(steps) if s.pk == waiting_step_id)
        waiting = steps[index]
        walk = canvas_walk(steps=steps, start=index + 1)
        step_id, resume_at, exited_at = _placement(walk, now)
        profile_ids = [p for _, p in moving]
        increments = step_type(waiting.kind).on_exit(
            step=waiting, profile_ids=profile_ids, onward=index + 1 < len(steps), now=now)
        CanvasEntry.objects.filter(pk__in=[pk for pk, _ in moving]).update(
            current_step_id=step_id, resume_at=resume_at, exited_at=exited_at)
        profiles = _profile_rows(Profile.objects.filter(pk__in=profile_ids))
        _merge(increments, _reach(canvas=canvas, steps=steps, walk=walk, profiles=profiles,
                                  now=now))
        step_stats_add(increments=increments, at=now)
        return len(moving)
