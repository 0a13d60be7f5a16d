"""The segment builder's form: a draft definition read from a form post, the edits its
buttons make (add or remove a filter or a group), and what each filter row shows.

The page posts the whole draft with every button, so a plain form post and an htmx request
are the same request; htmx only swaps the builder in place. Fields are named
``<part><group>-join`` and ``<part><group>-f<filter>-<key>``, ``part`` ``g`` for filter
groups and ``x`` for exclusion groups; hidden counts say how many of each there are.
A draft holds what was typed; ``definition_clean`` judges it on save.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import QueryDict

from audiencesync.workspaces.models import AttributeType

from .compile import (
    ATTRIBUTE_OPERATORS,
    CANVAS_OPERATORS,
    CREATED_OPERATORS,
    EVENT_OPERATORS,
    IDENTIFIERS,
    KINDS,
    OPERATOR_LABELS,
    PROPERTY_TYPES,
)
from .selectors import BuilderChoices

PARTS = {"g": "groups", "x": "exclusions"}
KEYS = ("kind", "attribute", "operator", "value", "event", "count", "days", "prop_name",
        "prop_type", "prop_operator", "prop_value", "identifier", "canvas")
# A page of the builder takes at most this many groups and filters per group, so a
# crafted post cannot make it render without end (the definition's own limit is lower).
MAX_GROUPS = 20
MAX_ROWS = 60
_IN_THE_LAST = "In the last … days (blank: ever)"


def draft_empty() -> dict:
    return {"groups": [{"join": "and", "filters": [_row_new()]}], "exclusions": []}


def _row_new(kind: str = "attribute") -> dict:
    return {key: "" for key in KEYS} | {"kind": kind}


def _count(data: QueryDict, name: str, most: int) -> int:
    text = data.get(name, "0")
    return min(int(text), most) if text.isdigit() else 0


def draft_from_post(data: QueryDict) -> dict:
    draft = {}
    for letter, part in PARTS.items():
        groups = []
        for g in range(_count(data, f"{part}-count", MAX_GROUPS)):
            prefix = f"{letter}{g}"
            rows = [{key: data.get(f"{prefix}-f{f}-{key}", "").strip() for key in KEYS}
                    for f in range(_count(data, f"{prefix}-count", MAX_ROWS))]
            groups.append({"join": "or" if data.get(f"{prefix}-join") == "or" else "and",
                           "filters": rows})
        draft[part] = groups
    return draft


def draft_apply(draft: dict, action: str) -> None:
    """An edit button's action: ``add-group``, ``add-exclusion``, ``add-filter:g0``,
    ``remove-filter:g0:2``, ``remove-group:x1``. Anything else changes nothing."""
    verb, _, where = action.partition(":")
    if verb in ("add-group", "add-exclusion"):
        part = "groups" if verb == "add-group" else "exclusions"
        if len(draft[part]) < MAX_GROUPS:
            draft[part].append({"join": "and", "filters": [_row_new()]})
        return
    place, _, index = where.partition(":")
    group = _group_at(draft, place)
    if group is None:
        return
    if verb == "add-filter" and len(group["filters"]) < MAX_ROWS:
        group["filters"].append(_row_new(group["filters"][-1]["kind"] if group["filters"]
                                         else "attribute"))
    elif verb == "remove-filter" and index.isdigit() and int(index) < len(group["filters"]):
        del group["filters"][int(index)]
    elif verb == "remove-group":
        draft[PARTS[place[0]]].remove(group)


def _group_at(draft: dict, place: str) -> dict | None:
    if len(place) < 2 or place[0] not in PARTS or not place[1:].isdigit():
        return None
    groups = draft[PARTS[place[0]]]
    index = int(place[1:])
    return groups[index] if index < len(groups) else None


def draft_to_definition(draft: dict) -> dict:
    """The draft as a definition for ``definition_clean``, rows left as typed."""
    return {part: [{"join": group["join"], "filters": [_row_filter(row) for row in group["filters"]]}
                   for group in draft[part]] for part in PARTS.values()}


def _row_filter(row: dict) -> dict:
    kind = row["kind"]
    if kind == "attribute":
        return {"kind": kind, "attribute": row["attribute"], "operator": row["operator"],
                "value": row["value"]}
    if kind == "event":
        prop = None
        if row["prop_name"]:
            prop = {"name": row["prop_name"], "type": row["prop_type"] or AttributeType.STRING,
                    "operator": row["prop_operator"], "value": row["prop_value"]}
        return {"kind": kind, "event": row["event"], "operator": row["operator"],
                "count": row["count"], "days": row["days"], "property": prop}
    if kind == "identifier":
        return {"kind": kind, "identifier": row["identifier"]}
    return {"kind": kind, "operator": row["operator"], "days": row["days"],
            **({"canvas": row["canvas"]} if kind == "canvas" else {})}


def draft_from_definition(definition: dict) -> dict:
    """A saved definition as the builder shows it."""
    return {part: [{"join": group["join"], "filters": [_filter_row(item) for item in group["filters"]]}
                   for group in definition.get(part, [])] for part in PARTS.values()}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    return str(value)


def _filter_row(item: dict) -> dict:
    row = _row_new(item["kind"])
    for key in ("attribute", "operator", "value", "event", "count", "days", "identifier",
                "canvas"):
        row[key] = _text(item.get(key))
    prop = item.get("property")
    if prop:
        row.update(prop_name=prop["name"], prop_type=prop["type"],
                   prop_operator=prop["operator"], prop_value=_text(prop["value"]))
    return row


# --- what the page shows -------------------------------------------------------------------


@dataclass
class RowView:
    """One filter row: its field name prefix, what was typed, the choices, which inputs."""

    prefix: str
    index: int
    row: dict
    operators: list[tuple[str, str]]
    value_input: str  # "" (none), "text", "lines", "boolean", "days", "number"
    prop_operators: list[tuple[str, str]]
    prop_value_input: str
    attribute_type: str
    count_shown: bool = False
    days_label: str = ""  # the days input's label; "" when the row takes no days
    error: str = ""


@dataclass
class GroupView:
    prefix: str
    part: str
    number: int
    join: str
    rows: list[RowView]
    error: str = ""


def _value_input(type_: str, operator: str) -> str:
    if operator in ("exists", "blank", ""):
        return ""
    if operator in ("more_than_days_ago", "less_than_days_ago"):
        return "days"
    if operator == "any_of":
        return "lines"
    if type_ == AttributeType.BOOLEAN:
        return "boolean"
    if type_ == AttributeType.NUMBER and operator != "contains":
        return "number"
    return "text"


def _choose(row: dict, key: str, options: list[tuple[str, str]]) -> None:
    """Keep the row's choice when it is still offered, else take the first (a new kind or
    attribute type changes what is offered)."""
    if options and row[key] not in {value for value, _ in options}:
        row[key] = options[0][0]


def row_view(row: dict, *, prefix: str, index: int, choices: BuilderChoices) -> RowView:
    row = dict(row)
    if row["kind"] not in KINDS:
        row["kind"] = "attribute"
    kind = row["kind"]
    type_ = ""
    prop_operators, prop_value_input = [], ""
    count_shown, days_label = False, ""
    if kind == "attribute":
        if row["attribute"] not in choices.attributes and choices.attributes:
            row["attribute"] = next(iter(choices.attributes))
        type_ = choices.attributes.get(row["attribute"], "")
        operators = ([(o, OPERATOR_LABELS[o]) for o in ATTRIBUTE_OPERATORS[AttributeType(type_)]]
                     if type_ else [])
        _choose(row, "operator", operators)
        value_input = _value_input(type_, row["operator"])
    elif kind == "event":
        operators = list(EVENT_OPERATORS.items())
        _choose(row, "operator", operators)
        value_input = ""
        if row["prop_type"] not in PROPERTY_TYPES:
            row["prop_type"] = AttributeType.STRING
        prop_operators = [(o, OPERATOR_LABELS[o])
                          for o in ATTRIBUTE_OPERATORS[AttributeType(row["prop_type"])]]
        _choose(row, "prop_operator", prop_operators)
        prop_value_input = _value_input(row["prop_type"], row["prop_operator"])
        count_shown = row["operator"] in ("at_least", "at_most", "exactly")
        days_label = (_IN_THE_LAST if count_shown
                      else "" if row["operator"] == "never" else "Days ago")
    elif kind == "identifier":
        operators = []
        _choose(row, "identifier", list(IDENTIFIERS.items()))
        value_input = ""
    elif kind == "created":
        operators = list(CREATED_OPERATORS.items())
        _choose(row, "operator", operators)
        value_input = ""
        days_label = "Days ago"
    else:
        operators = list(CANVAS_OPERATORS.items())
        _choose(row, "operator", operators)
        _choose(row, "canvas", [(str(pk), name) for pk, name in choices.canvases])
        value_input = ""
        days_label = _IN_THE_LAST if row["operator"] == "entered" else ""
    return RowView(prefix=f"{prefix}-f{index}", index=index, row=row, operators=operators,
                   value_input=value_input, prop_operators=prop_operators,
                   prop_value_input=prop_value_input, attribute_type=type_,
                   count_shown=count_shown, days_label=days_label)


def draft_view(draft: dict, *, choices: BuilderChoices, error_at: tuple | None = None,
               error: str = "") -> dict[str, list[GroupView]]:
    """The groups as the template shows them; ``error_at`` (part, group, filter), numbered
    from 1 as in a SegmentDefinitionError, puts ``error`` beside the row it is about."""
    view = {}
    for letter, part in PARTS.items():
        groups = []
        for g, group in enumerate(draft[part]):
            prefix = f"{letter}{g}"
            rows = [row_view(row, prefix=prefix, index=f, choices=choices)
                    for f, row in enumerate(group["filters"])]
            shown = GroupView(prefix=prefix, part=part, number=g + 1, join=group["join"],
                              rows=rows)
            if error_at and error_at[0] == part and error_at[1] == g + 1:
                if error_at[2] and error_at[2] <= len(rows):
                    rows[error_at[2] - 1].error = error
                else:
                    shown.error = error
            groups.append(shown)
        view[part] = groups
    return view
