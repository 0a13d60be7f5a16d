"""Audience Sync: users who reach it are written to the outbox for a partner audience
(with the hashes stored on their profiles), then pass on at once; the engine sends them
within seconds."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from audiencesync.errors import ServiceError
from audiencesync.workspaces import identifiers, rows
from audiencesync.workspaces.models import Profile
from canvas.models import (
    CanvasStatus,
    ItemPurpose,
    ItemState,
    Step,
    StepKind,
    SyncAction,
    SyncCursor,
    SyncItem,
)
from canvas.services import memberships
from canvas.services.audiences import (
    audience_fill_fields,
    audience_name_unmarked,
    audience_names_taken,
)
from partners import registry
from partners.base import PartnerError
from partners.models import AudienceStatus
from partners.selectors import ad_accounts_selectable, connection_health_problem
from partners.services import partner_audiences_fetch

from .base import Counter, Editor, Increments, StepType

NO_CONSENT = "no_ad_tracking_consent"
NO_CONSENT_TEXT = "The user has not consented to ad tracking, and this step respects consent."


class AudienceSync(StepType):
    kind = StepKind.AUDIENCE_SYNC
    label = StepKind.AUDIENCE_SYNC.label
    add_action = "add-audience-sync"
    primary = True
    fields = ("partner", "ad_account", "audience", "action", "match_fields",
              "respect_ad_tracking")
    needed_to_launch = True
    counters = (
        Counter("entered", "Entered", short="entered"),
        Counter("proceeded", "Proceeded to next step"),
        Counter("synced", "Users synced", short="synced"),
        Counter("not_synced", "Users not synced", short="not synced"),
        Counter("pending", "Users pending", short="pending"),
        Counter("errored", "Users errored", short="errored"),
        Counter("exited", "Exited canvas"),
    )
    editor = Editor(template="canvas/step_sync.html", form="canvas.forms.SyncStepForm",
                    save="canvas.services.canvases.step_sync_save", stay=True)
    summary_template = "canvas/_step_sync_summary.html"

    def describe(self, *, step: Step) -> str:
        return " · ".join(filter(None, [
            step.get_partner_display() if step.partner else "",
            (f"{'Remove from' if step.action == SyncAction.REMOVE else 'Add to'} "
             f"{step.audience.name}") if step.audience else "",
        ]))

    def editor_context(self, *, request, canvas, step: Step, form=None) -> dict:
        """The one form's choices, from what the form holds (what was just sent, on a
        refresh or an error) or else from the step as saved."""
        editable = canvas.status == CanvasStatus.DRAFT
        values = _editor_values(step=step, form=form)
        context = {
            "partners": registry.all_partners(), "editable": editable, "values": values,
            "actions": SyncAction.choices,
        }
        if step.audience_id:
            context["filled_with"] = [", ".join(fields) for fields in
                                      audience_fill_fields(audience=step.audience)]
        if not values["partner"] or values["partner"] not in dict(registry.choices()):
            return context
        partner = registry.get(values["partner"])
        accounts = list(ad_accounts_selectable(workspace=request.workspace,
                                               partner_key=partner.key))
        account = next((a for a in accounts if a.pk == values["ad_account"]), None)
        context.update(partner=partner, accounts=accounts, account=account,
                       field_choices=[(f, f.upper() if f in ("idfa", "gaid") else f.title())
                                      for f in partner.match_field_types])
        if account is None or not editable:
            return context
        try:
            listed = partner_audiences_fetch(ad_account=account,
                                             refresh=request.POST.get("reload") == "1")
        except (ServiceError, PartnerError) as error:
            context["list_error"] = getattr(error, "message", str(error))
            listed = []
        query = values["q"].strip()
        folded = query.casefold()
        listed_ids = {a.id for a in listed}
        # Audiences created here that the partner does not list yet (Pinterest makes them with
        # their first users); an unfinished creation (saving again finishes it) is not offered.
        local = [a for a in account.audiences.filter(created_here=True, lookalike_of__isnull=True)
                 .exclude(status="deleted").exclude(status="creating", external_id="")
                 if a.external_id not in listed_ids]
        for audience in local:
            audience.option_value = f"local-{audience.pk}"
        matching = [a for a in listed if folded in a.name.casefold() or query == a.id]
        context.update(
            listed=matching[:AUDIENCE_OPTIONS_SHOWN], listed_total=len(listed),
            listed_matching=len(matching),
            local=[a for a in local if folded in a.name.casefold()],
            offer_new=bool(query) and query not in {a.id for a in listed},
            new_name_taken=bool(query) and query.casefold() in audience_names_taken(
                ad_account=account, listed=listed,
                retrying=step.audience if _creation_unfinished(step) else None),
        )
        return context

    def launch_problems(self, *, canvas, step: Step, where: str) -> list[str]:
        if not step.partner:  # every item still missing, not only the first
            return [f"{where}: choose a partner ({registry.names(joined_by='or')}).",
                    f"{where}: choose an ad account.",
                    f"{where}: no audience. Type a new audience's name and choose Create "
                    "audience, or choose an existing audience.",
                    f"{where}: choose at least one match field to sync."]
        problems = []
        partner = registry.get(step.partner)
        name = partner.name
        connection = canvas.workspace.connections.filter(partner=step.partner).first()
        problem = connection_health_problem(partner_key=step.partner, connection=connection)
        if problem:
            problems.append(f"{where}: {problem}")
        if step.ad_account is None:
            problems.append(f"{where}: choose an ad account.")
        elif not (step.ad_account.selected and step.ad_account.reachable):
            problems.append(f"{where}: ad account {step.ad_account.name} is no longer selected "
                            "for this workspace.")
        if step.audience is None:
            problems.append(f"{where}: no audience. Type a new audience's name and choose "
                            "Create audience, or choose an existing audience.")
        elif step.audience.status == AudienceStatus.DELETED:
            problems.append(f"{where}: audience {step.audience.name} was deleted at {name}.")
        elif (step.audience.status == AudienceStatus.CREATING
              and not partner.creates_audience_on_first_batch):
            problems.append(f"{where}: creating audience {step.audience.name} at {name} did not "
                            "finish. Save the step again to finish it.")
        if not step.match_fields:
            problems.append(f"{where}: choose at least one match field to sync.")
        elif step.action == SyncAction.REMOVE and step.audience is not None:
            problem = _remove_fields_problem(step, where)
            if problem:
                problems.append(problem)
        return problems

    def on_launch(self, *, steps: list[Step]) -> None:
        SyncCursor.objects.bulk_create([SyncCursor(step=step) for step in steps],
                                       ignore_conflicts=True)

    def on_reach(self, *, canvas, canvas_steps: list[Step], steps: list[Step], profiles: list,
                 now: datetime) -> Increments:
        """Write the outbox items of users passing ``steps`` right now, and count them.

        Items copy the hashes stored on the profiles, in the database (``_items_copy``):
        nothing is hashed here, and no hash passes through Python, except for removes that
        send what a person was added under.
        """
        last_position = canvas_steps[-1].position
        profile_ids = [p.id for p in profiles]
        increments = {}
        # A remove sends what the person was added under: their membership records, adds
        # still pending, and adds written just before it on this walk.
        removes = {step.audience_id for step in steps if step.action == SyncAction.REMOVE}
        added = memberships.membership_hashes(
            audience_ids=sorted(removes), profile_ids=profile_ids) if removes else {}
        # Locking the cursors orders these inserts before any later claim of the steps.
        list(SyncCursor.objects.select_for_update()
             .filter(step_id__in=sorted(step.pk for step in steps)).values_list("pk", flat=True))
        for step in steps:
            copied = profile_ids
            if step.action == SyncAction.REMOVE:
                sending_added = [i for i in profile_ids if (step.audience_id, i) in added]
                if sending_added:
                    _items_of_added(step=step, profile_ids=sending_added, added=added, now=now)
                    copied = sorted(set(profile_ids) - set(sending_added))
            not_synced = _items_copy(step=step, profile_ids=copied, now=now)
            if step.action == SyncAction.ADD and step.audience_id in removes:
                for profile_id, hashes in SyncItem.objects.filter(
                        step=step, created_at=now, state=ItemState.PENDING,
                        profile_id__in=rows.any_of(copied, db_type="bigint"),
                ).values_list("profile_id", "hashes"):
                    added.setdefault((step.audience_id, profile_id), []).append(hashes)
            is_last = step.position == last_position
            increments[step.pk] = {
                "entered": len(profiles), "not_synced": not_synced,
                "proceeded": 0 if is_last else len(profiles),
                "exited": len(profiles) if is_last else 0,
            }
        return increments


# The audience box lists at most this many matches; typing narrows them.
AUDIENCE_OPTIONS_SHOWN = 200


def _editor_values(*, step: Step, form) -> dict:
    """What the editor's fields hold: the values just sent (kept on a refresh or an error),
    or the step's saved settings."""
    if form is None or not form.is_bound:
        return _step_values(step)
    # Read again from what was sent: a field an error was added to left ``cleaned_data``.
    sent = type(form)(form.data)
    sent.is_valid()  # lenient: every field cleans
    values = dict(sent.cleaned_data)
    if "fields_shown" not in form.data:
        # The match fields were not on the page yet (no ad account chosen): an unticked box
        # was never offered, so the step's own settings (consent respected by default) stand.
        values.update(match_fields=list(step.match_fields),
                      respect_ad_tracking=step.respect_ad_tracking)
    return values


