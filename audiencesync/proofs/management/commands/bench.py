"""`manage.py bench [--quick] [--json]`: throughput, rate adherence, latency and memory."""

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

    def handle(self, *args, quick: bool, json: bool, **options):
        from audiencesync.proofs.bench import bench_run

        if not settings.DEBUG:
            raise CommandError(DEVELOPMENT_ONLY.format(command="bench"))

        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        # Progress goes to stderr with --json, so that stdout stays one JSON object.
        out = self.stderr if json else self.stdout
        say = lambda text: out.write(f"  {text}", style_func=lambda line: line)  # noqa: E731
        try:
            result = bench_run(quick=quick, say=say)
        except (RuntimeError, TimeoutError) as error:
            raise CommandError(str(error)) from error
        if json:
            self.stdout.write(_dumps(result))
        else:
            self._table(result)

    def _table(self, r: dict) -> None:
        c, lat, mem = r["ceiling"], r["latency"], r["memory"]
        lines = [
            f"\nBenchmark ({r['database']}, {r['cpu_count']} CPUs{', quick' if r['quick'] else ''})",
            f"{'entry (API, 10,000 a call)':<40}{r['entry']['users_per_s']:>10,} users/s",
            f"{'ceiling (limits lifted, TikTok)':<40}{c['users_per_s']:>10,} users/s   "
            f"{c['cpu_s_per_1000_users']} CPU s / 1,000 users, {c['queries_per_batch']} queries / batch",
            f"{'raw sandbox (full batches)':<40}{r['raw']['users_per_s']:>10,} users/s   "
            f"pipeline / raw {r['raw']['pipeline_over_raw']}",
        ]
        for row in r["adherence"]:
            label = f"adherence, Pinterest, {row['workers']} sender(s)"
            lines.append(f"{label:<40}"
                         f"{row['fraction_of_limit']:>10.3f} of 7 x 1,900/s (aim "
                         f"{row['limiter_aim']}), {row['rate_limited_responses']} "
                         "rate-limited answers")
        label = f"latency at {lat['rate_per_s']} users/s for {lat['seconds']} s"
        lines.append(f"{label:<40}"
                     f"p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, p99 {lat['p99_s']} s")
        lines.append(f"{'memory (a sender, peak RSS)':<40}" + ", ".join(
            f"{k.removeprefix('pending_').removesuffix('_rss_mb')} pending: {v} MB"
            for k, v in mem.items()))
        self.stdout.write("\n".join(lines) + "\n")


def _dumps(value) -> str:
    return json.dumps(value, indent=2)
