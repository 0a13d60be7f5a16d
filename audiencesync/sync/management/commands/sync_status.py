import json

from django.core.management.base import BaseCommand

from audiencesync.sync.selectors import sync_status_report

COLUMNS = ("id", "canvas", "partner", "action", "audience", "entered", "proceeded", "synced",
           "not_synced", "pending", "errored", "errored_24h", "exited", "oldest_pending_s")
RATE_COLUMNS = ("scope", "limit_per_s", "limit_per_min", "limit_per_day", "used_per_s_last_60s",
                "used_this_minute", "used_today", "paused_until")
EVENT_COLUMNS = ("workspace", "events", "events_24h", "event_names", "summaries")


class Command(BaseCommand):
    help = ("Per Audience Sync step of active canvases (and any step with pending users): the "
            "step metrics and users errored in the last 24 h; connections that are not "
            "active; clusters alive by django-q2's heartbeat; then each partner rate scope in "
            "use with its budgets (second, minute, day), their use and until when a spent "
            "budget pauses it; then each workspace's event volume (events kept, in the last "
            "24 h, event names, summaries).")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print exactly one JSON object instead of tables.")

    def handle(self, *args, as_json: bool, **options):
        report = sync_status_report()
        if as_json:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
            return
        if not report["steps"]:
            self.stdout.write("No Audience Sync step is active or has pending users.")
        else:
            self._table([{**s, "canvas": f"{s['canvas']} ({s['canvas_id']})"}
                         for s in report["steps"]], COLUMNS)
        self.stdout.write("")
        if report["connections"]:
            self._table(report["connections"], ("id", "workspace", "partner", "status",
                                                "invalid_since"))
        else:
            self.stdout.write("Every partner connection is active.")
        self.stdout.write("")
        if report["clusters"]:
            self._table(report["clusters"], ("id", "host", "status", "workers", "uptime_s"))
        else:
            self.stdout.write("No cluster is alive: nothing sends (start one with "
                              "`manage.py qcluster`).")
        if report["rate"]:
            self.stdout.write("")
            self._table(report["rate"], RATE_COLUMNS)
        if report["events"]:
            self.stdout.write("")
            self._table(report["events"], EVENT_COLUMNS)

    def _table(self, rows: list[dict], columns: tuple[str, ...]) -> None:
        cells = [[_cell(row[c]) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        self.stdout.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in cells:
            self.stdout.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)

