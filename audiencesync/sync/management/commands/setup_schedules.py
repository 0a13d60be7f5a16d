from django.core.management.base import BaseCommand

from audiencesync.sync.schedules import schedules_setup


class Command(BaseCommand):
    help = "Create or update the periodic django-q2 schedules (safe to run again)."

    def handle(self, *args, **options):
        for name in schedules_setup():
            self.stdout.write(f"schedule ok: {name}")
