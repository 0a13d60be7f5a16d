"""Who the product put in which partner audience, with the hashes it sent: the membership
records, and the removes that reach exactly those people (journey removes, erasure, consent
withdrawal).

Every function here does a constant number of queries whatever the number of users.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from audiencesync.workspaces import rows
from canvas.models import (
    AudienceMembership,
    CanvasEntry,
    CanvasStatus,
    ItemPurpose,
    ItemState,
    Step,
    SyncAction,
    SyncCursor,
    SyncItem,
)
from partners.models import AudienceStatus

HashSet = dict[str, str]


def hashes_digest(hashes: HashSet) -> str:
    """The same set of hashes, whatever the order of its fields, gives the same digest."""
    return hashlib.sha256(orjson.dumps(hashes, option=orjson.OPT_SORT_KEYS)).hexdigest()


def hash_sets(hashes: HashSet | list[HashSet]) -> list[HashSet]:
    """An item's hashes as a list of sets: a remove may reach a person added under several."""
    if isinstance(hashes, list):
        return [h for h in hashes if h]
    return [hashes] if hashes else []


def item_hashes(sets: list[HashSet]) -> HashSet | list[HashSet]:
    """What a remove item stores: the one set as adds store it, or the list of them."""
    return sets[0] if len(sets) == 1 else sets


def _distinct(sets: Iterable[HashSet]) -> list[HashSet]:
    seen: dict[str, HashSet] = {}
    for hashes in sets:
        seen.setdefault(hashes_digest(hashes), hashes)
    return list(seen.values())


# --- the record: written by the engine when the partner accepted a batch ------------------


def memberships_record_added(*, audience_id: int, step_id: int,
                             members: Sequence[tuple[int | None, HashSet | list]],
                             at: datetime) -> None:
    """The partner accepted these adds: one upsert for the whole batch."""
    added_at = rows.db_datetime(at)
    records = {}
    for profile_id, hashes in members:
        if profile_id is None:
            continue
        for one in hash_sets(hashes):
            digest = hashes_digest(one)
            records[(profile_id, digest)] = (audience_id, profile_id, step_id, rows.db_json(one),
                                             digest, added_at)
    if records:
        rows.rows_upsert(
            model=AudienceMembership,
            columns=["audience_id", "profile_id", "step_id", "hashes", "hashes_digest",
                     "added_at"],
            conflict=["audience_id", "profile_id", "step_id", "hashes_digest"],
            update=["added_at"], rows=records.values())


def memberships_record_removed(*, audience_id: int, profile_ids: Sequence[int | None]) -> None:
    """The partner accepted these removes: the people are out of the audience (one delete).

    The remove sent every set of hashes the person was added under (taken at its entry, and
    no later add of the same person can be sent before it), so every record goes.
    """
    ids = sorted({p for p in profile_ids if p is not None})
    if ids:
        AudienceMembership.objects.filter(
            audience_id=audience_id, profile_id__in=rows.any_of(ids, db_type="bigint")).delete()


# --- what a remove sends -----------------------------------------------------------------


def membership_hashes(*, audience_ids: Sequence[int],
                      profile_ids: Sequence[int]) -> dict[tuple[int, int], list[HashSet]]:
    """(audience, profile) -> every set of hashes the person is (or is about to be) in the
    audience under: the membership records, and adds still pending, which a remove queued
    now is sent after. Two queries."""
    found: dict[tuple[int, int], list[HashSet]] = defaultdict(list)
    if not audience_ids or not profile_ids:
        return found
    ids = rows.any_of(list(profile_ids), db_type="bigint")
    recorded = AudienceMembership.objects.filter(
        audience_id__in=list(audience_ids), profile_id__in=ids,
    ).order_by("id").values_list("audience_id", "profile_id", "hashes")
    pending = SyncItem.objects.filter(
        audience_id__in=list(audience_ids), profile_id__in=ids, action=SyncAction.ADD,
        state=ItemState.PENDING,
    ).order_by("id").values_list("audience_id", "profile_id", "hashes")
    for audience_id, profile_id, hashes in [*recorded, *pending]:
        found[(audience_id, profile_id)].extend(hash_sets(hashes))
    return {key: _distinct(sets) for key, sets in found.items()}


# --- removes from every audience (erasure, consent withdrawal) ----------------------------


@dataclass
class RemovalTarget:
    """One remove to queue: a person out of one audience, under every set of hashes sent."""

    profile_id: int
    audience_id: int
    audience_name: str
    step_id: int
    sets: list[HashSet] = field(default_factory=list)


