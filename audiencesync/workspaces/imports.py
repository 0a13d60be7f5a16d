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

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from queue import Full, Queue
from typing import BinaryIO

import orjson
from django.db import connection, transaction
from django.utils import timezone

from audiencesync.errors import ServiceError

from . import attributes as attrs
from . import identifiers, track
from . import rows as rows_sql
from .csv_rows import csv_rows
from .fields import (
    AD_TRACKING,
    EXTERNAL_ID,
    FLAG_SPELLINGS_TEXT,
    MAX_LENGTH,
    PROFILE_DEFAULTS,
    PROFILE_FIELDS,
    USER_FIELDS,
    csv_header_read,
    flag_parse,
)
from .models import AttributeDefinition, Profile, Workspace

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
    # Attribute columns new to the workspace's catalogue: name -> the type inferred.
    new_attributes: dict[str, str] = field(default_factory=dict)

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

    Attribute columns are typed by the workspace's catalogue; a column new to it gets the
    type its cells in the first batch agree on (``attributes.attribute_column_type``), enters
    the catalogue with the first batch written, and is listed in ``new_attributes``.
    """
    started = time.monotonic()
    report = ImportReport()
    rows = csv_rows(csv_file)
    header = csv_header_read(next(rows, None), line_holds="profile", other_columns_kept=True)
    # The first batch is read ahead so that new columns are typed before any row is judged.
    ahead = list(itertools.islice(rows, batch_size))
    parser = _RowParser(workspace=workspace, header=header.columns, sample=ahead)
    report.new_attributes = dict(parser.new_types)
    writer = _ProfileWriter(parser=parser, on_consent_withdrawn=on_consent_withdrawn)
    batches = _parsed_batches(parser=parser, rows=itertools.chain(ahead, rows), report=report,
                              batch_size=batch_size)
    for batch, rows_read in _read_ahead(batches):
        writer.write(batch=batch, report=report)
        if progress is not None:
            progress(rows_read)
    report.elapsed_seconds = time.monotonic() - started
    return report


def _parsed_batches(*, parser: _RowParser, rows, report: ImportReport,
                    batch_size: int) -> Iterator[tuple[list[tuple], int]]:
    """(rows to write, rows read so far) per batch; the last batch, maybe empty, always."""
    seen_ids: set[str] = set()
    batch: list[tuple] = []
    for line, cells in _rows_readable(rows, report):
        row = parser.row(cells=cells, line=line, seen_ids=seen_ids, report=report)
        if row is not None:
            batch.append(row)
            if len(batch) >= batch_size:
                yield batch, report.rows_read
                batch = []
    yield batch, report.rows_read


_END = object()


def _read_ahead(items: Iterator, *, depth: int = 2) -> Iterator:
    """``items``, produced by a thread up to ``depth`` ahead: the next batch is parsed while
    the database writes this one (psycopg lets go of the GIL while it waits), so an import
    takes about the longer of parsing and writing rather than their sum. The thread only
    reads the file and parses; every query stays on the caller's connection."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the caller, who raises it
            put(error)

    thread = threading.Thread(target=produce, name="import-parser", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


# The columns of a parsed row, in this order; columns the file does not have take the
# model's defaults, and only the file's columns are updated on an existing profile. The
# workspace and the times, the same for every row, are added by the statement.
_PARSED = (EXTERNAL_ID, *PROFILE_FIELDS, *identifiers.STORED_COLUMNS, "attributes")
_INSERTED = ("workspace_id", *_PARSED, "created_at", "updated_at")
# Their types in the staging table of PostgreSQL (the attributes cast to jsonb on the way out).
_STAGED_TYPES = ["bool" if name == AD_TRACKING else "text" for name in _PARSED]


class _RowParser:
    """Turns one CSV row into the tuple of ``_PARSED`` values, or rejects it in the report."""

    def __init__(self, *, workspace: Workspace, header: list[str], sample: list):
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
        self.attribute_names = [name for _, name in self.attribute_indexes]
        for name in self.attribute_names:
            if problem := attrs.attribute_name_problem(name):
                raise ServiceError(f"The header's column {name!r} cannot be an attribute: "
                                   f"{problem}", field="file")
        catalogue = attrs.attribute_catalogue(workspace_id=workspace.pk)
        new_names = [name for name in self.attribute_names if name not in catalogue]
        if len(catalogue) + len(new_names) > attrs.MAX_PER_WORKSPACE:
            raise ServiceError(
                f"The header has {len(new_names)} new attribute columns; the workspace has "
                f"{len(catalogue)} attributes and can have at most {attrs.MAX_PER_WORKSPACE}.",
                field="file")
        cells = [row.cells for row in sample if row.cells and len(row.cells) == self.width]
        self.new_types = {
            name: attrs.attribute_column_type(
                value for row in cells if (value := row[index].strip()))
            for index, name in self.attribute_indexes if name in new_names
        }
        self.types = {**catalogue, **self.new_types}
        self.attribute_columns = [(index, name, self.types[name])
                                  for index, name in self.attribute_indexes]
        self.present = [name for name in PROFILE_FIELDS if name in header]
        self.defaults = [PROFILE_DEFAULTS[name] for name in PROFILE_FIELDS]
        self.stored_defaults = ("", "", identifiers.MISSING) * len(identifiers.FIELDS)

    def row(self, *, cells: list[str], line: int, seen_ids: set[str],
            report: ImportReport) -> tuple | None:
        if len(cells) != self.width:
            report.reject(line, f"has {len(cells)} columns, the header has {self.width}")
            return None
        external_id = cells[self.id_index].strip()
        if not external_id:
            report.reject(line, "external_id is empty")
            return None
        if external_id in seen_ids:
            report.reject(line, f"external_id {external_id!r} is on an earlier line too")
            return None
        seen_ids.add(external_id)
        # PostgreSQL refuses NUL in text; checked once per row, not per cell.
        if "\x00" in "".join(cells):
            report.reject(line, "contains a NUL character")
            return None
        if len(external_id) > MAX_LENGTH[EXTERNAL_ID]:
            report.reject(line, f"external_id is longer than {MAX_LENGTH[EXTERNAL_ID]} "
                          "characters")
            return None

        fields = list(self.defaults)
        if self.ad_tracking_index is not None:
            flag = flag_parse(cells[self.ad_tracking_index])
            if flag is None:
                report.reject(line, f"ad_tracking_enabled is {cells[self.ad_tracking_index]!r}; "
                              f"expected {FLAG_SPELLINGS_TEXT}")
                return None
            fields[_AD_TRACKING_AT] = flag
        stored = list(self.stored_defaults)
        # Warnings are reported only once the row is known to be imported.
        warnings = []
        for index, name in self.identifier_indexes:
            # Stored as given, trimmed; the normalised value has columns of its own.
            value = cells[index].strip()
            if len(value) > MAX_LENGTH[name]:
                report.reject(line, f"{name} is longer than {MAX_LENGTH[name]} characters")
                return None
            at = _FIELD_AT[name]
            fields[at] = value
            judged = identifiers.stored_values(field=name, raw=value,
                                               default_country=self.default_country)
            stored[3 * at:3 * at + 3] = judged
            reason = judged[2]
            if reason and reason != identifiers.MISSING:
                warnings.append((name, identifiers.REASON_TEXT[reason]))
        attributes = {}
        for index, name, type in self.attribute_columns:
            if value := cells[index].strip():
                try:
                    attributes[name] = attrs.attribute_cell_value(value, type=type)
                except ValueError as error:
                    report.reject(line, f"{name}: {error}")
                    return None
        for name, reason in warnings:
            report.warn(line, name, reason)
        return (external_id, *fields, *stored, orjson.dumps(attributes).decode())


_FIELD_AT = {name: at for at, name in enumerate(PROFILE_FIELDS)}
_AD_TRACKING_AT = _FIELD_AT[AD_TRACKING]


def _consent_off(batch: list[tuple]) -> list[str]:
    """The external ids of the rows that turn ad tracking off."""
    return [row[0] for row in batch if not row[1 + _AD_TRACKING_AT]]


class _ProfileWriter:
    """Writes batches of parsed rows, each in one transaction with a constant number of
    queries: on PostgreSQL COPY into a temporary table, then one INSERT ... SELECT ... ON
    CONFLICT; on SQLite one prepared upsert run for every row (sqlite3's C loop)."""

    def __init__(self, *, parser: _RowParser,
                 on_consent_withdrawn: Callable[..., object] | None):
        self.parser = parser
        self.on_consent_withdrawn = (on_consent_withdrawn if parser.ad_tracking_index is not None
                                     else None)
        self.new_types = dict(parser.new_types)
        quote = connection.ops.quote_name
        self.table = quote(Profile._meta.db_table)
        self.names = ", ".join(quote(c) for c in _INSERTED)
        updated = [*parser.present,
                   *(c for name in parser.present if name in identifiers.FIELDS
                     for c in identifiers.stored_columns(name)),
                   "updated_at"]
        sets = [f"{quote(c)} = excluded.{quote(c)}" for c in updated]
        if parser.attribute_names:
            # Keep the attributes this file says nothing about; an empty cell removes one.
            current = f"{self.table}.{quote('attributes')}"
            if connection.vendor == "postgresql":
                names = ", ".join(f"'{name}'" for name in parser.attribute_names)
                merged = f"({current} - ARRAY[{names}]::text[]) || excluded.{quote('attributes')}"
            else:
                paths = ", ".join(f"'$.{name}'" for name in parser.attribute_names)
                merged = f"json_patch(json_remove({current}, {paths}), excluded.{quote('attributes')})"
            sets.append(f"{quote('attributes')} = {merged}")
        self.on_conflict = (f"ON CONFLICT ({quote('workspace_id')}, {quote(EXTERNAL_ID)}) "
                            f"DO UPDATE SET {', '.join(sets)}")

    def write(self, *, batch: list[tuple], report: ImportReport) -> None:
        if not batch and not self.new_types:
            return
        with transaction.atomic():
            if self.new_types:
                self._catalogue_add()
            if not batch:
                return
            if connection.vendor == "postgresql":
                created, withdrawn = self._write_postgresql(batch)
            else:
                created, withdrawn = self._write_sqlite(batch)
            if withdrawn:
                self.on_consent_withdrawn(profile_ids=withdrawn)
        report.created += created
        report.updated += len(batch) - created

    def _catalogue_add(self) -> None:
        """Enter the new columns in the catalogue, unless a writer that committed since the
        import started typed one otherwise (the rows were judged by the type inferred)."""
        workspace = self.parser.workspace
        # One writer of the catalogue at a time, as the track API does.
        Workspace.objects.select_for_update(no_key=True).filter(pk=workspace.pk).first()
        catalogue = attrs.attribute_catalogue(workspace_id=workspace.pk)
        clashes = [f"{name} ({attrs.TYPE_TEXT[catalogue[name]]})"
                   for name, type in self.new_types.items() if catalogue.get(name, type) != type]
        if clashes:
            raise ServiceError("While the file was read, another import or the track API "
                               f"gave these attributes another type: {', '.join(clashes)}. "
                               "Import the file again.", field="file")
        if len(catalogue.keys() | self.new_types.keys()) > attrs.MAX_PER_WORKSPACE:
            raise ServiceError(f"The workspace would have more than {attrs.MAX_PER_WORKSPACE} "
                               "attributes.", field="file")
        first_seen = timezone.now()
        AttributeDefinition.objects.bulk_create(
            [AttributeDefinition(workspace=workspace, name=name, type=type, first_seen=first_seen)
             for name, type in self.new_types.items() if name not in catalogue])
        self.new_types = {}

    def _write_postgresql(self, batch: list[tuple]) -> tuple[int, list[int]]:
        quote = connection.ops.quote_name
        staging = quote(f"import_{uuid.uuid4().hex}")
        parsed = ", ".join(quote(c) for c in _PARSED)
        workspace_id = self.parser.workspace.pk
        now = timezone.now()
        withdrawn = []
        with connection.cursor() as cursor:
            # Plain text and bool columns without constraints, copied in binary: the cheapest
            # table PostgreSQL can take rows into.
            columns = ", ".join(f"{quote(c)} {t}" for c, t in zip(_PARSED, _STAGED_TYPES,
                                                                  strict=True))
            cursor.execute(f"CREATE TEMPORARY TABLE {staging} ({columns}) ON COMMIT DROP")
            with cursor.cursor.copy(f"COPY {staging} ({parsed}) FROM STDIN (FORMAT BINARY)"
                                    ) as copy:
                copy.set_types(_STAGED_TYPES)
                for row in batch:
                    copy.write_row(row)
            if self.on_consent_withdrawn is not None:
                # One probe of the unique index per row turning consent off. (As a plain join
                # the planner, whose statistics lag behind a workspace growing by this very
                # import, was seen scanning all the workspace's profiles for each batch.)
                cursor.execute(
                    f"SELECT p.id FROM {staging} s CROSS JOIN LATERAL (SELECT id FROM "
                    f"{self.table} WHERE workspace_id = %s AND external_id = s.external_id "
                    "AND ad_tracking_enabled LIMIT 1) p WHERE NOT s.ad_tracking_enabled",
                    [workspace_id])
                withdrawn = [pk for (pk,) in cursor.fetchall()]
            # In the order of external ids, so that writers of the same profiles (the track
            # API, another import) lock them in one order and never deadlock. A row that
            # was inserted has no xmax; an updated one has the id of this transaction.
            values = ", ".join(f"{quote(c)}::jsonb" if c == "attributes" else quote(c)
                               for c in _PARSED)
            cursor.execute(
                f"WITH written AS (INSERT INTO {self.table} ({self.names}) "
                f"SELECT %s, {values}, %s, %s FROM {staging} ORDER BY {quote(EXTERNAL_ID)} "
                f"{self.on_conflict} RETURNING xmax = 0 AS inserted) "
                "SELECT count(*) FILTER (WHERE inserted) FROM written", [workspace_id, now, now])
            (created,) = cursor.fetchone()
            cursor.execute(f"DROP TABLE {staging}")
        return created, withdrawn

    def _write_sqlite(self, batch: list[tuple]) -> tuple[int, list[int]]:
        workspace = self.parser.workspace
        mine = Profile.objects.filter(workspace=workspace)
        withdrawn = []
        if self.on_consent_withdrawn is not None:
            withdrawn = list(mine.filter(ad_tracking_enabled=True,
                                         external_id__in=_consent_off(batch))
                             .values_list("pk", flat=True))
        existing = mine.filter(external_id__in=[row[0] for row in batch]).count()
        marks = ", ".join(["%s"] * len(_INSERTED))
        now = rows_sql.db_datetime(timezone.now())
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {self.table} ({self.names}) VALUES ({marks}) "
                               f"{self.on_conflict}",
                               [(workspace.pk, *row, now, now) for row in batch])
        return len(batch) - existing, withdrawn


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