def _creation_unfinished(step: Step) -> bool:
    """The step's audience was being created at a partner that makes it at once, and the
    answer was not recorded (a partner that makes it with the first users is never so)."""
    return (step.audience_id is not None and step.audience.status == AudienceStatus.CREATING
            and not registry.get(step.partner).creates_audience_on_first_batch)


def _step_values(step: Step) -> dict:
    audience, q = "", ""
    if _creation_unfinished(step):
        # A creation whose answer was lost: saving again retries it under the same name.
        audience, q = "new", audience_name_unmarked(step.audience.name)
    elif step.audience_id:
        audience = step.audience.external_id or f"local-{step.audience_id}"
    return {"partner": step.partner, "ad_account": step.ad_account_id, "audience": audience,
            "q": q, "action": step.action, "match_fields": list(step.match_fields),
            "respect_ad_tracking": step.respect_ad_tracking, "confirm_duplicate": False}


_ITEM_COLUMNS = ("step_id", "profile_id", "audience_id", "action", "purpose", "hashes", "state",
                 "reason", "created_at", "resolved_at")


def _items_of_added(*, step: Step, profile_ids: list[int], added: dict, now: datetime) -> None:
    """Remove items sending every set of hashes these people were added under."""
    created_at = rows.db_datetime(now)
    rows.rows_insert(model=SyncItem, columns=_ITEM_COLUMNS, rows=[
        (step.pk, profile_id, step.audience_id, step.action, ItemPurpose.JOURNEY,
         rows.db_json(memberships.item_hashes(added[(step.audience_id, profile_id)])),
         ItemState.PENDING, "", created_at, None)
        for profile_id in profile_ids])