def membership_removal_plan(*, profile_ids: Sequence[int]) -> list[RemovalTarget]:
    """The removes that take the profiles out of every audience the product put them in.

    Every audience their membership records name, and every audience an add of theirs is
    still pending for (the remove is sent after it). An audience deleted at the partner
    holds nobody. A person whose remove of that audience is already pending, with no add
    pending after it, is left out: asking twice queues nothing new. Two queries.
    """
    if not profile_ids:
        return []
    ids = rows.any_of(list(profile_ids), db_type="bigint")
    live = ~Q(audience__status=AudienceStatus.DELETED)
    recorded = (AudienceMembership.objects.filter(live, profile_id__in=ids)
                .order_by("id")
                .values_list("profile_id", "audience_id", "audience__name", "step_id",
                             "hashes"))
    pending = (SyncItem.objects.filter(live, profile_id__in=ids, state=ItemState.PENDING)
               .order_by("id")
               .values_list("id", "profile_id", "audience_id", "audience__name", "step_id",
                            "action", "hashes"))
    targets: dict[tuple[int, int], RemovalTarget] = {}

    def target(profile_id, audience_id, name, step_id) -> RemovalTarget:
        found = targets.get((profile_id, audience_id))
        if found is None:
            found = targets[(profile_id, audience_id)] = RemovalTarget(
                profile_id=profile_id, audience_id=audience_id, audience_name=name,
                step_id=step_id)
        found.step_id = found.step_id or step_id
        return found

    for profile_id, audience_id, name, step_id, hashes in recorded:
        target(profile_id, audience_id, name, step_id).sets.extend(hash_sets(hashes))
    last: dict[tuple[int, int], str] = {}
    for _, profile_id, audience_id, name, step_id, action, hashes in pending:
        last[(profile_id, audience_id)] = action
        if action == SyncAction.ADD:
            target(profile_id, audience_id, name, step_id).sets.extend(hash_sets(hashes))
    plan = []
    for key, found in targets.items():
        if last.get(key) == SyncAction.REMOVE:
            continue  # already on its way out, after every add of theirs
        found.sets = _distinct(found.sets)
        if found.sets and found.step_id:
            plan.append(found)
    missing_step = [t for t in targets.values() if t.sets and not t.step_id]
    if missing_step:  # the add step is gone: any step of the audience carries the remove
        steps = dict(Step.objects.filter(audience_id__in={t.audience_id for t in missing_step})
                     .order_by("-id").values_list("audience_id", "pk"))
        for found in missing_step:
            if last.get((found.profile_id, found.audience_id)) == SyncAction.REMOVE:
                continue
            found.step_id = steps.get(found.audience_id)
            if found.step_id:
                found.sets = _distinct(found.sets)
                plan.append(found)
    return plan


def memberships_remove(*, profile_ids: Sequence[int], purpose: str,
                       now: datetime | None = None) -> list[RemovalTarget]:
    """Queue the removes of ``membership_removal_plan`` as items of ``purpose``.

    Call it inside the caller's transaction. Inserting under the steps' cursor locks keeps
    item ids in the order claims see them, as at entry.
    """
    plan = membership_removal_plan(profile_ids=profile_ids)
    if not plan:
        return plan
    created_at = rows.db_datetime(now or timezone.now())
    list(SyncCursor.objects.select_for_update()
         .filter(step_id__in=sorted({t.step_id for t in plan})).values_list("pk", flat=True))
    rows.rows_insert(
        model=SyncItem,
        columns=["step_id", "profile_id", "audience_id", "action", "purpose", "hashes", "state",
                 "reason", "created_at", "resolved_at"],
        rows=[(t.step_id, t.profile_id, t.audience_id, SyncAction.REMOVE, purpose,
               rows.db_json(item_hashes(t.sets)), ItemState.PENDING, "", created_at, None)
              for t in plan],
    )
    return plan


def profiles_consent_withdrawn(*, profile_ids: Sequence[int]) -> int:
    """Ad-tracking consent of these profiles just turned off: take them out of every
    audience the product put them in (REMOVE_ON_CONSENT_WITHDRAWN). Returns removes queued.

    Consent gates adds only: this remove is never held back for consent.
    """
    if not settings.REMOVE_ON_CONSENT_WITHDRAWN or not profile_ids:
        return 0
    return len(memberships_remove(profile_ids=profile_ids, purpose=ItemPurpose.CONSENT))


# --- remove on exit: a canvas lets go of the people it holds --------------------------------


