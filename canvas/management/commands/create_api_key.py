from django.core.management.base import BaseCommand, CommandError

from audiencesync.errors import ServiceError
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.models import Workspace


class Command(BaseCommand):
    help = ("Create an API key for a workspace's entries API and print it. The key is printed "
            "this once: only its SHA-256 is stored.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, metavar="SLUG",
                            help="Slug of the workspace the key belongs to.")
        parser.add_argument("--name", default="Command line",
                            help="What the key is for (default: 'Command line').")

    def handle(self, *args, workspace: str, name: str, **options):
        target = Workspace.objects.filter(slug=workspace).first()
        if target is None:
            raise CommandError(f"No workspace with slug {workspace!r}; the slugs are in Django "
                               "admin under Workspaces.")
        try:
            created = api_key_create(workspace=target, name=name)
        except ServiceError as error:
            raise CommandError(error.message) from None
        self.stderr.write(f"API key {created.api_key.name!r} created for {target.name}. Store "
                          "it now: it cannot be shown again.")
        self.stdout.write(created.secret)
