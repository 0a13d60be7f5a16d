"""The workspace's time zone (scheduled canvases run in it): UTC by default, editable on
the settings page, an unknown zone refused with the field named."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_time_zone_is_utc_until_changed_on_the_settings_page(owner_client, workspace):
    assert workspace.time_zone == "UTC"
    url = reverse("workspace_settings")
    saved = owner_client.post(url, {"name": workspace.name, "default_country": "FR",
                                    "time_zone": "Europe/Paris"}, follow=True)
    assert "Settings saved." in saved.content.decode()
    workspace.refresh_from_db()
    assert workspace.time_zone == "Europe/Paris"
    refused = owner_client.post(url, {"name": workspace.name, "default_country": "FR",
                                      "time_zone": "Mars/Olympus_Mons"})
    assert "Select a valid choice" in refused.content.decode()
    workspace.refresh_from_db()
    assert workspace.time_zone == "Europe/Paris"
    page = owner_client.get(url).content.decode()
    assert '<option value="Europe/Paris" selected>' in page
