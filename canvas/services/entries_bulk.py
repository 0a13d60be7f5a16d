"""Entering many users at once: from a CSV file, or every profile of the workspace.

Both go in chunks of at most CHUNK_SIZE, each chunk in its own transaction through the
same entry service as the API: memory stays flat, and a long run holds the canvas lock
(which API calls wait on) for one chunk at a time. Chunks already entered stay entered
if a later one fails, and running again is safe: users still in the canvas are counted
as already in it, not entered twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from audiencesync.errors import ServiceError
from audiencesync.workspaces.csv_rows import CsvRow, csv_rows
from audiencesync.workspaces.fields import (
    AD_TRACKING,
    FLAG_SPELLINGS_TEXT,
    USER_FIELDS,
    csv_header_read,
    flag_parse,
)
from audiencesync.workspaces.models import Profile
from canvas.models import Canvas

from .entries_api import UserValidator
from .entry import (
    EntryResult,
    canvas_check_takes_entries,
    canvas_enter_profiles,
    canvas_enter_users,
)

# As many users as one entries API call holds by default (ENTRIES_API_MAX_USERS).
CHUNK_SIZE = 10_000
# Errors listed in a result; the ``rejected`` count stays exact beyond it.
ERRORS_LISTED = 1000


@dataclass
class CsvEntry:
    result: EntryResult
    rows_read: int
    ignored_columns: list[str]


@dataclass
class AllProfilesRun:
    result: EntryResult
    last_profile_id: int
    finished: bool  # False when ``seconds`` ran out first: go on after ``last_profile_id``


def canvas_for_entry(*, canvas_id: int) -> Canvas:
    """The canvas, if it takes entries; ServiceError ``not_found`` or ``conflict`` if not."""
    canvas = Canvas.objects.select_related("workspace").filter(pk=canvas_id).first()
    if canvas is None:
        raise ServiceError(f"No canvas with id {canvas_id}.", code="not_found")
    canvas_check_takes_entries(canvas=canvas)
    return canvas


def canvas_enter_all_profiles(
    *,
    canvas_id: int,
    after_id: int = 0,
    seconds: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AllProfilesRun:
    """Enter the workspace's profiles with an id above ``after_id``, in chunks by id.

    With ``seconds``, stops after the chunk that passes that time (a background task
    must end before its timeout). ``progress(done, total)`` is called after each chunk.
    """
    canvas = canvas_for_entry(canvas_id=canvas_id)
    profiles = Profile.objects.live().filter(workspace_id=canvas.workspace_id)
    total = profiles.filter(pk__gt=after_id).count() if progress else 0
    started = time.monotonic()
    run = AllProfilesRun(result=EntryResult(), last_profile_id=after_id, finished=False)
    done = 0
    with _telling_how_far(run.result):
        while True:
            ids = list(profiles.filter(pk__gt=run.last_profile_id).order_by("pk")
                       .values_list("pk", flat=True)[:CHUNK_SIZE])
            if not ids:
                run.finished = True
                return run
            run.result.add(canvas_enter_profiles(canvas=canvas, profile_ids=ids))
            run.last_profile_id = ids[-1]
            done += len(ids)
            if progress:
                progress(done, total)
            if seconds is not None and time.monotonic() - started >= seconds:
                return run


def canvas_enter_csv(
    *, canvas_id: int, csv_file: BinaryIO, progress: Callable[[int], None] | None = None
) -> CsvEntry:
    """Enter the users of a CSV with a header line (the profile import's columns).

    ``csv_file`` is opened in binary and read as the profile import reads it
    (``csv_rows``): a malformed row is rejected with its line number and the others are
    entered, so ``rows_read`` = entered + already in the canvas + rejected. Columns other
    than the import's identifier columns are ignored (and listed): entering writes no
    attributes. ``progress(rows_read)`` is called after each chunk.
    """
    canvas = canvas_for_entry(canvas_id=canvas_id)
    rows = csv_rows(csv_file)
    columns = _csv_columns(next(rows, None))
    entry = CsvEntry(result=EntryResult(), rows_read=0, ignored_columns=columns.ignored)
    validator = UserValidator()
    chunk: list[dict] = []

    def enter_chunk() -> None:
        if chunk:
            entry.result.add(canvas_enter_users(canvas=canvas, users=chunk))
            chunk.clear()
        if progress:
            progress(entry.rows_read)

    with _telling_how_far(entry.result):
        for row in rows:
            if row.blank:
                continue
            entry.rows_read += 1
            if row.cells is None:
                _reject(entry.result, [{"line": row.line, "field": None,
                                        "message": f"{row.problem[0].upper()}{row.problem[1:]}."}])
                continue
            user, errors = _csv_user(row=row.cells, line=row.line, columns=columns,
                                     validator=validator)
            if user is None:
                _reject(entry.result, [{"line": row.line, "field": name, "message": message}
                                       for name, message in errors])
                continue
            chunk.append(user)
            if len(chunk) == CHUNK_SIZE:
                enter_chunk()
        enter_chunk()
    return entry


@contextmanager
def _telling_how_far(result: EntryResult) -> Iterator[None]:
    """A run that fails midway (the canvas was stopped, the file is broken) says what it did."""
    try:
        yield
    except ServiceError as error:
        raise ServiceError(
            f"{error.message} Before that, {result.entered:,} users were entered "
            f"({result.already_in_canvas:,} already in the canvas, {result.rejected:,} "
            "rejected).", code=error.code,
        ) from None


def _reject(result: EntryResult, errors: list[dict]) -> None:
    result.rejected += 1
    result.errors += errors[:max(0, ERRORS_LISTED - len(result.errors))]


@dataclass(frozen=True)
class _CsvColumns:
    indexes: dict[str, int]  # user field -> column index
    width: int
    ignored: list[str]


def _csv_columns(first: CsvRow | None) -> _CsvColumns:
    """The header's columns, by the profile import's rules; other columns are ignored."""
    header = csv_header_read(first, line_holds="user", other_columns_kept=False)
    return _CsvColumns(
        indexes={name: index for index, name in enumerate(header.columns) if name in USER_FIELDS},
        width=len(header.columns),
        ignored=header.other_columns,
    )


def _csv_user(
    *, row: list[str], line: int, columns: _CsvColumns, validator: UserValidator
) -> tuple[dict | None, list[tuple[str | None, str]]]:
    if len(row) != columns.width:
        return None, [(None, f"Has {len(row)} columns, the header has {columns.width}.")]
    user: dict = {name: row[index] for name, index in columns.indexes.items()
                  if name != AD_TRACKING}
    if AD_TRACKING in columns.indexes:
        cell = row[columns.indexes[AD_TRACKING]]
        flag = flag_parse(cell)
        if flag is None:
            return None, [(AD_TRACKING, f"Is {cell!r}; expected {FLAG_SPELLINGS_TEXT}.")]
        user[AD_TRACKING] = flag
    return validator.clean(user=user, where=f"line {line}")
