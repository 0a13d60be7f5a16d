"""A segment's definition, its rules, and its compilation to one Profile queryset.

The API other code builds on (canvas target audiences among them):

- ``definition_clean(workspace=, definition=) -> dict`` checks a definition against the
  workspace (its attribute catalogue, its canvases) and returns it in stored form, or raises
  ``SegmentDefinitionError`` (a ``ServiceError``) whose message names the group and filter.
  Attribute filters gain the attribute's ``type`` from the catalogue.
- ``definition_q(definition=, workspace_id=, now=None) -> Q`` the condition on ``Profile``
  of a cleaned definition: AND it with another definition's to add filters of the same
  kinds (a canvas's extra filters on top of its segment).
- ``definition_profiles(workspace=, definition=, now=None) -> QuerySet[Profile]`` the live
  profiles of the workspace a cleaned definition selects.
- ``segment_profiles(segment=, now=None) -> QuerySet[Profile]`` the same for a Segment.

None of them queries the database but ``definition_clean``: the queryset is one SQL query
with subqueries, evaluated by whoever counts, samples or enters it. ``now`` (default: the
current time) fixes "N days ago" and "the last D days" so that one answer is consistent.

A definition::

    {"groups": [{"join": "and" | "or", "filters": [filter, ...]}, ...],
     "exclusions": [{"join": "and" | "or", "filters": [filter, ...]}, ...]}

A profile is in the segment when it is live (not erased), meets every group (a group's
filters joined by its ``join``) and meets no exclusion group. No groups means every live
profile. The filters:

- ``{"kind": "attribute", "attribute": name, "type": catalogue type, "operator": op,
  "value": ...}``: ``equals`` / ``not_equals`` (strings, numbers, booleans), ``any_of``
  (a list of at most 256 strings or numbers), ``contains`` / ``not_contains`` (strings: a
  substring, letters A-Z in either case; arrays of strings: an element, exactly),
  ``greater`` / ``less`` (numbers, integers and floats alike), ``before`` / ``after``
  (date-times; the value in the canonical form of ``attributes.datetime_canonical``),
  ``more_than_days_ago`` / ``less_than_days_ago`` (date-times; the value a whole number of
  days; "less than" means between then and now), ``exists`` / ``blank`` (no value).
  A profile without the attribute (or with ``""`` or ``[]``, which count as blank) matches
  ``blank``, ``not_equals`` and ``not_contains`` and no other operator.
- ``{"kind": "event", "event": name, "operator": op, "count": N, "days": D | null,
  "property": null | {"name": ..., "operator": ..., "value": ...}}``: ``at_least`` /
  ``at_most`` / ``exactly`` N times in the last D days (the current UTC day and the D-1
  before it, from the daily counts) or ever (``days`` null, the all-time count);
  ``last_more_than_days_ago`` / ``last_less_than_days_ago`` D days (a profile that never
  performed it matches neither); ``never``. With ``property`` only the events whose
  property matches count, read from the raw events, which are kept for
  EVENT_RETENTION_DAYS: "ever" then means within the retention. A property's type is its
  value's (string, number or boolean); its operators are the attribute ones of that type.
- ``{"kind": "identifier", "identifier": "email" | "phone" | "idfa" | "gaid" |
  "ad_tracking"}``: has a usable identifier of that kind (as judged when it was stored);
  ad tracking enabled.
- ``{"kind": "created", "operator": "more_than_days_ago" | "less_than_days_ago", "days": D}``.
- ``{"kind": "canvas", "operator": "entered" | "in_now", "canvas": id, "days": D | null}``:
  entered the canvas ever (or in the last D days: entered at most D x 24 h ago); is in it
  now (entered and not exited).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import and_, or_

from django.conf import settings
from django.db.models import BooleanField, Count, Expression, F, Max, Q, QuerySet, Sum
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.workspaces import attributes as attrs
from audiencesync.workspaces.models import (
    AttributeDefinition,
    AttributeType,
    Event,
    EventDailyCount,
    EventSummary,
    Profile,
    Workspace,
)

MAX_ANY_OF = 256
MAX_FILTERS = 50
MAX_DAYS = 36500
MAX_COUNT = 1_000_000_000
JOINS = ("and", "or")

# Operators by attribute type, in the order the page offers them.
ATTRIBUTE_OPERATORS = {
    AttributeType.STRING: ("equals", "not_equals", "any_of", "contains", "not_contains",
                           "exists", "blank"),
    AttributeType.NUMBER: ("equals", "not_equals", "any_of", "greater", "less", "exists",
                           "blank"),
    AttributeType.BOOLEAN: ("equals", "not_equals", "exists", "blank"),
    AttributeType.DATETIME: ("before", "after", "more_than_days_ago", "less_than_days_ago",
                             "exists", "blank"),
    AttributeType.STRING_ARRAY: ("contains", "not_contains", "exists", "blank"),
}
PROPERTY_TYPES = (AttributeType.STRING, AttributeType.NUMBER, AttributeType.BOOLEAN)
OPERATOR_LABELS = {
    "equals": "equals", "not_equals": "does not equal", "any_of": "is any of",
    "contains": "contains", "not_contains": "does not contain", "greater": "is greater than",
    "less": "is less than", "before": "is before", "after": "is after",
    "more_than_days_ago": "is more than N days ago", "less_than_days_ago": "is less than N days ago",
    "exists": "has a value", "blank": "is blank",
}
EVENT_OPERATORS = {
    "at_least": "at least N times", "at_most": "at most N times", "exactly": "exactly N times",
    "last_more_than_days_ago": "last performed more than D days ago",
    "last_less_than_days_ago": "last performed less than D days ago",
    "never": "never performed",
}
IDENTIFIERS = {"email": "has a usable email", "phone": "has a usable phone",
               "idfa": "has a usable IDFA", "gaid": "has a usable GAID",
               "ad_tracking": "has ad tracking enabled"}
CREATED_OPERATORS = {"more_than_days_ago": "more than D days ago",
                     "less_than_days_ago": "less than D days ago"}
CANVAS_OPERATORS = {"entered": "entered canvas", "in_now": "is in canvas now"}
KINDS = {"attribute": "Custom attribute", "event": "Custom event", "identifier": "Identifier",
         "created": "Profile created", "canvas": "Canvas history"}
_NO_VALUE = ("exists", "blank")
_DAYS_VALUE = ("more_than_days_ago", "less_than_days_ago")


class SegmentDefinitionError(ServiceError):
    """A definition breaks a rule; the message says where (group, filter) and what, and
    ``where`` is that place: (part, group number, filter number or None), from 1."""

    def __init__(self, message: str, *, field: str | None = None,
                 where: tuple[str, int, int | None] | None = None):
        super().__init__(message, field=field)
        self.where = where


def empty_definition() -> dict:
    return {"groups": [], "exclusions": []}


# --- cleaning ------------------------------------------------------------------------------


def definition_clean(*, workspace: Workspace, definition: object) -> dict:
    """``definition`` checked against the workspace, in stored form; SegmentDefinitionError
    names the first problem's place."""
    from canvas.models import Canvas  # canvas.models imports this package's models

    if not isinstance(definition, dict):
        raise SegmentDefinitionError("A segment definition is an object with groups and "
                                     "exclusions.")
    unknown = sorted(set(definition) - {"groups", "exclusions"})
    if unknown:
        raise SegmentDefinitionError(f"Unknown part(s) {', '.join(map(repr, unknown))} of a "
                                     "segment definition; expected groups and exclusions.")
    catalogue = dict(AttributeDefinition.objects.filter(workspace=workspace)
                     .values_list("name", "type"))
    canvases = set(Canvas.objects.filter(workspace=workspace).values_list("pk", flat=True))
    cleaned = {}
    total = 0
    for part, title in (("groups", "Group"), ("exclusions", "Exclusion group")):
        groups = definition.get(part, [])
        if not isinstance(groups, list):
            raise SegmentDefinitionError(f"{part} must be a list of groups.")
        cleaned[part] = []
        for number, group in enumerate(groups, start=1):
            where = f"{title} {number}"
            if not isinstance(group, dict) or not isinstance(group.get("filters"), list):
                raise SegmentDefinitionError(f"{where}: a group is {{join, filters}}.",
                                             where=(part, number, None))
            join = group.get("join", "and")
            if join not in JOINS:
                raise SegmentDefinitionError(f"{where}: filters are joined by and or or, not "
                                             f"{join!r}.", where=(part, number, None))
            filters = []
            for index, item in enumerate(group["filters"], start=1):
                try:
                    filters.append(_filter_clean(item, catalogue=catalogue, canvases=canvases))
                except SegmentDefinitionError as error:
                    raise SegmentDefinitionError(f"{where}, filter {index}: {error.message}",
                                                 field=error.field,
                                                 where=(part, number, index)) from None
            total += len(filters)
            if filters:
                cleaned[part].append({"join": join, "filters": filters})
    if total > MAX_FILTERS:
        raise SegmentDefinitionError(f"A segment has at most {MAX_FILTERS} filters, not {total}.")
    return cleaned


