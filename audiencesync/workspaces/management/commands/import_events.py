import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audiencesync.errors import ServiceError
from audiencesync.workspaces.imports import events_import
from audiencesync.workspaces.management.arguments import (
    add_workspace_argument,
    workspace_from_options,
)


class Command(BaseCommand):
    help = (
        "Record a workspace's custom events from a CSV file with the header "
        "external_id,name,time then any property columns (time in ISO 8601 with a time zone). "
        "Rows follow the track API's rules; profiles missing are created. It only adds events "
        "(so it needs no --commit), and importing a file twice records its events twice. "
        "Exits with status 1 when some rows were rejected."
    )

    def add_arguments(self, parser):
        add_workspace_argument(parser, help="Slug of the workspace to import into.")
        parser.add_argument("file", metavar="FILE.csv", help="UTF-8 CSV file to import.")
        parser.add_argument("--batch-size", type=int, default=5000,
                            help="Rows written per transaction (default 5000).")

    def handle(self, *args, file: str, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        target = workspace_from_options(options)
        path = Path(file)
        try:
            binary = path.open("rb")
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        with binary, tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"Importing {path.name}",
            file=sys.stderr, disable=None,
        ) as bar:
            def show_progress(rows_read: int) -> None:
                bar.update(binary.tell() - bar.n)
                bar.set_postfix(rows=f"{rows_read:,}", refresh=False)

            try:
                report = events_import(workspace=target, csv_file=binary,
                                       batch_size=batch_size, progress=show_progress)
            except ServiceError as error:
                raise CommandError(error.message) from None
        for line, reason in report.rejected:
            self.stdout.write(f"line {line}: rejected: {reason}")
        if report.rejected_not_listed:
            self.stdout.write(f"... and {report.rejected_not_listed:,} more rejected rows")
        summary = (f"{report.rows_read:,} rows read: {report.created:,} events recorded, "
                   f"{report.rejected_count:,} rejected, in {report.elapsed_seconds:.1f} s.")
        self.stdout.write(self.style.SUCCESS(summary) if not report.rejected_count else summary)
        if report.rejected_count:
            raise CommandError(
                f"{report.rejected_count:,} of {report.rows_read:,} rows were rejected "
                "(listed above); the other rows were imported."
            )
