"""The track API's data: typed attributes and custom events written for many profiles at once.

``track_payload_parse`` reads a call's body; ``track_write`` writes it. An item breaking a
rule is rejected on its own, by its list and index, with the reason; every other item is
written. Work per call is a constant number of queries whatever the number of items:
missing profiles are created, the ones whose fields change locked (in the order of their
external ids, so two calls changing the same profiles wait for each other rather than
deadlock) and updated in bulk; events are inserted in bulk and their summaries and daily
counts upserted in one statement per table, in the order of (profile, name), in the same
transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audiencesync.errors import ServiceError

from . import attributes as attrs
from . import hooks, identifiers, rows
from .fields import (
    AD_TRACKING,
    EXTERNAL_ID,
    MAX_LENGTH,
    PROFILE_DEFAULTS,
    PROFILE_FIELDS,
    json_type,
    text_clean,
    user_field_clean,
)
from .models import AttributeDefinition, Event, EventDailyCount, EventSummary, Profile, Workspace

ATTRIBUTES = "attributes"
EVENTS = "events"
EVENT_FIELDS = (EXTERNAL_ID, "name", "time", "properties")
EVENT_NAME_MAX_LENGTH = Event._meta.get_field("name").max_length
MAX_PROPERTIES_BYTES = 4096
FUTURE_TOLERANCE = timedelta(minutes=1)


@dataclass
class TrackPayload:
    attributes: list = field(default_factory=list)
    events: list = field(default_factory=list)


@dataclass
class TrackResult:
    attributes_written: int = 0
    events_written: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"attributes_written": self.attributes_written,
                "events_written": self.events_written, "rejected": self.rejected,
                "errors": self.errors}

    def reject(self, *, where: str, index: int, problems: list[tuple[str | None, str]]) -> None:
        self.rejected += 1
        self.errors += [{"list": where, "index": index, "field": name, "message": message}
                        for name, message in problems]


def track_payload_parse(*, body: bytes) -> TrackPayload:
    """ServiceError ``invalid`` when the body is not ``{"attributes": [...], "events":
    [...]}`` (either list may be left out), ``too_large`` when a list is too long."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ServiceError(f"The body is not valid JSON: {error.msg} at line {error.lineno}, "
                           f"column {error.colno}.", code="invalid") from None
    shape = '{"attributes": [...], "events": [...]}'
    if not isinstance(payload, dict):
        raise ServiceError(f"The body must be a JSON object {shape}, not {json_type(payload)}.",
                           code="invalid")
    unknown = sorted(name for name in payload if name not in (ATTRIBUTES, EVENTS))
    if unknown:
        raise ServiceError(f"Unknown top-level field(s) {', '.join(map(repr, unknown))}; the "
                           f"body is {shape}.", code="invalid")
    if ATTRIBUTES not in payload and EVENTS not in payload:
        raise ServiceError(f"The body must have an \"attributes\" or an \"events\" list: {shape}.",
                           code="invalid")
    parsed = TrackPayload()
    for name in (ATTRIBUTES, EVENTS):
        items = payload.get(name, [])
        if not isinstance(items, list):
            raise ServiceError(f'"{name}" must be a list, not {json_type(items)}.', code="invalid")
        if len(items) > settings.TRACK_API_MAX_ITEMS:
            raise ServiceError(f"{len(items):,} {name} in one call; the most is "
                               f"{settings.TRACK_API_MAX_ITEMS:,}. Split them over several calls.",
                               code="too_large")
        setattr(parsed, name, items)
    return parsed


@dataclass
class _ProfileChange:
    fields: dict = field(default_factory=dict)  # identifiers and consent, as sent
    custom: dict = field(default_factory=dict)  # name -> TypedValue


@dataclass(frozen=True)
class _EventRow:
    external_id: str
    name: str
    time: datetime
    properties: str  # JSON


def track_write(*, workspace: Workspace, payload: TrackPayload,
                now: datetime | None = None) -> TrackResult:
    """Upsert the profiles of ``payload.attributes``, record its events; one transaction.

    Attribute items for the same profile apply in their order. A profile whose consent an
    item turns off is handed to the consent-withdrawn hook, in this transaction.
    """
    now = now or timezone.now()
    result = TrackResult()
    with transaction.atomic():
        changes = _attributes_validate(workspace=workspace, items=payload.attributes,
                                       result=result)
        events = _events_validate(items=payload.events, now=now, result=result)
        external_ids = sorted({*(e for e, _ in changes), *(e.external_id for e in events)})
        if not external_ids:
            return _in_call_order(result)
        profile_ids = _profiles_write(workspace=workspace, changes=changes,
                                      external_ids=external_ids, now=now)
        _events_write(workspace=workspace, events=events, profile_ids=profile_ids, now=now)
        if events:  # counted by when they were accepted: the events' own times play no part
            hooks.events_accepted_notify(
                workspace_id=workspace.pk, received_at=now,
                events=[(profile_ids[e.external_id], e.name, e.properties) for e in events])
        result.attributes_written = len(changes)
        result.events_written = len(events)
    return _in_call_order(result)


