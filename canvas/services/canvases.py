"""Canvas lifecycle and the step editor: create, edit steps, create audiences, launch, stop.

What depends on a step's kind (its defaults, launch checks, what launching and stopping
do to it) is asked of its entry in the table of kinds, canvas.steps.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django_q.tasks import async_task

from audiencesync.errors import FieldErrors, ServiceError
from audiencesync.workspaces.models import Workspace
from canvas.models import (
    MAX_DELAY_TEXT,
    Canvas,
    CanvasEntry,
    CanvasStatus,
    DelayUnit,
    EntryMode,
    ExitCriteria,
    Step,
    SyncAction,
    delay_max_value,
)
from canvas.segments.models import Segment
from canvas.steps import STEP_TYPES, all_step_types, step_type
from partners import registry
from partners.base import AudienceInfo, PartnerError
from partners.models import AdAccount, Audience, AudienceStatus
from partners.selectors import ad_accounts_selectable
from partners.services import connection_call, partner_audiences_fetch

from .actions import action_launch_problems, event_filter_check
from .audiences import audience_choose_for_step, audience_fill_fields, audience_names_taken
from .entry import canvas_check_takes_entries
from .entry_settings import EntrySettings, entry_launch_problems
from .exits import canvas_exits_drain

_AUDIENCE_NAME_MAX_LENGTH = Audience._meta.get_field("name").max_length


def canvas_create(*, workspace: Workspace, name: str, user) -> Canvas:
    name = name.strip()
    if not name:
        raise ServiceError("A canvas needs a name.", field="name")
    return Canvas.objects.create(workspace=workspace, name=name, created_by=user)


def canvas_rename(*, canvas: Canvas, name: str) -> Canvas:
    """Any canvas may be renamed: its analytics and sync log follow the canvas, not the name."""
    name = name.strip()
    if not name:
        raise ServiceError("A canvas needs a name.", field="name")
    if len(name) > Canvas._meta.get_field("name").max_length:
        raise ServiceError("A canvas name is at most 200 characters.", field="name")
    if "\x00" in name:
        raise ServiceError("A canvas name cannot contain a NUL character.", field="name")
    Canvas.objects.filter(pk=canvas.pk).update(name=name)
    canvas.name = name
    return canvas


def canvas_archive(*, canvas: Canvas) -> Canvas:
    """Hide a draft or stopped canvas from the list; its analytics stay. An active canvas is
    stopped first, so archiving never lets users go without the stop's confirmation."""
    with transaction.atomic():
        canvas = Canvas.objects.select_for_update().get(pk=canvas.pk)
        if canvas.status == CanvasStatus.ACTIVE:
            raise ServiceError(f"{canvas.name!r} is active: stop it before archiving it.",
                               code="conflict")
        if canvas.archived_at is None:
            canvas.archived_at = timezone.now()
            canvas.save(update_fields=["archived_at"])
    return canvas


def canvas_unarchive(*, canvas: Canvas) -> Canvas:
    Canvas.objects.filter(pk=canvas.pk).update(archived_at=None)
    canvas.archived_at = None
    return canvas


def canvas_delete(*, canvas: Canvas) -> None:
    """Delete a draft that never ran; a canvas that ran is archived instead, keeping its
    analytics and the sync log partners' request ids point to."""
    with transaction.atomic():
        canvas = Canvas.objects.select_for_update().get(pk=canvas.pk)
        if canvas.status != CanvasStatus.DRAFT or canvas.launched_at is not None:
            raise ServiceError(f"{canvas.name!r} has run: archive it instead of deleting it.",
                               code="conflict")
        if CanvasEntry.objects.filter(canvas=canvas).exists():
            raise ServiceError(f"{canvas.name!r} has entries: archive it instead of deleting it.",
                               code="conflict")
        canvas.delete()


def _require_draft(canvas: Canvas) -> None:
    canvas.refresh_from_db(fields=["status"])  # the state now, not when it was read
    if canvas.status != CanvasStatus.DRAFT:
        raise ServiceError(
            f"{canvas.name!r} is {canvas.get_status_display().lower()}: its steps cannot be "
            "added, removed or reordered. Stop it, or duplicate it as a new draft.",
            code="conflict",
        )


