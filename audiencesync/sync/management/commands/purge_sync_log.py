import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from audiencesync.sync.selectors import sync_requests_older_than
from audiencesync.sync.services import sync_requests_purge


class Command(BaseCommand):
    help = ("Delete sync log rows (one per partner request) older than DAYS. "
            "A dry run unless --commit is given. Step counters are not touched.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS",
                            help="Delete rows created more than DAYS days ago.")
        parser.add_argument("--commit", action="store_true",
                            help="Delete them (without it, only count them).")

    def handle(self, *args, older_than: int, commit: bool, **options):
        if older_than < 0:
            raise CommandError("--older-than must be zero or more days.")
        cutoff = timezone.now() - timedelta(days=older_than)
        count = sync_requests_older_than(cutoff=cutoff).count()
        if not commit:
            self.stdout.write(f"Dry run: {count:,} sync log row(s) older than {older_than} "
                              "day(s) would be deleted. Add --commit to delete them.")
            return
        with tqdm(total=count, unit="rows", desc="Deleting", file=sys.stderr,
                  disable=None) as bar:
            deleted = sync_requests_purge(older_than=cutoff, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(
            f"{deleted:,} sync log row(s) older than {older_than} day(s) deleted."))
