"""One vocabulary for a user's fields: the profile import, a CSV entered into a canvas and
the entries API read them alike, and the API's per-call cap is the product's setting."""

import io

import pytest
from django.urls import reverse

from audiencesync.errors import ServiceError
from audiencesync.workspaces import fields
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.models import Profile
from canvas.services.entries_bulk import canvas_enter_csv

pytestmark = pytest.mark.django_db

SPELLINGS = ["", "true", "TRUE", " yes ", "y", "1", "t", "false", "No", "n", "0", "f",
             "maybe", "2", "oui"]


def _csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def _imported_consent(workspace, cell: str) -> bool | None:
    report = profiles_import(workspace=workspace,
                             csv_file=_csv(f"external_id,ad_tracking_enabled\nimp,{cell}\n"))
    if report.rejected_count:
        return None
    return Profile.objects.get(workspace=workspace, external_id="imp").ad_tracking_enabled


def _entered_consent(canvas, cell: str) -> bool | None:
    entry = canvas_enter_csv(canvas_id=canvas.pk,
                             csv_file=_csv(f"external_id,ad_tracking_enabled\nent,{cell}\n"))
    if entry.result.rejected:
        return None
    return Profile.objects.get(workspace=canvas.workspace, external_id="ent").ad_tracking_enabled


@pytest.mark.parametrize("cell", SPELLINGS)
def test_import_and_canvas_entry_spell_true_and_false_alike(sync_canvas, cell):
    expected = fields.flag_parse(cell)
    assert _imported_consent(sync_canvas.workspace, cell) is expected
    assert _entered_consent(sync_canvas, cell) is expected


@pytest.mark.parametrize(("header", "says"), [
    ("", "The file is empty"),
    ("email,phone", "with an external_id column (the first line has 'email', 'phone')"),
    ("external_id,email,EMAIL", "The header names email more than once."),
])
def test_import_and_canvas_entry_refuse_a_bad_header_alike(sync_canvas, header, says):
    with pytest.raises(ServiceError, match=r".*") as imported:
        profiles_import(workspace=sync_canvas.workspace, csv_file=_csv(header + "\n"))
    with pytest.raises(ServiceError, match=r".*") as entered:
        canvas_enter_csv(canvas_id=sync_canvas.pk, csv_file=_csv(header + "\n"))
    assert says in imported.value.message and says in entered.value.message


def test_the_longest_external_id_is_the_same_everywhere(sync_canvas, post_entries):
    longest = fields.MAX_LENGTH[fields.EXTERNAL_ID]
    too_long = "x" * (longest + 1)
    report = profiles_import(workspace=sync_canvas.workspace,
                             csv_file=_csv(f"external_id\n{too_long}\n{'y' * longest}\n"))
    assert report.rejected == [(2, f"external_id is longer than {longest} characters")]
    answer = post_entries(sync_canvas.pk, {"users": [{"external_id": too_long}]}).json()
    assert answer["errors"][0]["message"] == f"Longer than {longest} characters."


def test_the_entries_api_cap_is_a_setting(settings, sync_canvas, post_entries, owner_client):
    settings.ENTRIES_API_MAX_USERS = 3
    users = [{"external_id": f"u{n}"} for n in range(4)]

    refused = post_entries(sync_canvas.pk, {"users": users})
    accepted = post_entries(sync_canvas.pk, {"users": users[:3]})

    assert refused.status_code == 413
    assert "4 users in one call; the most is 3." in refused.json()["error"]
    assert accepted.status_code == 200 and accepted.json()["entered"] == 3
    page = owner_client.get(reverse("api_keys")).content.decode()
    assert "Send up to 3 users a call" in page


def test_the_entries_api_takes_more_than_a_tiktok_batch_when_the_setting_allows(
        settings, sync_canvas, post_entries):
    settings.ENTRIES_API_MAX_USERS = 10_001
    settings.TIKTOK_MAX_BATCH = 10_000
    answer = post_entries(sync_canvas.pk,
                          {"users": [{"external_id": f"u{n}"} for n in range(10_001)]})
    assert answer.status_code == 200 and answer.json()["entered"] == 10_001