def step_add(*, canvas: Canvas, kind: str, position: int | None = None) -> Step:
    """Add a step of ``kind`` at the end, or at ``position`` (0 first), moving later ones on."""
    _require_draft(canvas)
    if kind not in STEP_TYPES:
        raise ServiceError(f"Unknown step kind {kind!r}.")
    with transaction.atomic():
        last = canvas.steps.select_for_update().aggregate(last=Max("position"))["last"]
        end = 0 if last is None else last + 1
        if position is None or not 0 <= position < end:
            position = end
        else:
            # Highest first, so no two steps share a position even where the database checks
            # the unique position at once rather than at commit (SQLite).
            for later in canvas.steps.filter(position__gte=position).order_by("-position"):
                Step.objects.filter(pk=later.pk).update(position=later.position + 1)
        return Step.objects.create(canvas=canvas, kind=kind, position=position,
                                   **step_type(kind).defaults)


def step_remove(*, step: Step) -> None:
    _require_draft(step.canvas)
    with transaction.atomic():
        canvas, position = step.canvas, step.position
        step.delete()
        for later in canvas.steps.filter(position__gt=position).order_by("position"):
            later.position -= 1
            later.save(update_fields=["position"])


def step_move(*, step: Step, offset: int) -> None:
    _require_draft(step.canvas)
    with transaction.atomic():
        other = step.canvas.steps.filter(position=step.position + offset).first()
        if other is None:
            return
        other.position, step.position = step.position, other.position
        other.save(update_fields=["position"])
        step.save(update_fields=["position"])


def step_update_delay(*, step: Step, value: int, unit: str) -> Step:
    _require_draft(step.canvas)
    if unit not in DelayUnit.values or value is None or value < 1:
        raise ServiceError("A delay needs a whole number of at least 1 and a unit.")
    if value > delay_max_value(unit):
        raise ServiceError(f"A delay waits at most {MAX_DELAY_TEXT} "
                           f"({delay_max_value(unit):,} {unit}).", field="delay_value")
    step.delay_value, step.delay_unit = value, unit
    step.save(update_fields=["delay_value", "delay_unit"])
    return step


def step_delay_edit(*, step: Step, user, delay_value: int, delay_unit: str) -> str:
    """The Delay editor's save."""
    step_update_delay(step=step, value=delay_value, unit=delay_unit)
    return "Delay saved."


def _ad_account_for(*, workspace: Workspace, partner_key: str, ad_account_id: int | None):
    if ad_account_id is None:
        return None
    account = AdAccount.objects.filter(
        pk=ad_account_id, connection__workspace=workspace, connection__partner=partner_key,
        selected=True, reachable=True,
    ).select_related("connection").first()
    if account is None:
        raise ServiceError("That ad account is not a selected account of this partner.",
                           field="ad_account")
    return account


def _check_match_fields(partner_key: str, match_fields: list[str]) -> list[str]:
    partner = registry.get(partner_key)
    unknown = [f for f in match_fields if f not in partner.match_field_types]
    if unknown:
        raise ServiceError(f"{partner.name} cannot match on {', '.join(unknown)}.",
                           field="match_fields")
    if partner.one_identifier_type_per_audience:
        types = {partner.match_field_types[f] for f in match_fields}
        if len(types) > 1:
            raise ServiceError(
                f"A {partner.name} audience holds one identifier type: choose email, or the "
                "mobile advertising ids (IDFA/GAID), not both.", field="match_fields")
    order = list(partner.match_field_types)
    return sorted(set(match_fields), key=order.index)


def step_update_sync(
    *, step: Step, partner_key: str, ad_account_id: int | None, audience_id: int | None,
    action: str, match_fields: list[str], respect_ad_tracking: bool,
    remove_on_exit: bool = False,
) -> Step:
    """Save the Audience Sync settings of a draft step (incomplete settings are allowed)."""
    _require_draft(step.canvas)
    if remove_on_exit and action != SyncAction.ADD:
        raise ServiceError("Only an add step can remove the user from its audience when they "
                           "leave the canvas: choose Add, or untick remove on exit.",
                           field="remove_on_exit")
    if partner_key and partner_key not in dict(registry.choices()):
        raise ServiceError(f"Unknown partner {partner_key!r}.", field="partner")
    if action not in SyncAction.values:
        raise ServiceError("Choose add or remove.", field="action")
    workspace = step.canvas.workspace
    account = _ad_account_for(workspace=workspace, partner_key=partner_key,
                              ad_account_id=ad_account_id)
    audience = None
    if audience_id is not None:
        audience = Audience.objects.filter(pk=audience_id, ad_account=account).first()
        if audience is None:
            raise ServiceError("That audience does not belong to the chosen ad account.",
                               field="audience")
    if action == SyncAction.REMOVE and audience is not None and not match_fields:
        # A remove matches on what the audience was filled with, or it reaches nobody.
        filled = audience_fill_fields(audience=audience)
        match_fields = list(filled[0]) if filled else []
    step.partner = partner_key
    step.ad_account = account
    step.audience = audience
    step.action = action
    step.match_fields = _check_match_fields(partner_key, match_fields) if partner_key else []
    step.respect_ad_tracking = respect_ad_tracking
    step.remove_on_exit = remove_on_exit
    step.save()
    return step


