"""One shape for the commands that import a CSV file into a workspace (profiles, events):
the same arguments, progress bar, rejected-row listing and exit status."""

import sys
from pathlib import Path
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audiencesync.errors import ServiceError
from audiencesync.workspaces.imports import ImportReport
from audiencesync.workspaces.management.arguments import (
    add_workspace_argument,
    workspace_from_options,
)
from audiencesync.workspaces.models import Workspace


class CsvImportCommand(BaseCommand):
    """Subclasses say what one import does (``import_file``) and how it sums up."""

    def import_file(self, *, workspace: Workspace, csv_file: BinaryIO, batch_size: int,
                    progress) -> ImportReport:
        raise NotImplementedError

    def summary(self, report: ImportReport) -> str:
        raise NotImplementedError

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
                report = self.import_file(workspace=target, csv_file=binary,
                                          batch_size=batch_size, progress=show_progress)
            except ServiceError as error:
                raise CommandError(error.message) from None
        for line, reason in report.rejected:
            self.stdout.write(f"line {line}: rejected: {reason}")
        if report.rejected_not_listed:
            self.stdout.write(f"... and {report.rejected_not_listed:,} more rejected rows")
        for line, column, reason in report.warnings:
            self.stdout.write(f"line {line}: warning: {column}: {reason}")
        if report.warnings_not_listed:
            self.stdout.write(f"... and {report.warnings_not_listed:,} more warnings")
        summary = self.summary(report)
        self.stdout.write(self.style.SUCCESS(summary) if not report.rejected_count else summary)
        if report.rejected_count:
            raise CommandError(
                f"{report.rejected_count:,} of {report.rows_read:,} rows were rejected "
                "(listed above); the other rows were imported."
            )
