"""A user's fields: the one vocabulary of every way users come in.

The profile import (CSV), the entries API, a CSV entered into a canvas and entry itself
name a user's fields, spell true and false, cap lengths and read a CSV header the same
way, from here, so a value one of them accepts is accepted by all.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiencesync.errors import ServiceError

from . import identifiers
from .csv_rows import CsvRow
from .models import Profile

EXTERNAL_ID = "external_id"
AD_TRACKING = "ad_tracking_enabled"
# What a user carries in a file or an API call; any other CSV column is an attribute
# (profile import) or ignored (canvas entry).
USER_FIELDS = (EXTERNAL_ID, *identifiers.FIELDS, AD_TRACKING)
# What entry reads and writes of a profile: its match identifiers and its consent, and
# their values on a new profile that a user's call does not give.
PROFILE_FIELDS = (*identifiers.FIELDS, AD_TRACKING)
PROFILE_DEFAULTS = {**dict.fromkeys(identifiers.FIELDS, ""), AD_TRACKING: True}
# Longest text of each text field, from the model.
MAX_LENGTH = {name: Profile._meta.get_field(name).max_length
              for name in (EXTERNAL_ID, *identifiers.FIELDS)}

# A CSV cell's true and false; an empty cell means consent.
TRUE_SPELLINGS = frozenset({"", "true", "1", "yes", "y", "t"})
FALSE_SPELLINGS = frozenset({"false", "0", "no", "n", "f"})
FLAG_SPELLINGS_TEXT = "true/false, yes/no, 1/0 or empty (true)"

_HEADER_NAMES_SHOWN = 6


def flag_parse(cell: str) -> bool | None:
    """A CSV cell as true or false; None when it is neither."""
    flag = cell.strip().lower()
    if flag in TRUE_SPELLINGS:
        return True
    if flag in FALSE_SPELLINGS:
        return False
    return None


@dataclass(frozen=True)
class CsvHeader:
    names: list[str]  # as written, trimmed
    columns: list[str]  # the user fields lower-cased, other names as written

    @property
    def other_columns(self) -> list[str]:
        return [name for name in self.columns if name not in USER_FIELDS]


def csv_header_read(first: CsvRow | None, *, line_holds: str, other_columns_kept: bool
                    ) -> CsvHeader:
    """The header line of a users CSV; ServiceError (field ``file``) unless it is usable.

    ``line_holds`` names what each further line is ("profile", "user"). User fields are
    matched whatever their case. When ``other_columns_kept`` (they become attributes),
    every column needs a name of its own; otherwise only the user fields must not repeat.
    """
    if first is not None and first.cells is None:
        raise ServiceError(f"The header line cannot be read: it {first.problem}.", field="file")
    if first is None or not first.cells:
        raise ServiceError(f"The file is empty: it needs a header line, then one line per "
                           f"{line_holds}.", field="file")
    names = [name.strip() for name in first.cells]
    columns = [name.lower() if name.lower() in USER_FIELDS else name for name in names]
    if EXTERNAL_ID not in columns:
        shown = ", ".join(repr(name) for name in names[:_HEADER_NAMES_SHOWN])
        more = ", ..." if len(names) > _HEADER_NAMES_SHOWN else ""
        raise ServiceError(
            "The first line must be a header naming the columns, with an external_id column "
            f"(the first line has {shown}{more}).", field="file",
        )
    if other_columns_kept and "" in columns:
        raise ServiceError(f"Column {columns.index('') + 1} of the header has no name.",
                           field="file")
    checked = columns if other_columns_kept else [c for c in columns if c in USER_FIELDS]
    duplicates = sorted({name for name in checked if checked.count(name) > 1})
    if duplicates:
        raise ServiceError(f"The header names {', '.join(duplicates)} more than once.",
                           field="file")
    return CsvHeader(names=names, columns=columns)


def text_clean(name: str, value: object) -> tuple[str, str]:
    """(trimmed value, "") or ("", why it is refused)."""
    if not isinstance(value, str):
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        hint = f' (send it as "{value}")' if is_number else ""
        return "", f"Must be a string, not {json_type(value)}{hint}."
    text = value.strip()
    if len(text) > MAX_LENGTH[name]:
        return "", f"Longer than {MAX_LENGTH[name]} characters."
    # PostgreSQL refuses NUL in text; caught here so one user cannot fail the whole call.
    if "\x00" in text:
        return "", "Contains a NUL character."
    return text, ""


def user_field_clean(name: str, value: object) -> tuple[object, str]:
    """One of a user's own fields (``AD_TRACKING`` or a text field of ``MAX_LENGTH``) as
    sent in JSON: (the value to store, "") or (None, why it is refused)."""
    if name == AD_TRACKING:
        if isinstance(value, bool):
            return value, ""
        return None, f"Must be true or false, not {json_type(value)}."
    text, message = text_clean(name, value)
    return (None, message) if message else (text, "")


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