NEW_AUDIENCE = "new"


def step_sync_save(
    *, step: Step, user, partner: str, ad_account: int | None, audience: str, q: str,
    action: str, match_fields: list[str], respect_ad_tracking: bool, confirm_duplicate: bool,
    remove_on_exit: bool = False, listed: list[AudienceInfo] | None = None,
) -> str:
    """The Audience Sync editor's one form: partner, ad account, audience (an existing one,
    or ``new`` to create one named ``q``), action and match fields, checked together.

    Every field's problem is reported at once (``FieldErrors``) and nothing is written
    until all are fixed. A new audience named like one the ad account already has is made
    only once the marketer confirms a second one (``confirm_duplicate``). An add step may
    take its people out again when they leave the canvas (``remove_on_exit``). ``listed`` is the
    partner's audience list the page showed, when it has one at hand. Returns the message
    to show.
    """
    _require_draft(step.canvas)
    errors: dict[str, str] = {}
    known_partner = partner in dict(registry.choices())
    if not known_partner:
        errors["partner"] = f"Choose a partner ({registry.names(joined_by='or')})."
    account = None
    if known_partner:
        account = ad_accounts_selectable(workspace=step.canvas.workspace,
                                         partner_key=partner).filter(pk=ad_account).first()
        if account is None:
            errors["ad_account"] = (f"Choose one of the {registry.get(partner).name} ad accounts "
                                    "selected for this workspace.")
    name = q.strip()
    if audience == NEW_AUDIENCE:
        if not name:
            errors["q"] = "Type the new audience's name."
        elif len(name) > _AUDIENCE_NAME_MAX_LENGTH:
            errors["q"] = f"An audience name has at most {_AUDIENCE_NAME_MAX_LENGTH} characters."
        elif "\x00" in name:
            errors["q"] = "An audience name cannot contain a NUL character."
        elif account is not None and not confirm_duplicate:
            if listed is None:
                try:
                    listed = partner_audiences_fetch(ad_account=account)
                except (ServiceError, PartnerError):
                    listed = []  # the partner's list is out of reach: the names known here
            retrying = step.audience if (step.audience is not None and step.audience.status
                                         == AudienceStatus.CREATING) else None
            if name.casefold() in audience_names_taken(ad_account=account, listed=listed,
                                                       retrying=retrying):
                errors["confirm_duplicate"] = (
                    f"{account.name} already has an audience named {name!r}. Choose it from "
                    "the list, or tick the box to create a second one.")
        if action != SyncAction.ADD:
            errors["action"] = "A new audience starts empty: its step adds users."
    elif not audience:
        errors["audience"] = ("Choose an audience from the list, or type a new name and choose "
                              "Create audience.")
    if action not in SyncAction.values:
        errors["action"] = "Choose add or remove."
    if known_partner:
        try:
            match_fields = _check_match_fields(partner, match_fields)
        except ServiceError as error:
            errors["match_fields"] = error.message
        else:
            if not match_fields and not (action == SyncAction.REMOVE and audience != NEW_AUDIENCE):
                errors["match_fields"] = "Choose at least one match field to sync."
    if remove_on_exit and action != SyncAction.ADD:
        errors["remove_on_exit"] = "Only an add step removes its people when they leave."
    if errors:
        raise FieldErrors(errors)
    if audience == NEW_AUDIENCE:
        step_update_sync(step=step, partner_key=partner, ad_account_id=account.pk,
                         audience_id=None, action=SyncAction.ADD, match_fields=match_fields,
                         respect_ad_tracking=respect_ad_tracking, remove_on_exit=remove_on_exit)
        try:
            created = audience_create(step=step, name=name, match_fields=match_fields, user=user)
        except ServiceError as error:
            raise FieldErrors({error.field or "audience": error.message}) from error
        partner_name = registry.get(step.partner).name
        if created.external_id:
            return (f"Audience {created.name!r} was created at {partner_name} "
                    f"(id {created.external_id}).")
        return (f"Audience {created.name!r} was recorded: {partner_name} creates it with the "
                "first users this step sends.")
    try:
        chosen = audience_choose_for_step(ad_account=account, chosen=audience)
    except ServiceError as error:
        raise FieldErrors({"audience": error.message}) from error
    step_update_sync(step=step, partner_key=partner, ad_account_id=account.pk,
                     audience_id=chosen.pk, action=action, match_fields=match_fields,
                     respect_ad_tracking=respect_ad_tracking, remove_on_exit=remove_on_exit)
    return "Step saved."


