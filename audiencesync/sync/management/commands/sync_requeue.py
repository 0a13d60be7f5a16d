import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audiencesync.errors import ServiceError
from audiencesync.sync.selectors import sync_items_requeueable
from audiencesync.sync.services import sync_items_requeue
from canvas.models import Step, StepKind


class Command(BaseCommand):
    help = ("Send errored users of a sync step again: they go back to pending in new batches "
            "due now, with a fresh retry window. A dry run unless --commit is given.")

    def add_arguments(self, parser):
        parser.add_argument("--step", type=int, required=True, metavar="ID",
                            help="Id of the Audience Sync step (see sync_status).")
        parser.add_argument("--reason", default="", metavar="TEXT",
                            help="Only users whose error contains TEXT (case-insensitive).")
        parser.add_argument("--commit", action="store_true",
                            help="Requeue them (without it, only count them).")

    def handle(self, *args, step: int, reason: str, commit: bool, **options):
        target = Step.objects.filter(pk=step, kind=StepKind.AUDIENCE_SYNC).first()
        if target is None:
            raise CommandError(f"No Audience Sync step with id {step}.")
        which = f" whose error contains {reason!r}" if reason else ""
        count = sync_items_requeueable(step=target, reason_contains=reason).count()
        if not commit:
            self.stdout.write(f"Dry run: {count:,} errored user(s) of step {step}{which} would "
                              "be sent again. Add --commit to requeue them.")
            return
        with tqdm(total=count, unit="users", desc="Requeueing", file=sys.stderr,
                  disable=None) as bar:
            try:
                result = sync_items_requeue(step=target, reason_contains=reason,
                                            progress=bar.update)
            except ServiceError as error:
                raise CommandError(error.message) from None
        self.stdout.write(self.style.SUCCESS(
            f"{result.requeued:,} errored user(s) of step {step}{which} requeued in "
            f"{result.batches:,} batch(es); the sync engine sends them next."))
