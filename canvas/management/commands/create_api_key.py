from django.core.management.base import BaseCommand, CommandError

from audiencesync.errors import ServiceError
from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.management.arguments import (
    add_workspace_argument,
    workspace_from_options,
)


class Command(BaseCommand):
    help = ("Create an API key for a workspace's entries API and print it. The key is printed "
            "this once: only its SHA-256 is stored.")

    def add_arguments(self, parser):
        add_workspace_argument(parser, help="Slug of the workspace the key belongs to.")
        parser.add_argument("--name", default="Command line",
                            help="What the key is for (default: 'Command line').")

    def handle(self, *args, name: str, **options):
        target = workspace_from_options(options)
        try:
            created = api_key_create(workspace=target, name=name)
        except ServiceError as error:
            raise CommandError(error.message) from None
        self.stderr.write(f"API key {created.api_key.name!r} created for {target.name}. Store "
                          "it now: it cannot be shown again.")
        self.stdout.write(created.secret)