def _in_call_order(result: TrackResult) -> TrackResult:
    """Errors by list, then index, as the items stand in the call."""
    result.errors.sort(key=lambda error: (error["list"] != ATTRIBUTES, error["index"]))
    return result


# --- attributes ----------------------------------------------------------------------------


def _attributes_validate(*, workspace: Workspace, items: list,
                         result: TrackResult) -> list[tuple[str, _ProfileChange]]:
    parsed: list[tuple[int, str, _ProfileChange]] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        external_id, change, problems = _attribute_item_parse(item)
        if problems:
            result.reject(where=ATTRIBUTES, index=index, problems=problems)
        else:
            parsed.append((index, external_id, change))
            names.update(change.custom)
    catalogue = attrs.attribute_catalogue(workspace_id=workspace.pk)
    if names - catalogue.keys():
        # New names: one writer of the catalogue at a time, so its cap holds and a name's
        # type is fixed by the first call that commits it. (NO KEY: profile inserts of other
        # calls, which share-lock the workspace row as their foreign key, go on meanwhile.)
        Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first()
        catalogue = attrs.attribute_catalogue(workspace_id=workspace.pk)
    new: dict[str, str] = {}
    accepted = []
    for index, external_id, change in parsed:
        problems = []
        stored = {}
        # A name is new to the catalogue only once an item carrying it is accepted.
        item_new: dict[str, str] = {}
        for name, typed in change.custom.items():
            if typed.type is None:
                stored[name] = None
                continue
            known = catalogue.get(name) or new.get(name) or item_new.get(name)
            if known is None:
                if len(catalogue) + len(new) + len(item_new) >= attrs.MAX_PER_WORKSPACE:
                    problems.append((name, f"The workspace has {attrs.MAX_PER_WORKSPACE} custom "
                                     "attributes, the most it can have."))
                    continue
                known = item_new[name] = typed.type
            try:
                stored[name] = attrs.attribute_value_for_type(typed, type=known)
            except ValueError as error:
                problems.append((name, str(error)))
        if problems:
            result.reject(where=ATTRIBUTES, index=index, problems=problems)
            continue
        new.update(item_new)
        change.custom = stored
        accepted.append((external_id, change))
    if new:
        first_seen = timezone.now()
        AttributeDefinition.objects.bulk_create(
            [AttributeDefinition(workspace=workspace, name=name, type=type, first_seen=first_seen)
             for name, type in new.items()], ignore_conflicts=True)
    return accepted


def _attribute_item_parse(item: object) -> tuple[str, _ProfileChange, list]:
    if not isinstance(item, dict):
        return "", _ProfileChange(), [(None, f"Each item must be a JSON object, not "
                                            f"{json_type(item)}.")]
    problems = []
    change = _ProfileChange()
    external_id = ""
    for name, value in item.items():
        if name == AD_TRACKING or name in MAX_LENGTH:
            clean, message = user_field_clean(name, value)
            if message:
                problems.append((name, message))
            elif name == EXTERNAL_ID:
                external_id = clean
            else:
                change.fields[name] = clean
        elif message := attrs.attribute_name_problem(name):
            problems.append((name, message))
        else:
            try:
                change.custom[name] = attrs.attribute_value_type(value)
            except ValueError as error:
                problems.append((name, str(error)))
    if EXTERNAL_ID not in item:
        problems.append((EXTERNAL_ID, "Missing: every item needs an external_id."))
    elif not external_id and not any(n == EXTERNAL_ID for n, _ in problems):
        problems.append((EXTERNAL_ID, "Blank: every item needs an external_id."))
    return external_id, change, problems


