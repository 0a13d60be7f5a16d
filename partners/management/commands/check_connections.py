from django.core.management.base import BaseCommand, CommandError

from audiencesync.workspaces.management.arguments import (
    add_workspace_argument,
    workspace_from_options,
)
from partners.services import connections_check_all


class Command(BaseCommand):
    help = "Check every active partner connection's token now and print each one's health."

    def add_arguments(self, parser):
        add_workspace_argument(parser, required=False, help="Only this workspace.")

    def handle(self, *args, **options):
        connections = connections_check_all(workspace=workspace_from_options(options))
        if not connections:
            self.stdout.write("No active connections to check.")
            return
        unhealthy = 0
        for connection in connections:
            healthy = connection.is_active and not connection.last_error
            unhealthy += not healthy
            line = (f"{connection.workspace.slug:<24} {connection.get_partner_display():<10} "
                    f"{connection.get_status_display():<14} {connection.last_error}")
            self.stdout.write(self.style.SUCCESS(line) if healthy else self.style.ERROR(line))
        if unhealthy:
            raise CommandError(f"{unhealthy} connection(s) need attention.")
