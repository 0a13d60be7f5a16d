"""Custom attributes: their names, their types, and the workspace's catalogue of them.

A value is typed by what JSON it is: a string, a number (integers and floats alike), a
boolean, a list of strings, or a date-time (a string in ISO 8601 with a time zone, such
as ``2026-12-02T01:02:03Z``). A date-time is stored in one canonical UTC form,
``2026-12-02T01:02:03.000000Z``, so that SQLite and PostgreSQL order and compare it as
text alike. The first value seen of a name fixes its type in the catalogue; ``null``
removes the attribute from the profile.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from django.utils import timezone

from .fields import USER_FIELDS, json_type
from .models import AttributeDefinition, AttributeType, Profile, Workspace

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# The user fields are columns of their own; refused whatever their case.
RESERVED = frozenset(USER_FIELDS)
MAX_PER_WORKSPACE = 500
MAX_STRING_LENGTH = 1000
MAX_ARRAY_LENGTH = 100
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})",
                       re.IGNORECASE)
TYPE_TEXT = {
    AttributeType.STRING: "a string",
    AttributeType.NUMBER: "a number",
    AttributeType.BOOLEAN: "a boolean",
    AttributeType.DATETIME: "a date-time",
    AttributeType.STRING_ARRAY: "a list of strings",
}


def datetime_canonical(value: datetime) -> str:
    """The one stored form of a date-time: UTC, microseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def datetime_parse(text: str) -> datetime | None:
    """An ISO 8601 date-time with a time zone, or None when ``text`` is not one."""
    if not _DATETIME.fullmatch(text.strip()):
        return None
    try:
        return datetime.fromisoformat(text.strip().upper())
    except ValueError:
        return None


def attribute_name_problem(name: str) -> str:
    """Why ``name`` cannot be a custom attribute's name ("" when it can)."""
    if name.lower() in RESERVED:
        return f"{name!r} is a field of its own, not a custom attribute."
    if not NAME.fullmatch(name):
        return ("An attribute name is 1 to 64 letters, digits or underscores, not starting with "
                "a digit.")
    return ""


@dataclass(frozen=True)
class TypedValue:
    type: str | None  # None: the value is null (remove the attribute)
    value: object
    text: str | None = None  # a string value as sent, for a string attribute that looks like a date


def attribute_value_type(value: object) -> TypedValue:
    """The type and stored form of a JSON value; ValueError says why it cannot be stored."""
    if value is None:
        return TypedValue(None, None)
    if isinstance(value, bool):
        return TypedValue(AttributeType.BOOLEAN, value)
    if isinstance(value, int | float):
        return TypedValue(AttributeType.NUMBER, value)
    if isinstance(value, str):
        _check_text(value)
        moment = datetime_parse(value)
        if moment is not None:
            return TypedValue(AttributeType.DATETIME, datetime_canonical(moment), text=value)
        return TypedValue(AttributeType.STRING, value)
    if isinstance(value, list):
        if len(value) > MAX_ARRAY_LENGTH:
            raise ValueError(f"A list of at most {MAX_ARRAY_LENGTH} strings, not {len(value)}.")
        for element in value:
            if not isinstance(element, str):
                raise ValueError(f"A list attribute holds strings only, not {json_type(element)}.")
            _check_text(element)
        return TypedValue(AttributeType.STRING_ARRAY, value)
    raise ValueError("An attribute is a string, number, boolean, date-time or list of strings, "
                     "not an object.")


def _check_text(text: str) -> None:
    if len(text) > MAX_STRING_LENGTH:
        raise ValueError(f"Longer than {MAX_STRING_LENGTH} characters.")
    # PostgreSQL refuses NUL in JSON text.
    if "\x00" in text:
        raise ValueError("Contains a NUL character.")


def attribute_value_for_type(typed: TypedValue, *, type: str) -> object:
    """The value to store under an attribute of ``type``; ValueError when it does not fit."""
    if typed.type == type:
        return typed.value
    # A string attribute takes any text, including one that reads as a date.
    if type == AttributeType.STRING and typed.type == AttributeType.DATETIME:
        return typed.text
    expected = TYPE_TEXT[AttributeType(type)]
    got = TYPE_TEXT[AttributeType(typed.type)]
    hint = (" (a date-time is ISO 8601 with a time zone, e.g. 2026-12-02T01:02:03Z)"
            if type == AttributeType.DATETIME else "")
    raise ValueError(f"This workspace's attribute is {expected}{hint}, not {got}.")


