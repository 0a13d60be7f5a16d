from django.core.management.base import BaseCommand, CommandError

from audiencesync.sync.selectors import profile_erasure_plan
from audiencesync.sync.services import erased_external_id, profile_erase
from audiencesync.workspaces.management.arguments import (
    add_workspace_argument,
    workspace_from_options,
)
from audiencesync.workspaces.models import Profile


class Command(BaseCommand):
    help = ("Erase a profile (a deletion request): queue its removal from every audience it "
            "was added to, take it out of its canvases and blank its data. "
            "A dry run unless --commit is given.")

    def add_arguments(self, parser):
        add_workspace_argument(parser, help="Slug of the profile's workspace.")
        parser.add_argument("--external-id", required=True, metavar="ID",
                            help="The profile's external id in that workspace.")
        parser.add_argument("--commit", action="store_true",
                            help="Erase it (without it, only say what would happen).")

    def handle(self, *args, external_id: str, commit: bool, **options):
        tenant = workspace_from_options(options)
        profile = Profile.objects.filter(workspace=tenant, external_id=external_id).first()
        if profile is None:
            raise CommandError(f"No profile with external id {external_id!r} in {tenant.slug!r} "
                               "(an erased profile is renamed erased-<number>).")
        if not commit:
            targets = profile_erasure_plan(profile=profile)
            audiences = ", ".join(sorted({t.audience_name for t in targets})) or "none"
            self.stdout.write(
                f"Dry run: erasing {external_id!r} would queue {len(targets)} remove(s) "
                f"(audiences: {audiences}), take it out of its canvases and blank its data. "
                "Add --commit to erase it.")
            return
        result = profile_erase(profile=profile)
        audiences = ", ".join(result.audiences) or "none"
        self.stdout.write(self.style.SUCCESS(
            f"Profile {external_id!r} erased: {result.removes_queued} remove(s) queued "
            f"(audiences: {audiences}); left {result.canvases_left} canvas(es); its data is "
            f"blanked and it is now {erased_external_id(profile)}."))
