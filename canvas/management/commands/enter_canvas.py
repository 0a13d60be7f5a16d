import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audiencesync.errors import ServiceError
from canvas.services.entries_bulk import (
    CsvEntry,
    canvas_enter_all_profiles,
    canvas_enter_csv,
)
from canvas.services.entry import EntryResult


class Command(BaseCommand):
    help = (
        "Enter users into an active canvas: the users of a CSV file (columns as the profile "
        "import: external_id, email, phone, idfa, gaid, ad_tracking_enabled; profiles are "
        "created or updated by external_id) or every profile of the canvas's workspace. "
        "Users still in the canvas are not entered twice, so running again is safe. "
        "Exits with status 1 when some rows were rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("canvas_id", type=int, metavar="CANVAS_ID")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", metavar="FILE", help="UTF-8 CSV file with a header line.")
        source.add_argument("--all-profiles", action="store_true",
                            help="Every profile of the canvas's workspace.")

    def handle(self, *args, canvas_id: int, csv: str | None, all_profiles: bool, **options):
        try:
            if all_profiles:
                result, rows_read = self._all_profiles(canvas_id), None
            else:
                entry = self._csv(canvas_id, csv)
                result, rows_read = entry.result, entry.rows_read
        except ServiceError as error:
            raise CommandError(error.message) from None
        self._print(result, rows_read=rows_read)
        if result.rejected:
            raise CommandError(f"{result.rejected:,} rows were rejected (listed above); the "
                               "other users were entered.")

    def _all_profiles(self, canvas_id: int) -> EntryResult:
        with tqdm(unit=" profiles", desc="Entering profiles", file=sys.stderr,
                  disable=None) as bar:
            def show_progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            return canvas_enter_all_profiles(canvas_id=canvas_id, progress=show_progress).result

    def _csv(self, canvas_id: int, file: str) -> CsvEntry:
        path = Path(file)
        try:
            binary = path.open("rb")
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        with binary, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                          desc=f"Entering {path.name}", file=sys.stderr, disable=None) as bar:
            def show_progress(rows_read: int) -> None:
                bar.update(binary.tell() - bar.n)
                bar.set_postfix(rows=f"{rows_read:,}", refresh=False)

            entry = canvas_enter_csv(canvas_id=canvas_id, csv_file=binary,
                                     progress=show_progress)
        if entry.ignored_columns:
            self.stderr.write(f"Ignored columns (entering writes no attributes; import them "
                              f"with import_profiles): {', '.join(entry.ignored_columns)}")
        return entry

    def _print(self, result: EntryResult, *, rows_read: int | None) -> None:
        for error in result.errors:
            field = f"{error['field']}: " if error["field"] else ""
            self.stdout.write(f"line {error['line']}: rejected: {field}{error['message']}")
        not_listed = result.rejected - len({error["line"] for error in result.errors})
        if not_listed > 0:
            self.stdout.write(f"... and {not_listed:,} more rejected rows")
        summary = (f"{rows_read:,} rows read: " if rows_read is not None else "") + (
                   f"entered: {result.entered:,}, already_in_canvas: "
                   f"{result.already_in_canvas:,}, rejected: {result.rejected:,}")
        self.stdout.write(self.style.SUCCESS(summary) if not result.rejected else summary)
