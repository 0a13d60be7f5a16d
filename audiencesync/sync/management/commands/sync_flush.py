from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from audiencesync.sync.engine import sync_flush


class Command(BaseCommand):
    help = ("Run one pass of the sync engine now: release due Delays, close the retry window, "
            "then send every batch that can be sent. Safe next to running workers.")

    def add_arguments(self, parser):
        parser.add_argument("--deadline", type=float, default=60.0, metavar="SECONDS",
                            help="Stop starting new batches after this long (default 60).")

    def handle(self, *args, deadline: float, **options):
        if deadline <= 0:
            raise CommandError("--deadline must be a positive number of seconds.")
        outcomes = sync_flush(deadline_s=deadline)
        if not outcomes:
            self.stdout.write("Nothing to send.")
            return
        batches = Counter(o.result for o in outcomes)
        users = Counter()
        for outcome in outcomes:
            users[outcome.result] += outcome.size
        for result, count in sorted(batches.items()):
            self.stdout.write(f"{result:<8} {count:>6} batch(es) {users[result]:>9,} user(s)")
        steps = len({o.step_id for o in outcomes})
        self.stdout.write(self.style.SUCCESS(
            f"{len(outcomes)} batch(es) handled for {steps} step(s)."))
