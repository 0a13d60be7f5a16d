from django.core.management.base import BaseCommand, CommandError

from audiencesync.workspaces.models import Workspace
from partners.services import connections_check_all


class Command(BaseCommand):
    help = "Check every active partner connection's token now and print each one's health."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", metavar="SLUG", help="Only this workspace.")

    def handle(self, *args, workspace=None, **options):
        scope = None
        if workspace:
            scope = Workspace.objects.filter(slug=workspace).first()
            if scope is None:
                raise CommandError(f"No workspace with slug {workspace!r}.")
        connections = connections_check_all(workspace=scope)
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
