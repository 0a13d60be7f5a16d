"""Pages print times in the workspace's time zone and name the zone."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from audiencesync.workspaces.models import Profile
from tests.factories import ProfileFactory

MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "shown"), [
    ("UTC", "2026-03-01 12:00 UTC"),
    ("Asia/Tokyo", "2026-03-01 21:00 JST"),
    ("America/New_York", "2026-03-01 07:00 EST"),
])
@pytest.mark.django_db
def test_profile_times_are_shown_in_the_workspace_zone_with_its_name(owner_client, workspace,
                                                                     zone, shown):
    workspace.time_zone = zone
    workspace.save(update_fields=["time_zone"])
    profile = ProfileFactory(workspace=workspace, external_id="ana")
    Profile.objects.filter(pk=profile.pk).update(created_at=MOMENT, updated_at=MOMENT)

    page = owner_client.get(reverse("profile_detail", args=[profile.pk])).content.decode()
    assert f"Created {shown} · updated {shown}" in page
    listing = owner_client.get(reverse("profile_list")).content.decode()
    assert shown in listing