def audience_create(
    *, step: Step, name: str, match_fields: list[str], user
) -> Audience:
    """Create a new audience at the partner now (or with its first users, for a partner that
    ``creates_audience_on_first_batch``).

    The creation is recorded before the partner is called, under a name that carries a
    marker unique to it. Pressed again after its answer was lost (a dropped database
    connection after the partner made it), it adopts what the earlier attempt made, found
    by that name, instead of making a second audience.
    """
    _require_draft(step.canvas)
    name = name.strip()
    if not name:
        raise ServiceError("Give the new audience a name.", field="name")
    if len(name) > _AUDIENCE_NAME_MAX_LENGTH:
        raise ServiceError(f"An audience name has at most {_AUDIENCE_NAME_MAX_LENGTH} "
                           "characters.", field="name")
    if "\x00" in name:
        raise ServiceError("An audience name cannot contain a NUL character.", field="name")
    if step.ad_account is None:
        raise ServiceError("Choose an ad account first.", field="ad_account")
    partner = registry.get(step.partner)
    match_fields = _check_match_fields(step.partner, match_fields)
    if not match_fields:
        raise ServiceError("Choose at least one match field to sync.", field="match_fields")
    account = step.ad_account
    try:
        audience = _audience_creation_resume(step=step, partner=partner, name=name,
                                             match_fields=match_fields)
        if audience is not None and audience.status != AudienceStatus.CREATING:
            return audience  # the earlier attempt made it
        if audience is None:
            _audience_cap_check(account=account, partner=partner)
            audience = _audience_creation_record(step=step, partner=partner, name=name,
                                                 match_fields=match_fields, user=user)
        info = connection_call(
            connection=account.connection,
            call=lambda p, creds: p.create_audience(
                credentials=creds, ad_account_id=account.external_id, name=audience.name,
                match_fields=match_fields),
        )
    except PartnerError as error:
        raise ServiceError(f"{partner.name} did not create the audience: {error.message}") from error
    return audience_record_created(audience=audience, step=step, info=info)


def _audience_cap_check(*, account: AdAccount, partner) -> None:
    limit = partner.max_audiences_per_ad_account
    if limit is None:
        return
    existing = connection_call(
        connection=account.connection,
        call=lambda p, creds: p.list_audiences(credentials=creds,
                                               ad_account_id=account.external_id),
    )
    if len(existing) >= limit:
        raise ServiceError(f"{partner.name} allows at most {limit} audiences per ad account; "
                           f"{account.name} has {len(existing)}. Delete an unused one first.")


def _audience_creation_record(*, step: Step, partner, name: str, match_fields: list[str],
                              user) -> Audience:
    """The intent, committed before the partner is called: the step's audience, being created."""
    marker = secrets.token_hex(3)
    with transaction.atomic():
        audience = Audience.objects.create(
            ad_account=step.ad_account, name=partner.audience_name_marked(name=name, marker=marker),
            match_fields=match_fields, status=AudienceStatus.CREATING, created_here=True,
            creation_marker=marker, created_by=user,
        )
        step.audience = audience
        step.action = SyncAction.ADD
        step.match_fields = match_fields
        step.save(update_fields=["audience", "action", "match_fields"])
    return audience