def _items_copy(*, step: Step, profile_ids: list[int], now: datetime) -> int:
    """The step's items of these profiles, written from the hashes stored on them by one
    INSERT ... SELECT per outcome; returns how many were not synced.

    Only the step's match fields are copied. A user with none of them usable is not
    synced, with each field's stored reason; so is a user who refused ad tracking, on an
    add that respects consent (a remove is never held back for it, or exactly the people
    who withdrew consent would stay in the audience).
    """
    if not profile_ids:
        return 0
    quote = connection.ops.quote_name
    column = {field: f"p.{quote(identifiers.stored_columns(field)[1])}"
              for field in step.match_fields}
    usable = "(" + " OR ".join(f"{c} <> ''" for c in column.values()) + ")"
    blocked = ("p.ad_tracking_enabled = FALSE"
               if step.action == SyncAction.ADD and step.respect_ad_tracking else "FALSE")
    pairs = ", ".join(f"'{field}', NULLIF({c}, '')" for field, c in column.items())
    if connection.vendor == "postgresql":
        hashes = f"jsonb_strip_nulls(jsonb_build_object({pairs}))"
        chosen, empty = "p.id = ANY(%s)", "'{}'::jsonb"
        ids = list(profile_ids)
    else:
        # json_patch drops the members a null marks, as jsonb_strip_nulls does.
        hashes = f"json_patch('{{}}', json_object({pairs}))"
        chosen, empty = "p.id IN (SELECT value FROM json_each(%s))", "'{}'"
        ids = rows.db_json(list(profile_ids))
    reasons = " || ', ' || ".join(
        f"'{field}: ' || p.{quote(identifiers.stored_columns(field)[2])}"
        for field in step.match_fields)
    items, profile_table = quote(SyncItem._meta.db_table), quote(Profile._meta.db_table)
    names = ", ".join(quote(c) for c in _ITEM_COLUMNS)
    created_at = rows.db_datetime(now)
    common = (step.pk, step.audience_id, step.action, ItemPurpose.JOURNEY)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {items} ({names}) SELECT %s, p.id, %s, %s, %s, {hashes}, %s, '', %s, "
            f"NULL FROM {profile_table} p WHERE {chosen} AND {usable} AND NOT {blocked} "
            "ORDER BY p.id",
            (*common, ItemState.PENDING, created_at, ids))
        cursor.execute(
            f"INSERT INTO {items} ({names}) SELECT %s, p.id, %s, %s, %s, {empty}, %s, "
            f"CASE WHEN {blocked} THEN %s ELSE {reasons} END, %s, %s "
            f"FROM {profile_table} p WHERE {chosen} AND (NOT {usable} OR {blocked}) "
            "ORDER BY p.id",
            (*common, ItemState.NOT_SYNCED, NO_CONSENT, created_at, created_at, ids))
        return cursor.rowcount


def _remove_fields_problem(step: Step, where: str) -> str | None:
    """A remove matching on other fields than every add into its audience removes nobody
    at the partner (which answers "accepted" all the same)."""
    filled = audience_fill_fields(audience=step.audience)
    if not filled or any(set(fields) == set(step.match_fields) for fields in filled):
        return None
    usual = " or ".join(", ".join(fields) for fields in filled)
    return (f"{where}: it removes matching {', '.join(step.match_fields)}, but "
            f"{step.audience.name} is filled matching {usual}. A remove on other fields "
            f"leaves the people in the audience: match on {usual}.")
