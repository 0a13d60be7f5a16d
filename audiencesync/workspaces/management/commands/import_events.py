from audiencesync.workspaces.imports import ImportReport, events_import
from audiencesync.workspaces.management.csv_import import CsvImportCommand


class Command(CsvImportCommand):
    help = (
        "Record a workspace's custom events from a CSV file with the header "
        "external_id,name,time then any property columns (time in ISO 8601 with a time zone). "
        "Rows follow the track API's rules; profiles missing are created. It only adds events "
        "(so it needs no --commit), and importing a file twice records its events twice. "
        "Exits with status 1 when some rows were rejected."
    )

    def import_file(self, *, workspace, csv_file, batch_size, progress) -> ImportReport:
        return events_import(workspace=workspace, csv_file=csv_file, batch_size=batch_size,
                             progress=progress)

    def summary(self, report: ImportReport) -> str:
        return (f"{report.rows_read:,} rows read: {report.created:,} events recorded, "
                f"{report.rejected_count:,} rejected, in {report.elapsed_seconds:.1f} s.")