def _audience_creation_resume(*, step: Step, partner, name: str,
                              match_fields: list[str]) -> Audience | None:
    """The step's earlier creation whose answer was not recorded, if any.

    If it made the audience at the partner, that audience is recorded (so nothing made is
    ever lost track of) and returned when it is the one asked for now. If it made nothing,
    the request is retried under its name (returned, still being created).
    """
    # As stored: an object in hand may hold what a failed save did not keep.
    earlier = Audience.objects.filter(pk=step.audience_id).first()
    if (earlier is None or earlier.status != AudienceStatus.CREATING
            or earlier.ad_account_id != step.ad_account_id or not earlier.creation_marker):
        return None
    same = (earlier.name == partner.audience_name_marked(name=name, marker=earlier.creation_marker)
            and earlier.match_fields == match_fields)
    made = None
    if not partner.creates_audience_on_first_batch:  # else nothing is made before users arrive
        account = step.ad_account
        made = connection_call(
            connection=account.connection,
            call=lambda p, creds: p.audience_find(credentials=creds,
                                                  ad_account_id=account.external_id,
                                                  name=earlier.name),
        )
    if made is not None:
        # Recorded even when another audience is asked for now: it stays listed as created
        # here (and deletable), never an unknown audience at the partner.
        audience_record_created(audience=earlier, step=step if same else None, info=made)
        return earlier if same else None
    if not same:  # nothing was made: the same intent, under the name asked for now
        earlier.creation_marker = secrets.token_hex(3)
        earlier.name = partner.audience_name_marked(name=name, marker=earlier.creation_marker)
        earlier.match_fields = match_fields
        earlier.save(update_fields=["creation_marker", "name", "match_fields"])
        Step.objects.filter(pk=step.pk).update(match_fields=match_fields)
        step.match_fields = match_fields
    return earlier


def audience_record_created(*, audience: Audience, step: Step | None,
                            info: AudienceInfo | None) -> Audience:
    """Record what the partner made (``info`` None: it makes it with the first users), and
    make it the step's audience."""
    with transaction.atomic():
        audience.external_id = info.id if info else ""
        audience.status = AudienceStatus.ACTIVE if info else AudienceStatus.AWAITING_FIRST_USERS
        audience.save(update_fields=["external_id", "status"])
        if step is not None:
            step.audience = audience
            step.action = SyncAction.ADD
            step.match_fields = audience.match_fields
            step.save(update_fields=["audience", "action", "match_fields"])
    return audience


def canvas_exit_criteria_set(*, canvas: Canvas, event_name: str, event_property: str = "",
                             event_value: str = "", segment_id: int | None = None
                             ) -> ExitCriteria:
    """Set the canvas's exception event (blank: none), with its optional property filter,
    and its exit segment (None: none).

    Users inside the canvas who perform the event leave at once, wherever they are; users
    inside who no longer match the segment leave when it is next checked.
    """
    _require_draft(canvas)
    event_name, event_property, event_value = (
        event_name.strip(), event_property.strip(), event_value.strip())
    segment = None
    if segment_id is not None:
        segment = Segment.objects.filter(pk=segment_id, workspace_id=canvas.workspace_id).first()
        if segment is None:
            raise ServiceError("That segment is not one of this workspace's.", field="segment_id")
    event_filter_check(name=event_name, prop=event_property, value=event_value,
                       which="exception", fields=("event_name", "event_property"))
    for name, text in (("event_property", event_property), ("event_value", event_value)):
        limit = ExitCriteria._meta.get_field(name).max_length
        if len(text) > limit or "\x00" in text:
            raise ServiceError(f"At most {limit} characters, and no NUL character.", field=name)
    criteria, _ = ExitCriteria.objects.update_or_create(
        canvas=canvas, defaults={"event_name": event_name, "event_property": event_property,
                                 "event_value": event_value, "segment": segment,
                                 "segment_name": segment.name if segment else ""})
    return criteria


def canvas_launch_problems(*, canvas: Canvas) -> list[str]:
    """Every reason the canvas cannot launch, in words for the marketer."""
    return [text for _, text in canvas_launch_problems_located(canvas=canvas)]


def canvas_launch_problems_located(*, canvas: Canvas) -> list[tuple[int | None, str]]:
    """Every reason the canvas cannot launch, each with the id of the step it concerns
    (None for the canvas as a whole), so the page can link to where it is fixed."""
    problems: list[tuple[int | None, str]] = [
        (None, text) for text in
        entry_launch_problems(canvas=canvas) + action_launch_problems(canvas=canvas)]
    steps = list(canvas.steps.select_related("ad_account__connection", "audience")
                 .order_by("position"))
    needed = [t for t in all_step_types() if t.needed_to_launch]
    if needed and not any(step_type(step.kind).needed_to_launch for step in steps):
        problems.append((None, f"Add at least one {' or '.join(t.label for t in needed)} step."))
    for number, step in enumerate(steps, start=1):
        where = f"Step {number} ({step.get_kind_display()})"
        problems += [(step.pk, text) for text in
                     step_type(step.kind).launch_problems(canvas=canvas, step=step, where=where)]
    return problems