def _profiles_write(*, workspace: Workspace, changes: list[tuple[str, _ProfileChange]],
                    external_ids: list[str], now: datetime) -> dict[str, int]:
    """Create missing profiles, apply the changes to the ones that have some; returns
    external id -> profile id of every profile of the call."""
    # Identifiers are judged and hashed here, once, into the profile's stored columns.
    columns = ["workspace_id", "external_id", *PROFILE_FIELDS, *identifiers.STORED_COLUMNS,
               "attributes", "created_at", "updated_at"]
    db_now = rows.db_datetime(now)
    empty = rows.db_json({})
    defaults = [PROFILE_DEFAULTS[f] for f in PROFILE_FIELDS]
    country = workspace.default_country
    blank = [*_stored(defaults, country)]
    rows.rows_upsert(model=Profile, columns=columns, conflict=["workspace_id", "external_id"],
                     update=[], rows=[(workspace.pk, external_id, *defaults, *blank, empty, db_now,
                                       db_now) for external_id in external_ids])
    mine = Profile.objects.filter(workspace=workspace)
    profile_ids = dict(mine.filter(external_id__in=rows.any_of(external_ids, db_type="text"))
                       .values_list("external_id", "id"))
    # The profiles whose fields change are locked, in a fixed order, for the read-merge-
    # write of their attributes. NO KEY: other calls' events referencing them go on.
    changed = sorted({external_id for external_id, _ in changes})
    current = {
        values[1]: values for values in
        mine.select_for_update(no_key=True).filter(
            external_id__in=rows.any_of(changed, db_type="text"))
        .order_by("external_id").values_list("id", "external_id", *PROFILE_FIELDS, "attributes")
    } if changes else {}
    if changes:
        merged: dict[str, list] = {}
        for external_id, change in changes:
            row = merged.get(external_id)
            if row is None:
                _, _, *fields, attributes = current[external_id]
                row = merged[external_id] = [*fields, dict(attributes)]
            for position, name in enumerate(PROFILE_FIELDS):
                if name in change.fields:
                    row[position] = change.fields[name]
            for name, value in change.custom.items():
                if value is None:
                    row[-1].pop(name, None)
                else:
                    row[-1][name] = value
        rows.rows_upsert(
            model=Profile, columns=columns, conflict=["workspace_id", "external_id"],
            update=[*PROFILE_FIELDS, *identifiers.STORED_COLUMNS, "attributes", "updated_at"],
            rows=[(workspace.pk, external_id, *row[:-1], *_stored(row[:-1], country),
                   rows.db_json(row[-1]), db_now, db_now)
                  for external_id, row in merged.items()])
        consent_at = 2 + PROFILE_FIELDS.index(AD_TRACKING)
        withdrawn = [current[external_id][0] for external_id, row in merged.items()
                     if current[external_id][consent_at] and not row[consent_at - 2]]
        if withdrawn:
            hooks.consent_withdrawn_notify(profile_ids=withdrawn)
    return profile_ids


def _stored(fields: list, country: str):
    """The stored identifier columns for a row of PROFILE_FIELDS values, in their order."""
    raw = dict(zip(PROFILE_FIELDS, fields, strict=True))
    return identifiers.stored_row(values={f: raw[f] or "" for f in identifiers.FIELDS},
                                  default_country=country).values()


# --- events --------------------------------------------------------------------------------


def event_time_window(*, now: datetime) -> tuple[datetime, datetime]:
    """(oldest, latest) time an event may have when received at ``now``."""
    return now - timedelta(days=settings.EVENT_RETENTION_DAYS), now + FUTURE_TOLERANCE


def event_check(item: object, *, window: tuple[datetime, datetime]
                ) -> tuple[_EventRow | None, list[tuple[str | None, str]]]:
    """One event item (``{external_id, name, time, properties?}``) judged by the track API's
    rules: (the event, []) or (None, [(field, why), ...]). The CSV event import uses it too."""
    oldest, latest = window
    return _event_parse(item, oldest=oldest, latest=latest)


def events_record(*, workspace: Workspace, events: list[_EventRow], now: datetime) -> int:
    """Record checked events, creating their missing profiles, with their summaries and
    daily counts; one transaction, a constant number of queries. Returns how many."""
    if not events:
        return 0
    with transaction.atomic():
        profile_ids = _profiles_write(workspace=workspace, changes=[], now=now,
                                      external_ids=sorted({e.external_id for e in events}))
        _events_write(workspace=workspace, events=events, profile_ids=profile_ids, now=now)
    return len(events)


def _events_validate(*, items: list, now: datetime, result: TrackResult) -> list[_EventRow]:
    window = event_time_window(now=now)
    accepted = []
    for index, item in enumerate(items):
        event, problems = event_check(item, window=window)
        if problems:
            result.reject(where=EVENTS, index=index, problems=problems)
        else:
            accepted.append(event)
    return accepted