# --- CSV cells ------------------------------------------------------------------------------
# A cell is text; the column's type says how to read it. A number is written as in JSON (so
# "007" or "1,5" stay text), a boolean as true or false (any case), a date-time as above, a
# list of strings as a JSON array (["a", "b"], in a CSV cell quoted: "[""a"", ""b""]").
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "false": False}
# Integers beyond this lose digits in the JSON of browsers and most partners' tools.
_MAX_EXACT_INTEGER = 2**53


def attribute_cell_value(cell: str, *, type: str) -> object:
    """The stored value of a non-empty CSV ``cell`` in a column of ``type``; ValueError says
    why it does not fit."""
    if type == AttributeType.STRING:
        # As the import has always taken them: a row is at most 128 KB (see csv_rows), and
        # it has no NUL (checked per row).
        return cell
    if type == AttributeType.NUMBER:
        number = _number(cell)
        if number is None:
            raise ValueError(f"{cell!r} is not a number (such as 42, -1.5 or 2e3)")
        return number
    if type == AttributeType.BOOLEAN:
        flag = _BOOLEANS.get(cell.lower())
        if flag is None:
            raise ValueError(f"{cell!r} is not a boolean (true or false)")
        return flag
    if type == AttributeType.DATETIME:
        moment = datetime_parse(cell)
        if moment is None:
            raise ValueError(f"{cell!r} is not a date-time (ISO 8601 with a time zone, such as "
                             "2026-12-02T01:02:03Z)")
        return datetime_canonical(moment)
    strings = _string_list(cell)
    if strings is None:
        raise ValueError(f"{cell!r} is not a list of strings (a JSON array such as "
                         '["a", "b"])')
    if len(strings) > MAX_ARRAY_LENGTH:
        raise ValueError(f"a list of at most {MAX_ARRAY_LENGTH} strings, not {len(strings)}")
    for element in strings:
        _check_text(element)
    return strings


def attribute_column_type(cells: Iterable[str]) -> str:
    """The type of a new CSV column, from its non-empty cells (all of them, or a sample):
    the one type every cell fits, tried in the order number, boolean, date-time, list of
    strings; a string when they fit none alike (or there are none)."""
    candidates = [AttributeType.NUMBER, AttributeType.BOOLEAN, AttributeType.DATETIME,
                  AttributeType.STRING_ARRAY]
    seen = False
    for cell in cells:
        seen = True
        candidates = [type for type in candidates if _fits(cell, type)]
        if not candidates:
            break
    return candidates[0] if seen and candidates else AttributeType.STRING


def _fits(cell: str, type: str) -> bool:
    try:
        attribute_cell_value(cell, type=type)
    except ValueError:
        return False
    return True


def _number(cell: str) -> int | float | None:
    match = _NUMBER.fullmatch(cell)
    if match is None:
        return None
    if match.group(1) is None and match.group(2) is None:
        number = int(cell)
        return number if abs(number) <= _MAX_EXACT_INTEGER else None
    number = float(cell)
    return number if math.isfinite(number) else None


def _string_list(cell: str) -> list | None:
    if not cell.startswith("["):
        return None
    try:
        value = orjson.loads(cell)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        return None
    return value


def attribute_catalogue(*, workspace_id: int) -> dict[str, str]:
    """name -> type of every attribute the workspace has seen."""
    return dict(AttributeDefinition.objects.filter(workspace_id=workspace_id)
                .values_list("name", "type"))


def attribute_catalogue_count(*, workspace: Workspace | None = None) -> int:
    """Count the profiles having each catalogued attribute (of one workspace, or all);
    returns how many attributes were counted."""
    definitions = AttributeDefinition.objects.all()
    if workspace is not None:
        definitions = definitions.filter(workspace=workspace)
    counted = 0
    for definition in definitions.only("pk", "workspace_id", "name").iterator():
        having = Profile.objects.live().filter(workspace_id=definition.workspace_id,
                                               attributes__has_key=definition.name).count()
        AttributeDefinition.objects.filter(pk=definition.pk).update(
            profiles_with_it=having, counted_at=timezone.now())
        counted += 1
    return counted
