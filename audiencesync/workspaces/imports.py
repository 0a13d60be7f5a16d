"""Profile import from CSV: one service shared by the ``import_profiles`` command and the page.

The file is streamed row by row (``csv_rows``: a broken row costs no other row) and
written in batches, each in its own transaction,
so memory stays flat (apart from the set of external ids already seen, which finds
duplicates) and a long import never holds the database's write lock for long. A row
that cannot be stored is rejected with its line number; a row whose identifier a
partner cannot use is stored anyway, with a warning, because the other fields still
serve the journeys.

Columns in the file are the truth for the profiles in the file; columns the file does
not have are left as they are. So a file of ``external_id,email`` updates emails and
keeps phones, and an attribute column with an empty cell removes that attribute.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from django.db import transaction
from django.utils import timezone

from audiencesync.errors import ServiceError

from . import identifiers, track
from .csv_rows import csv_rows
from .fields import (
    AD_TRACKING,
    EXTERNAL_ID,
    FLAG_SPELLINGS_TEXT,
    MAX_LENGTH,
    USER_FIELDS,
    csv_header_read,
    flag_parse,
)
from .models import Profile, Workspace

# Reports keep this many rejected rows and warnings to show; their counts stay exact.
REPORT_LIST_LIMIT = 1000


@dataclass
class ImportReport:
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    rejected_count: int = 0
    warning_count: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str, str]] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < REPORT_LIST_LIMIT:
            self.rejected.append((line, reason))

    def warn(self, line: int, column: str, reason: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < REPORT_LIST_LIMIT:
            self.warnings.append((line, column, reason))

    @property
    def imported(self) -> int:
        return self.created + self.updated

    @property
    def rejected_not_listed(self) -> int:
        return self.rejected_count - len(self.rejected)

    @property
    def warnings_not_listed(self) -> int:
        return self.warning_count - len(self.warnings)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.elapsed_seconds if self.elapsed_seconds else 0.0


def _rows_readable(rows, report: ImportReport):
    """(line, cells) of each non-blank row, each counted as read once; a row the reader could
    not read (an open quote, bytes that are not UTF-8) is rejected here with its reason."""
    for row in rows:
        if row.blank:
            continue
        report.rows_read += 1
        if row.cells is None:
            report.reject(row.line, row.problem)
            continue
        yield row.line, row.cells


def profiles_import(
    *,
    workspace: Workspace,
    csv_file: BinaryIO,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    on_consent_withdrawn: Callable[..., object] | None = None,
) -> ImportReport:
    """Create or update the workspace's profiles from a CSV with a header row.

    ``csv_file`` is opened in binary (see ``csv_rows``). Every row read is counted once:
    ``rows_read`` = created + updated + rejected. ``progress`` is called with the number
    of rows read so far after each batch.
    ``on_consent_withdrawn(profile_ids=...)`` is called, inside each batch's transaction, with
    the ids of the profiles whose ad-tracking consent the batch turned off (the caller takes them
    out of partner audiences).
    """
    started = time.monotonic()
    report = ImportReport()
    rows = csv_rows(csv_file)
    header = csv_header_read(next(rows, None), line_holds="profile", other_columns_kept=True)
    parser = _RowParser(workspace=workspace, header=header.columns)
    seen_ids: set[str] = set()
    batch: list[Profile] = []
    for line, cells in _rows_readable(rows, report):
        profile = parser.profile(row=cells, line=line, seen_ids=seen_ids, report=report)
        if profile is not None:
            batch.append(profile)
            if len(batch) >= batch_size:
                _upsert(batch=batch, parser=parser, report=report,
                        on_consent_withdrawn=on_consent_withdrawn)
                batch = []
                if progress is not None:
                    progress(report.rows_read)
    _upsert(batch=batch, parser=parser, report=report, on_consent_withdrawn=on_consent_withdrawn)
    if progress is not None:
        progress(report.rows_read)
    report.elapsed_seconds = time.monotonic() - started
    return report


class _RowParser:
    """Turns one CSV row into an unsaved Profile, or rejects it in the report."""

    def __init__(self, *, workspace: Workspace, header: list[str]):
        self.workspace = workspace
        self.default_country = workspace.default_country
        self.width = len(header)
        self.id_index = header.index(EXTERNAL_ID)
        self.identifier_indexes = [
            (index, name) for index, name in enumerate(header) if name in identifiers.FIELDS
        ]
        self.ad_tracking_index = header.index(AD_TRACKING) if AD_TRACKING in header else None
        self.attribute_indexes = [
            (index, name) for index, name in enumerate(header) if name not in USER_FIELDS
        ]
        self.attribute_names = {name for _, name in self.attribute_indexes}
        present = [name for name in header if name in USER_FIELDS and name != EXTERNAL_ID]
        stored = [column for _, name in self.identifier_indexes
                  for column in identifiers.stored_columns(name)]
        self.update_fields = [*present, *stored,
                              *(["attributes"] if self.attribute_indexes else []), "updated_at"]

    def profile(
        self, *, row: list[str], line: int, seen_ids: set[str], report: ImportReport
    ) -> Profile | None:
        if len(row) != self.width:
            report.reject(line, f"has {len(row)} columns, the header has {self.width}")
            return None
        external_id = row[self.id_index].strip()
        if not external_id:
            report.reject(line, "external_id is empty")
            return None
        if external_id in seen_ids:
            report.reject(line, f"external_id {external_id!r} is on an earlier line too")
            return None
        seen_ids.add(external_id)
        # PostgreSQL refuses NUL in text; checked once per row, not per cell.
        if "\x00" in "".join(row):
            report.reject(line, "contains a NUL character")
            return None
        if len(external_id) > MAX_LENGTH[EXTERNAL_ID]:
            report.reject(line, f"external_id is longer than {MAX_LENGTH[EXTERNAL_ID]} "
                          "characters")
            return None

        profile = Profile(workspace=self.workspace, external_id=external_id)
        if self.ad_tracking_index is not None:
            flag = flag_parse(row[self.ad_tracking_index])
            if flag is None:
                report.reject(line, f"ad_tracking_enabled is {row[self.ad_tracking_index]!r}; "
                              f"expected {FLAG_SPELLINGS_TEXT}")
                return None
            profile.ad_tracking_enabled = flag
        # Warnings are reported only once the row is known to be imported.
        warnings = []
        for index, name in self.identifier_indexes:
            # Stored as given, trimmed; the normalised value has columns of its own.
            value = row[index].strip()
            if len(value) > MAX_LENGTH[name]:
                report.reject(line, f"{name} is longer than {MAX_LENGTH[name]} characters")
                return None
            stored = identifiers.stored_values(field=name, raw=value,
                                               default_country=self.default_country)
            reason = stored[2]
            if reason and reason != identifiers.MISSING:
                warnings.append((name, identifiers.REASON_TEXT[reason]))
            setattr(profile, name, value)
            for column, stored_value in zip(identifiers.stored_columns(name), stored,
                                            strict=True):
                setattr(profile, column, stored_value)
        profile.attributes = {
            name: value for index, name in self.attribute_indexes if (value := row[index].strip())
        }
        for name, reason in warnings:
            report.warn(line, name, reason)
        return profile


def _upsert(*, batch: list[Profile], parser: _RowParser, report: ImportReport,
            on_consent_withdrawn: Callable[..., object] | None) -> None:
    """Write one batch: one SELECT to tell updates from creations, then one upsert (and,
    when the file turns consent off, one SELECT of whose)."""
    if not batch:
        return
    with transaction.atomic():
        withdrawing = []
        if on_consent_withdrawn is not None and parser.ad_tracking_index is not None:
            withdrawing = list(Profile.objects.filter(
                workspace=parser.workspace, ad_tracking_enabled=True,
                external_id__in=[p.external_id for p in batch if not p.ad_tracking_enabled],
            ).values_list("pk", flat=True))
        existing = Profile.objects.filter(
            workspace=parser.workspace, external_id__in=[p.external_id for p in batch]
        )
        if parser.attribute_indexes:
            # Keep the attributes this file says nothing about.
            kept = {
                external_id: {k: v for k, v in attributes.items()
                              if k not in parser.attribute_names}
                for external_id, attributes in existing.values_list("external_id", "attributes")
            }
            for profile in batch:
                if kept.get(profile.external_id):
                    profile.attributes = kept[profile.external_id] | profile.attributes
            existing_count = len(kept)
        else:
            existing_count = existing.count()
        Profile.objects.bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["workspace", "external_id"],
            update_fields=parser.update_fields,
        )
        if withdrawing:
            on_consent_withdrawn(profile_ids=withdrawing)
    report.created += len(batch) - existing_count
    report.updated += existing_count


# --- events --------------------------------------------------------------------------------

EVENT_COLUMNS = (EXTERNAL_ID, "name", "time")


def events_import(
    *,
    workspace: Workspace,
    csv_file: BinaryIO,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Record events from a CSV with the header ``external_id,name,time,<property columns>``.

    Each row is judged by the track API's rules (``track.event_check``): a name, a time with
    a time zone neither more than 1 minute in the future nor older than the retention, the
    other columns' non-empty cells as string properties of at most 4 KB. A row breaking one
    is rejected with its line number; the others are written per batch (missing profiles
    created). Importing only adds events, so a file imported twice counts its events twice.
    ``rows_read`` = ``created`` (events recorded) + rejected.
    """
    started = time.monotonic()
    now = timezone.now()
    window = track.event_time_window(now=now)
    report = ImportReport()
    rows = csv_rows(csv_file)
    header = csv_header_read(next(rows, None), line_holds="event", other_columns_kept=True)
    columns = [c.lower() if c.lower() in EVENT_COLUMNS else c for c in header.columns]
    missing = [name for name in EVENT_COLUMNS if name not in columns]
    if missing:
        raise ServiceError(f"The header needs the columns {', '.join(EVENT_COLUMNS)} (then any "
                           f"property columns); it has no {', '.join(missing)}.", field="file")
    if len(set(columns)) != len(columns):
        raise ServiceError("The header names a column more than once.", field="file")
    width = len(columns)
    positions = {name: columns.index(name) for name in EVENT_COLUMNS}
    property_positions = [(i, name) for i, name in enumerate(columns) if name not in EVENT_COLUMNS]
    batch = []

    def write() -> None:
        report.created += track.events_record(workspace=workspace, events=batch, now=now)
        batch.clear()
        if progress is not None:
            progress(report.rows_read)

    for line, cells in _rows_readable(rows, report):
        if len(cells) != width:
            report.reject(line, f"has {len(cells)} columns, the header has {width}")
            continue
        item = {name: cells[position] for name, position in positions.items()}
        item["time"] = item["time"].strip()
        item["properties"] = {name: value for i, name in property_positions
                              if (value := cells[i].strip())}
        event, problems = track.event_check(item, window=window)
        if problems:
            report.reject(line, "; ".join(f"{name}: {message}" if name else message
                                          for name, message in problems))
            continue
        batch.append(event)
        if len(batch) >= batch_size:
            write()
    write()
    report.elapsed_seconds = time.monotonic() - started
    return report