def memberships_release(*, exits: Sequence[tuple[int, int]], now: datetime) -> dict:
    """``exits`` (canvas, profile) just left their canvases: queue, on the companion of each
    add step that removes on exit, the remove of the people that step holds in its audience.

    A person stays in the audience while anything else holds them: an add without remove on
    exit (that add meant "keep"), or an add with it of another canvas they are still inside.
    Otherwise the remove sends every set of hashes their membership records and pending adds
    carry, after those adds (latest intent). Nothing is queued for someone whose latest
    pending item for the audience is already a remove. Returns the companions' counters.
    Call it inside the exiting transaction; at most five queries whatever the number of people.
    """
    canvas_ids = sorted({canvas_id for canvas_id, _ in exits})
    releasing = list(Step.objects.filter(canvas_id__in=canvas_ids, remove_on_exit=True,
                                         action=SyncAction.ADD, companion__isnull=False)
                     .values_list("pk", "canvas_id", "audience_id", "companion__pk"))
    if not releasing:
        return {}
    companion_of = {(canvas_id, audience_id): companion
                    for _, canvas_id, audience_id, companion in releasing}
    own_steps = {step_id: canvas_id for step_id, canvas_id, _, _ in releasing}
    audience_ids = sorted({audience_id for _, _, audience_id, _ in releasing})
    profile_ids = sorted({profile_id for _, profile_id in exits})
    ids = rows.any_of(profile_ids, db_type="bigint")
    # (audience, profile) -> [(step, its canvas, removes on exit, hashes)] of what holds them.
    holds: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for audience_id, profile_id, step_id, canvas_id, keeps, hashes in (
            AudienceMembership.objects.filter(audience_id__in=audience_ids, profile_id__in=ids)
            .order_by("id").values_list("audience_id", "profile_id", "step_id",
                                        "step__canvas_id", "step__remove_on_exit", "hashes")):
        holds[(audience_id, profile_id)].append((step_id, canvas_id, keeps, hashes))
    last_action: dict[tuple[int, int], str] = {}
    for audience_id, profile_id, step_id, canvas_id, keeps, action, hashes in (
            SyncItem.objects.filter(audience_id__in=audience_ids, profile_id__in=ids,
                                    state=ItemState.PENDING)
            .order_by("id").values_list("audience_id", "profile_id", "step_id",
                                        "step__canvas_id", "step__remove_on_exit", "action",
                                        "hashes")):
        last_action[(audience_id, profile_id)] = action
        if action == SyncAction.ADD:
            holds[(audience_id, profile_id)].append((step_id, canvas_id, keeps, hashes))
    others = sorted({canvas_id for held in holds.values() for _, canvas_id, keeps, _ in held
                     if keeps and canvas_id is not None} - set(canvas_ids))
    still_inside = set(
        CanvasEntry.objects.filter(canvas_id__in=others, profile_id__in=ids,
                                   exited_at__isnull=True, canvas__status=CanvasStatus.ACTIVE)
        .values_list("canvas_id", "profile_id")) if others else set()
    queued: dict[int, list[tuple[int, list[HashSet]]]] = defaultdict(list)
    for canvas_id, profile_id in sorted(set(exits)):
        for audience_id in audience_ids:
            companion = companion_of.get((canvas_id, audience_id))
            held = holds.get((audience_id, profile_id), [])
            if companion is None or not any(own_steps.get(step_id) == canvas_id
                                            for step_id, *_ in held):
                continue  # this canvas put nobody there
            if last_action.get((audience_id, profile_id)) == SyncAction.REMOVE:
                continue  # already on the way out
            kept = any(step_id is None or not keeps or (
                other != canvas_id and (other, profile_id) in still_inside)
                for step_id, other, keeps, _ in held)
            if kept:
                continue
            sets = _distinct(one for *_, hashes in held for one in hash_sets(hashes))
            if sets:
                queued[companion].append((profile_id, sets))
    if not queued:
        return {}
    audience_of = {companion: audience_id
                   for (_, audience_id), companion in companion_of.items()}
    list(SyncCursor.objects.select_for_update().filter(step_id__in=sorted(queued))
         .values_list("pk", flat=True))
    created_at = rows.db_datetime(now)
    rows.rows_insert(
        model=SyncItem,
        columns=["step_id", "profile_id", "audience_id", "action", "purpose", "hashes", "state",
                 "reason", "created_at", "resolved_at"],
        rows=[(companion, profile_id, audience_of[companion], SyncAction.REMOVE,
               ItemPurpose.JOURNEY, rows.db_json(item_hashes(sets)), ItemState.PENDING, "",
               created_at, None)
              for companion in sorted(queued) for profile_id, sets in queued[companion]])
    return {companion: {"entered": len(people)} for companion, people in queued.items()}