def _event_parse(item: object, *, oldest: datetime, latest: datetime
                 ) -> tuple[_EventRow | None, list]:
    if not isinstance(item, dict):
        return None, [(None, f"Each event must be a JSON object, not {json_type(item)}.")]
    problems = [(name, f"Unknown field {name!r}; an event has {', '.join(EVENT_FIELDS)}.")
                for name in item if name not in EVENT_FIELDS]
    external_id, message = text_clean(EXTERNAL_ID, item.get(EXTERNAL_ID))
    if EXTERNAL_ID not in item:
        problems.append((EXTERNAL_ID, "Missing: every event needs an external_id."))
    elif message:
        problems.append((EXTERNAL_ID, message))
    elif not external_id:
        problems.append((EXTERNAL_ID, "Blank: every event needs an external_id."))
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "Missing: every event needs a name (a non-empty string)."))
    elif len(name.strip()) > EVENT_NAME_MAX_LENGTH:
        problems.append(("name", f"Longer than {EVENT_NAME_MAX_LENGTH} characters."))
    elif any(ord(c) < 32 for c in name):
        problems.append(("name", "Contains a control character."))
    time = item.get("time")
    moment = attrs.datetime_parse(time) if isinstance(time, str) else None
    if moment is None:
        problems.append(("time", "Must be an ISO 8601 date-time with a time zone, e.g. "
                                 "2026-12-02T01:02:03Z."))
    elif moment > latest:
        problems.append(("time", "More than 1 minute in the future."))
    elif moment < oldest:
        problems.append(("time", f"Older than the {settings.EVENT_RETENTION_DAYS} days events "
                                 "are kept (EVENT_RETENTION_DAYS)."))
    properties = item.get("properties")
    properties = {} if properties is None else properties
    encoded = b""
    if not isinstance(properties, dict):
        problems.append(("properties", f"Must be a JSON object, not {json_type(properties)}."))
    else:
        encoded = orjson.dumps(properties)
        if len(encoded) > MAX_PROPERTIES_BYTES:
            problems.append(("properties", f"{len(encoded):,} bytes of JSON; the most is "
                                           f"{MAX_PROPERTIES_BYTES:,}."))
        elif b"\\u0000" in encoded:
            problems.append(("properties", "Contains a NUL character."))
    if problems:
        return None, problems
    return _EventRow(external_id=external_id, name=name.strip(), time=moment,
                     properties=encoded.decode()), []


def _events_write(*, workspace: Workspace, events: list[_EventRow], profile_ids: dict[str, int],
                  now: datetime) -> None:
    if not events:
        return
    adapt_time = connection.ops.adapt_datetimefield_value
    received = adapt_time(now)
    rows.rows_insert(
        model=Event, columns=["workspace_id", "profile_id", "name", "time", "properties",
                              "received_at"],
        rows=[(workspace.pk, profile_ids[e.external_id], e.name, adapt_time(e.time),
               e.properties, received) for e in events])
    summaries: dict[tuple[int, str], list] = {}
    daily: dict[tuple[int, str, object], int] = defaultdict(int)
    for event in events:
        key = (profile_ids[event.external_id], event.name)
        summary = summaries.get(key)
        if summary is None:
            summaries[key] = [1, event.time, event.time]
        else:
            summary[0] += 1
            summary[1] = min(summary[1], event.time)
            summary[2] = max(summary[2], event.time)
        daily[(*key, event.time.astimezone(UTC).date())] += 1
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    quote = connection.ops.quote_name
    count, first_at, last_at = quote("count"), quote("first_at"), quote("last_at")
    rows.rows_upsert(
        model=EventSummary,
        columns=["workspace_id", "profile_id", "name", "count", "first_at", "last_at"],
        conflict=["profile_id", "name"], update=["count", "first_at", "last_at"],
        set_sql={"count": f"{{table}}.{count} + excluded.{count}",
                 "first_at": f"{least}({{table}}.{first_at}, excluded.{first_at})",
                 "last_at": f"{greatest}({{table}}.{last_at}, excluded.{last_at})"},
        rows=[(workspace.pk, profile_id, name, n, adapt_time(first), adapt_time(last))
              for (profile_id, name), (n, first, last) in summaries.items()])
    adapt_day = connection.ops.adapt_datefield_value
    rows.rows_upsert(
        model=EventDailyCount, columns=["workspace_id", "profile_id", "name", "day", "count"],
        conflict=["profile_id", "name", "day"], update=["count"],
        set_sql={"count": f"{{table}}.{count} + excluded.{count}"},
        rows=[(workspace.pk, profile_id, name, adapt_day(day), n)
              for (profile_id, name, day), n in daily.items()])