def canvas_launch(*, canvas: Canvas) -> Canvas:
    with transaction.atomic():
        canvas = Canvas.objects.select_for_update().get(pk=canvas.pk)
        if canvas.status != CanvasStatus.DRAFT:
            raise ServiceError(f"{canvas.name!r} is already {canvas.get_status_display().lower()}.",
                               code="conflict")
        problems = canvas_launch_problems(canvas=canvas)
        if problems:
            raise ServiceError("Launch refused: " + " ".join(problems), code="launch_refused")
        steps = list(canvas.steps.order_by("position"))
        for kind in STEP_TYPES.values():
            kind.on_launch(steps=[step for step in steps if step.kind == kind.kind])
        canvas.status = CanvasStatus.ACTIVE
        canvas.launched_at = timezone.now()
        canvas.save(update_fields=["status", "launched_at"])
        if canvas.entry_mode == EntryMode.SCHEDULED:
            # Not a minute later with the next tick: "at launch" means now.
            transaction.on_commit(lambda: async_task("canvas.tasks.scheduled_entry_tick",
                                                     task_name="scheduled canvas entries"))
    return canvas


def canvas_stop(*, canvas: Canvas) -> Canvas:
    """No new entries; users waiting in a step (a Delay) leave, counted as exits of that
    step, and the audiences that remove on exit let them go; pending syncs still finish.

    The stop commits first; then the users inside leave in chunks (CANVAS_EXIT_CHUNK), for
    up to CANVAS_STOP_INLINE_SECONDS here and the rest from the dispatcher's tick, so a
    canvas with a million users inside stops at once and empties within seconds.
    """
    with transaction.atomic():
        canvas = Canvas.objects.select_for_update().get(pk=canvas.pk)
        if canvas.status != CanvasStatus.ACTIVE:
            raise ServiceError("Only an active canvas can be stopped.", code="conflict")
        canvas.status = CanvasStatus.STOPPED
        canvas.stopped_at = timezone.now()
        canvas.save(update_fields=["status", "stopped_at"])
    canvas_exits_drain(canvas_id=canvas.pk, seconds=settings.CANVAS_STOP_INLINE_SECONDS)
    return canvas


def canvas_enter_all(*, canvas: Canvas) -> None:
    """Enter every profile of the workspace, in the background (once this commits)."""
    canvas_check_takes_entries(canvas=canvas)
    transaction.on_commit(lambda: async_task(
        "canvas.tasks.enter_all_profiles", canvas.pk,
        task_name=f"enter all profiles into canvas {canvas.pk}"))


_COPY_SUFFIX = re.compile(r" \(copy(?: (\d+))?\)$")


def canvas_copy_name(*, workspace: Workspace, name: str) -> str:
    """"X (copy)", then "X (copy 2)", "X (copy 3)"...: a copy of a copy counts on from X."""
    base = _COPY_SUFFIX.sub("", name)
    taken = set(Canvas.objects.filter(workspace=workspace, name__startswith=base)
                .values_list("name", flat=True))
    candidate, number = f"{base} (copy)", 1
    while candidate in taken:
        number += 1
        candidate = f"{base} (copy {number})"
    return candidate


def canvas_duplicate(*, canvas: Canvas, user) -> Canvas:
    with transaction.atomic():
        copy = Canvas.objects.create(
            workspace=canvas.workspace, created_by=user,
            name=canvas_copy_name(workspace=canvas.workspace, name=canvas.name),
            **{name: getattr(canvas, name) for name in EntrySettings.__dataclass_fields__})
        criteria = ExitCriteria.objects.filter(canvas=canvas).first()
        if criteria is not None:
            criteria.pk, criteria.canvas = None, copy
            criteria.save()
        steps = list(canvas.steps.order_by("position"))
        for step in steps:
            step.pk = None
            step.canvas = copy
        Step.objects.bulk_create(steps)
    return copy


def audience_delete(*, audience: Audience) -> None:
    """Delete an audience this product created, at the partner, if no canvas uses it."""
    if audience.steps.exists():
        raise ServiceError(f"{audience.name} is used by a canvas; it cannot be deleted.")
    if not audience.created_here:
        raise ServiceError("Only audiences created here can be deleted here.")
    account = audience.ad_account
    if audience.external_id:
        try:
            connection_call(
                connection=account.connection,
                call=lambda p, creds: p.delete_audience(credentials=creds,
                                                        ad_account_id=account.external_id,
                                                        audience_id=audience.external_id),
            )
        except PartnerError as error:
            raise ServiceError(f"The partner did not delete it: {error.message}") from error
    audience.status = AudienceStatus.DELETED
    audience.save(update_fields=["status"])