def _problem(message: str, *, field: str | None = None) -> SegmentDefinitionError:
    return SegmentDefinitionError(message, field=field)


def _whole(value: object, *, what: str, field: str, least: int, most: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem(f"{what} must be a whole number.", field=field)
    if not least <= value <= most:
        raise _problem(f"{what} must be between {least} and {most:,}, not {value:,}.", field=field)
    return value


def _no_nul(text: str, *, field: str) -> None:
    # PostgreSQL refuses NUL in JSON text; no stored value holds one either.
    if "\x00" in text:
        raise _problem("Contains a NUL character.", field=field)


def _optional_days(value: object) -> int | None:
    if value in (None, ""):
        return None
    return _whole(value, what="The number of days", field="days", least=1, most=MAX_DAYS)


def _filter_clean(item: object, *, catalogue: dict[str, str], canvases: set[int]) -> dict:
    if not isinstance(item, dict):
        raise _problem("A filter is an object with a kind.")
    kind = item.get("kind")
    if kind == "attribute":
        name = item.get("attribute")
        if not isinstance(name, str) or name not in catalogue:
            raise _problem(f"This workspace has no custom attribute {name!r}; its attributes "
                           "are on the Attributes page.", field="attribute")
        type_ = catalogue[name]
        return {"kind": kind, "attribute": name, "type": type_,
                **_comparison_clean(item.get("operator"), item.get("value"), type_=type_)}
    if kind == "event":
        return _event_clean(item)
    if kind == "identifier":
        if item.get("identifier") not in IDENTIFIERS:
            raise _problem(f"Choose one of {', '.join(IDENTIFIERS)}.", field="identifier")
        return {"kind": kind, "identifier": item["identifier"]}
    if kind == "created":
        if item.get("operator") not in CREATED_OPERATORS:
            raise _problem("Choose more or less than D days ago.", field="operator")
        return {"kind": kind, "operator": item["operator"],
                "days": _whole(item.get("days"), what="The number of days", field="days",
                               least=0, most=MAX_DAYS)}
    if kind == "canvas":
        if item.get("operator") not in CANVAS_OPERATORS:
            raise _problem("Choose entered or is in canvas now.", field="operator")
        canvas = item.get("canvas")
        if isinstance(canvas, str) and canvas.isdigit():
            canvas = int(canvas)
        if canvas not in canvases:
            raise _problem("Choose a canvas of this workspace.", field="canvas")
        days = _optional_days(item.get("days")) if item["operator"] == "entered" else None
        return {"kind": kind, "operator": item["operator"], "canvas": canvas, "days": days}
    raise _problem(f"Unknown filter kind {kind!r}; expected one of {', '.join(KINDS)}.",
                   field="kind")


def _comparison_clean(operator: object, value: object, *, type_: str) -> dict:
    operators = ATTRIBUTE_OPERATORS[AttributeType(type_)]
    if operator not in operators:
        names = ", ".join(OPERATOR_LABELS[o] for o in operators)
        raise _problem(f"A {AttributeType(type_).label.lower()} takes {names}; not {operator!r}.",
                       field="operator")
    if operator in _NO_VALUE:
        return {"operator": operator, "value": None}
    if operator in _DAYS_VALUE:
        return {"operator": operator, "value": _whole(value, what="The number of days",
                                                      field="value", least=0, most=MAX_DAYS)}
    if operator == "any_of":
        values = value if isinstance(value, list) else _text_list(value)
        if not values:
            raise _problem("Give at least one value.", field="value")
        if len(values) > MAX_ANY_OF:
            raise _problem(f"At most {MAX_ANY_OF} values, not {len(values)}.", field="value")
        return {"operator": operator,
                "value": [_scalar_clean(v, type_=type_) for v in values]}
    if operator in ("contains", "not_contains"):
        text = _scalar_clean(value, type_=AttributeType.STRING)
        if text == "":
            raise _problem("Give the text to look for.", field="value")
        return {"operator": operator, "value": text}
    return {"operator": operator, "value": _scalar_clean(value, type_=type_)}


def _text_list(value: object) -> list:
    """Values typed one a line (the page's text area), blank lines left out."""
    if not isinstance(value, str):
        return []
    return [line.strip() for line in value.splitlines() if line.strip()]


def _scalar_clean(value: object, *, type_: str) -> object:
    if type_ == AttributeType.STRING:
        if not isinstance(value, str):
            raise _problem("Give a text value.", field="value")
        _no_nul(value, field="value")
        if len(value) > attrs.MAX_STRING_LENGTH:
            raise _problem(f"A value is at most {attrs.MAX_STRING_LENGTH} characters.",
                           field="value")
        return value
    if type_ == AttributeType.NUMBER:
        if isinstance(value, str):
            try:
                value = float(value.strip()) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                raise _problem(f"{value!r} is not a number.", field="value") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise _problem("Give a number.", field="value")
        return value
    if type_ == AttributeType.BOOLEAN:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise _problem("Choose true or false.", field="value")
        return value
    if type_ == AttributeType.DATETIME:
        moment = attrs.datetime_parse(value) if isinstance(value, str) else None
        if moment is None:
            raise _problem("Give a date-time in ISO 8601 with a time zone, e.g. "
                           "2026-12-02T01:02:03Z.", field="value")
        return attrs.datetime_canonical(moment)
    raise _problem(f"{type_} values cannot be compared.", field="value")


def _event_clean(item: dict) -> dict:
    name = item.get("event")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise _problem("Give the event's name (at most 64 characters).", field="event")
    _no_nul(name, field="event")
    operator = item.get("operator")
    if operator not in EVENT_OPERATORS:
        raise _problem(f"Choose one of {', '.join(EVENT_OPERATORS.values())}.", field="operator")
    cleaned = {"kind": "event", "event": name.strip(), "operator": operator, "count": None,
               "days": None, "property": None}
    if operator in ("at_least", "at_most", "exactly"):
        cleaned["count"] = _whole(item.get("count"), what="The number of times", field="count",
                                  least=0, most=MAX_COUNT)
        cleaned["days"] = _optional_days(item.get("days"))
    elif operator != "never":
        cleaned["days"] = _whole(item.get("days"), what="The number of days", field="days",
                                 least=0, most=MAX_DAYS)
    prop = item.get("property")
    if prop:
        if not isinstance(prop, dict) or not isinstance(prop.get("name"), str) or not (
                attrs.NAME.fullmatch(prop["name"])):
            raise _problem("A property filter names a property (letters, digits, underscores).",
                           field="property")
        type_ = prop.get("type") or _property_type(prop.get("value"))
        if type_ not in PROPERTY_TYPES:
            raise _problem("A property is compared as a string, a number or a boolean.",
                           field="property")
        cleaned["property"] = {"name": prop["name"], "type": type_,
                               **_comparison_clean(prop.get("operator"), prop.get("value"),
                                                   type_=type_)}
    return cleaned


def _property_type(value: object) -> str:
    if isinstance(value, bool):
        return AttributeType.BOOLEAN
    if isinstance(value, int | float) or (isinstance(value, list) and value and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        return AttributeType.NUMBER
    return AttributeType.STRING


# --- compiling -----------------------------------------------------------------------------


def segment_profiles(*, segment, now: datetime | None = None) -> QuerySet[Profile]:
    """The live profiles a Segment selects, as one lazy queryset."""
    return definition_profiles(workspace=segment.workspace_id, definition=segment.definition,
                               now=now)


def definition_profiles(*, workspace: Workspace | int, definition: dict,
                        now: datetime | None = None) -> QuerySet[Profile]:
    """The live profiles of ``workspace`` a cleaned ``definition`` selects (lazy)."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    return Profile.objects.live().filter(
        definition_q(definition=definition, workspace_id=workspace_id, now=now),
        workspace_id=workspace_id)


def definition_q(*, definition: dict, workspace_id: int, now: datetime | None = None) -> Q:
    """The condition on Profile of a cleaned ``definition`` (Q() when it has no group)."""
    context = _Context(workspace_id=workspace_id, now=now or timezone.now())
    condition = Q()
    for group in definition.get("groups", []):
        condition &= _group_q(group, context)
    for group in definition.get("exclusions", []):
        condition &= ~_group_q(group, context)
    return condition


class _Context:
    def __init__(self, *, workspace_id: int, now: datetime):
        self.workspace_id = workspace_id
        self.now = now
        self.today = now.astimezone(UTC).date()

    def day_start(self, days: int) -> datetime:
        """Midnight UTC opening the last ``days`` days (today and the days-1 before it)."""
        first = self.today - timedelta(days=days - 1)
        return datetime(first.year, first.month, first.day, tzinfo=UTC)


def _group_q(group: dict, context: _Context) -> Q:
    parts = [_filter_q(item, context) for item in group["filters"]]
    return reduce(or_ if group["join"] == "or" else and_, parts)


def _filter_q(item: dict, context: _Context) -> Q:
    kind = item["kind"]
    if kind == "attribute":
        return _comparison_q("attributes", item["attribute"], item["type"], item["operator"],
                             item["value"], context)
    if kind == "event":
        return _event_q(item, context)
    if kind == "identifier":
        if item["identifier"] == "ad_tracking":
            return Q(ad_tracking_enabled=True)
        return Q(**{f"{item['identifier']}_reason": ""})
    if kind == "created":
        cutoff = context.now - timedelta(days=item["days"])
        if item["operator"] == "more_than_days_ago":
            return Q(created_at__lt=cutoff)
        return Q(created_at__gt=cutoff)
    if kind == "canvas":
        from canvas.models import CanvasEntry

        entries = CanvasEntry.objects.filter(canvas_id=item["canvas"],
                                             canvas__workspace_id=context.workspace_id)
        if item["operator"] == "in_now":
            entries = entries.filter(exited_at__isnull=True)
        elif item["days"] is not None:
            entries = entries.filter(entered_at__gt=context.now - timedelta(days=item["days"]))
        return Q(pk__in=entries.values("profile_id"))
    raise ValueError(f"Not a cleaned filter kind: {kind!r}")


def _comparison_q(column: str, key: str, type_: str, operator: str, value: object,
                  context: _Context) -> Q:
    if operator in ("not_equals", "not_contains", "blank"):
        positive = {"not_equals": "equals", "not_contains": "contains", "blank": "exists"}
        return ~Q(JsonTest(column, key, type_, positive[operator], value))
    if operator in _DAYS_VALUE:
        cutoff = attrs.datetime_canonical(context.now - timedelta(days=value))
        if operator == "more_than_days_ago":
            return Q(JsonTest(column, key, type_, "before", cutoff))
        return Q(JsonTest(column, key, type_, "after", cutoff)) & Q(
            JsonTest(column, key, type_, "not_after", attrs.datetime_canonical(context.now)))
    return Q(JsonTest(column, key, type_, operator, value))


def _event_q(item: dict, context: _Context) -> Q:
    operator, count, days = item["operator"], item["count"], item["days"]
    if item["property"] is not None:
        return _event_property_q(item, context)
    if operator in ("last_more_than_days_ago", "last_less_than_days_ago"):
        cutoff = context.now - timedelta(days=days)
        last = ({"last_at__lt": cutoff} if operator == "last_more_than_days_ago"
                else {"last_at__gt": cutoff})
        return Q(pk__in=_summaries(item, context).filter(**last).values("profile_id"))
    if operator == "never":
        return ~Q(pk__in=_summaries(item, context).values("profile_id"))
    if days is None:
        counted = _summaries(item, context).values("profile_id")
        return _count_q(operator, count, lambda least: counted.filter(count__gte=least),
                        lambda exact: counted.filter(count=exact))
    daily = (EventDailyCount.objects.filter(workspace_id=context.workspace_id,
                                            name=item["event"],
                                            day__gte=context.today - timedelta(days=days - 1))
             .order_by().values("profile_id").annotate(total=Sum("count")))
    return _count_q(operator, count,
                    lambda least: daily.filter(total__gte=least).values("profile_id"),
                    lambda exact: daily.filter(total=exact).values("profile_id"))


def _summaries(item: dict, context: _Context) -> QuerySet[EventSummary]:
    return EventSummary.objects.filter(workspace_id=context.workspace_id, name=item["event"])


def _count_q(operator: str, count: int, at_least, exactly) -> Q:
    """at least / at most / exactly ``count`` from subqueries of the profiles performing the
    event at least so many times and exactly so many times. Profiles with none are in no
    subquery, so "at most" and "exactly 0" are the complements of "at least" ones."""
    if operator == "at_least":
        # Everyone performed it at least 0 times; a real condition, so that NOT of it (in an
        # exclusion group) is no one rather than an empty Q's everyone.
        return Q(pk__in=at_least(count)) if count > 0 else Q(pk__isnull=False)
    if operator == "at_most":
        return ~Q(pk__in=at_least(count + 1))
    if count == 0:
        return ~Q(pk__in=at_least(1))
    return Q(pk__in=exactly(count))


def _event_property_q(item: dict, context: _Context) -> Q:
    prop = item["property"]
    events = Event.objects.filter(
        _comparison_q("properties", prop["name"], prop["type"], prop["operator"],
                      prop["value"], context),
        workspace_id=context.workspace_id, name=item["event"])
    operator, count, days = item["operator"], item["count"], item["days"]
    if operator == "never":
        return ~Q(pk__in=events.values("profile_id"))
    per_profile = events.order_by().values("profile_id")
    if operator in ("last_more_than_days_ago", "last_less_than_days_ago"):
        cutoff = context.now - timedelta(days=days)
        latest = per_profile.annotate(latest=Max("time"))
        latest = (latest.filter(latest__lt=cutoff) if operator == "last_more_than_days_ago"
                  else latest.filter(latest__gt=cutoff))
        return Q(pk__in=latest.values("profile_id"))
    if days is not None:
        per_profile = per_profile.filter(time__gte=context.day_start(days))
    counted = per_profile.annotate(total=Count("pk"))
    return _count_q(operator, count,
                    lambda least: counted.filter(total__gte=least).values("profile_id"),
                    lambda exact: counted.filter(total=exact).values("profile_id"))


class JsonTest(Expression):
    """One test of one key of a JSON column, written for each database so that both answer
    alike, and never NULL (so that NOT of it is its complement).

    Tests: ``exists``, ``equals``, ``any_of``, ``contains``, ``greater``, ``less``,
    ``before``, ``after``, ``not_after``. Equality, membership and array elements use
    ``@>`` on PostgreSQL, which the GIN index on profile attributes serves.
    """

    output_field = BooleanField()
    conditional = True

    _PG_TYPES = {AttributeType.STRING: "string", AttributeType.NUMBER: "number",
                 AttributeType.BOOLEAN: "boolean", AttributeType.DATETIME: "string",
                 AttributeType.STRING_ARRAY: "array"}
    _SQLITE_TYPES = {AttributeType.STRING: "('text')", AttributeType.NUMBER: "('integer', 'real')",
                     AttributeType.BOOLEAN: "('true', 'false')", AttributeType.DATETIME: "('text')",
                     AttributeType.STRING_ARRAY: "('array')"}
    _ORDER = {"greater": ">", "less": "<", "before": "<", "after": ">", "not_after": "<="}

    def __init__(self, column: str, key: str, type_: str, test: str, value: object = None):
        super().__init__(output_field=BooleanField())
        if not attrs.NAME.fullmatch(key):
            raise ValueError(f"Not an attribute name: {key!r}")
        self.column = F(column)
        self.key, self.type, self.test, self.value = key, AttributeType(type_), test, value

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        raise NotImplementedError(f"Segments run on SQLite or PostgreSQL, not {connection.vendor}.")

    def as_postgresql(self, compiler, connection):
        col, params = compiler.compile(self.column)
        params = list(params)
        key, test, value = self.key, self.test, self.value
        if test == "exists":
            return (f"({col} ? %s AND ({col} -> %s) NOT IN ('null'::jsonb, '\"\"'::jsonb, "
                    f"'[]'::jsonb))", params + [key] + params + [key])
        typed = f"COALESCE(jsonb_typeof({col} -> %s), '') = '{self._PG_TYPES[self.type]}'"
        if test == "equals" or (test == "contains" and self.type == AttributeType.STRING_ARRAY):
            element = [value] if test == "contains" else value
            return (f"({col} @> %s::jsonb AND {typed})",
                    params + [json.dumps({key: element})] + params + [key])
        if test == "any_of":
            each = " OR ".join([f"{col} @> %s::jsonb"] * len(value))
            each_params = [p for v in value for p in [*params, json.dumps({key: v})]]
            return f"(({each}) AND {typed})", each_params + params + [key]
        if test == "contains":
            return (f"({typed} AND strpos(translate({col} ->> %s, '{_UPPER}', '{_LOWER}'), %s) "
                    f"> 0)", params + [key] + params + [key, _ascii_lower(value)])
        if test in ("greater", "less"):
            return (f"({typed} AND ({col} -> %s) {self._ORDER[test]} %s::jsonb)",
                    params + [key] + params + [key, json.dumps(value)])
        return (f"({typed} AND ({col} ->> %s) COLLATE \"C\" {self._ORDER[test]} %s)",
                params + [key] + params + [key, value])

    def as_sqlite(self, compiler, connection):
        col, params = compiler.compile(self.column)
        params = list(params)
        path = f'$."{self.key}"'
        test, value = self.test, self.value
        of_type = f"json_type({col}, %s) IN {self._SQLITE_TYPES[self.type]}"
        extracted = f"json_extract({col}, %s)"
        if test == "exists":
            sql = (f"json_type({col}, %s) NOT IN ('null') "
                   f"AND NOT (json_type({col}, %s) = 'text' AND json_extract({col}, %s) = '') "
                   f"AND NOT (json_type({col}, %s) = 'array' AND json_array_length({col}, %s) = 0)")
            return f"COALESCE({sql}, 0)", (params + [path]) * 5
        if self.type == AttributeType.BOOLEAN and test == "equals":
            truth = "true" if value else "false"
            return f"COALESCE(json_type({col}, %s) = '{truth}', 0)", params + [path]
        if test == "contains" and self.type == AttributeType.STRING_ARRAY:
            return (f"COALESCE(json_type({col}, %s) = 'array' AND EXISTS (SELECT 1 FROM "
                    f"json_each({col}, %s) AS element WHERE element.type = 'text' AND "
                    f"element.value = %s), 0)", (params + [path]) * 2 + [value])
        if test == "contains":
            return (f"COALESCE({of_type} AND instr(lower({extracted}), %s) > 0, 0)",
                    params + [path] + params + [path, _ascii_lower(value)])
        if test == "any_of":
            marks = ", ".join(["%s"] * len(value))
            return (f"COALESCE({of_type} AND {extracted} IN ({marks}), 0)",
                    params + [path] + params + [path, *value])
        operator = "=" if test == "equals" else self._ORDER[test]
        return (f"COALESCE({of_type} AND {extracted} {operator} %s, 0)",
                params + [path] + params + [path, value])


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()


def _ascii_lower(text: str) -> str:
    """Lower case for A-Z only: what SQLite's lower() does, so both databases agree."""
    return text.translate(str.maketrans(_UPPER, _LOWER))


def event_retention_text() -> str:
    return f"{settings.EVENT_RETENTION_DAYS} days"
