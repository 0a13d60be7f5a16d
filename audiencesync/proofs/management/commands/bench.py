"""`manage.py bench [--quick] [--json] [--phases ...]`: throughput, rate adherence, latency,
memory, the track API, the profile import and counting a segment."""

import json

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from .demo import DEVELOPMENT_ONLY


class Command(BaseCommand):
    help = ("Benchmark the product's real processes against a standalone partner sandbox "
            "(PostgreSQL when DATABASE_URL says so). Prints a table, or one JSON object.")

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true",
                            help="Small sizes: the whole run takes about two minutes.")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--phases", default="all",
                            help="Comma-separated phases to run (default all): entry, ceiling "
                                 "(needs entry), raw (needs ceiling), adherence, latency, "
                                 "memory, track, import, segment_count, scheduled_entry.")

    def handle(self, *args, quick: bool, json: bool, phases: str, **options):
        from audiencesync.proofs.bench import bench_run, phases_parse

        if not settings.DEBUG:
            raise CommandError(DEVELOPMENT_ONLY.format(command="bench"))
        try:
            chosen = phases_parse(phases)
        except ValueError as error:
            raise CommandError(str(error)) from None

        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        # Progress goes to stderr with --json, so that stdout stays one JSON object.
        out = self.stderr if json else self.stdout
        say = lambda text: out.write(f"  {text}", style_func=lambda line: line)  # noqa: E731
        try:
            result = bench_run(quick=quick, say=say, phases=chosen)
        except (RuntimeError, TimeoutError) as error:
            raise CommandError(str(error)) from error
        if json:
            self.stdout.write(_dumps(result))
        else:
            self._table(result)

    def _table(self, r: dict) -> None:
        lines = [f"\nBenchmark ({r['database']}, {r['cpu_count']} CPUs"
                 f"{', quick' if r['quick'] else ''})"]
        if "entry" in r:
            lines.append(f"{'entry (API, 10,000 a call)':<40}{r['entry']['users_per_s']:>10,} "
                         "users/s")
        if "ceiling" in r:
            c = r["ceiling"]
            lines.append(f"{'ceiling (limits lifted, TikTok)':<40}{c['users_per_s']:>10,} "
                         f"users/s   {c['cpu_s_per_1000_users']} CPU s / 1,000 users, "
                         f"{c['queries_per_batch']} queries / batch")
        if "raw" in r:
            lines.append(f"{'raw sandbox (full batches)':<40}{r['raw']['users_per_s']:>10,} "
                         f"users/s   pipeline / raw {r['raw']['pipeline_over_raw']}")
        for row in r.get("adherence", []):
            label = f"adherence, Pinterest, {row['workers']} sender(s)"
            lines.append(f"{label:<40}"
                         f"{row['fraction_of_limit']:>10.3f} of 7 x 1,900/s (aim "
                         f"{row['limiter_aim']}), {row['rate_limited_responses']} "
                         "rate-limited answers")
        if "latency" in r:
            lat = r["latency"]
            label = f"latency at {lat['rate_per_s']} users/s for {lat['seconds']} s"
            lines.append(f"{label:<40}"
                         f"p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, p99 {lat['p99_s']} s")
        if "memory" in r:
            lines.append(f"{'memory (a sender, peak RSS)':<40}" + ", ".join(
                f"{k.removeprefix('pending_').removesuffix('_rss_mb')} pending: {v} MB"
                for k, v in r["memory"].items()))
        if "track" in r:
            t = r["track"]
            label = f"track (API, {t['events'] // t['calls']:,} events a call)"
            lines.append(f"{label:<40}{t['events_per_s']:>10,} events/s   the web worker's peak "
                         f"RSS {t['web_peak_rss_mb_first_call']} MB after the first call, "
                         f"{t['web_peak_rss_mb_last_call']} MB after the last")
        if "import" in r:
            i = r["import"]
            label = f"import ({i['rows']:,} rows, half updates)"
            lines.append(f"{label:<40}{i['rows_per_s']:>10,} rows/s   without phones "
                         f"{i['rows_per_s_without_phones']:,} rows/s")
        if "segment_count" in r:
            c = r["segment_count"]
            label = f"segment_count ({c['profiles']:,} profiles)"
            lines.append(f"{label:<40}{c['seconds']:>10} s     High value: {c['size']:,} "
                         f"profiles, {c['events']:,} events (first run {c['first_seconds']} s)")
        self.stdout.write("\n".join(lines) + "\n")


def _dumps(value) -> str:
    return json.dumps(value, indent=2)
