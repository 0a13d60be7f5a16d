from audiencesync.workspaces.hooks import consent_withdrawn_notify
from audiencesync.workspaces.imports import ImportReport, profiles_import
from audiencesync.workspaces.management.csv_import import CsvImportCommand


class Command(CsvImportCommand):
    help = (
        "Create or update a workspace's profiles from a CSV file with a header line "
        "(external_id, email, phone, idfa, gaid, ad_tracking_enabled; other columns become "
        "attributes). Profiles are matched by external_id, so importing again updates them. "
        "Exits with status 1 when some rows were rejected."
    )

    def import_file(self, *, workspace, csv_file, batch_size, progress) -> ImportReport:
        return profiles_import(workspace=workspace, csv_file=csv_file, batch_size=batch_size,
                               progress=progress, on_consent_withdrawn=consent_withdrawn_notify)

    def summary(self, report: ImportReport) -> str:
        new = ", ".join(f"{name} ({type})" for name, type in report.new_attributes.items())
        return (f"New attributes: {new}.\n" if new else "") + (
            f"{report.rows_read:,} rows read: {report.created:,} created, "
            f"{report.updated:,} updated, {report.rejected_count:,} rejected, "
            f"{report.warning_count:,} warnings, in {report.elapsed_seconds:.1f} s "
            f"({report.rows_per_second:,.0f} rows/s)."
        )
