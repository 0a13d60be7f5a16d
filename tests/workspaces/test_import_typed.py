"""Attribute columns of a profile import are typed by the workspace's catalogue, and a batch
is written the same on SQLite (one prepared upsert) and PostgreSQL (COPY, then one upsert).
Run on both databases: the stored rows pinned here are the same on each."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.workspaces.identifiers import STORED_COLUMNS
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.models import AttributeDefinition, Profile
from tests.factories import ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(db):
    return WorkspaceFactory()


def _import(workspace, text: str, **options):
    return profiles_import(workspace=workspace, csv_file=io.BytesIO(text.encode()), **options)


def _attributes(workspace) -> dict[str, dict]:
    return dict(Profile.objects.filter(workspace=workspace).values_list("external_id",
                                                                        "attributes"))


def _catalogue(workspace) -> dict[str, str]:
    return dict(AttributeDefinition.objects.filter(workspace=workspace)
                .values_list("name", "type"))


def _define(workspace, **types):
    for name, type in types.items():
        AttributeDefinition.objects.create(workspace=workspace, name=name, type=type,
                                           first_seen=timezone.now())


def test_columns_of_catalogued_attributes_write_values_of_their_type(workspace):
    _define(workspace, spend="number", vip="boolean", since="datetime", tags="string_array",
            code="string")
    report = _import(workspace, (
        "external_id,spend,vip,since,tags,code\n"
        'u1,49.5,TRUE,2026-12-02T10:00:00+09:00,"[""a"", ""b""]",00123\n'
        "u2,3,false,2026-12-01 23:30Z,[],2026-12-01T00:00:00Z\n"
        "u3,,,,,\n"
    ))
    assert report.rejected == [] and report.new_attributes == {}
    assert _attributes(workspace) == {
        "u1": {"spend": 49.5, "vip": True, "since": "2026-12-02T01:00:00.000000Z",
               "tags": ["a", "b"], "code": "00123"},
        # A string attribute keeps a cell that reads as a date as it is.
        "u2": {"spend": 3, "vip": False, "since": "2026-12-01T23:30:00.000000Z", "tags": [],
               "code": "2026-12-01T00:00:00Z"},
        "u3": {},
    }


def test_a_cell_that_does_not_fit_its_column_rejects_its_row_alone(workspace):
    _define(workspace, spend="number", vip="boolean", since="datetime", tags="string_array")
    report = _import(workspace, (
        "external_id,spend,vip,since,tags\n"        # 1
        "u1,10,true,2026-12-02T00:00:00Z,[]\n"      # 2
        "u2,ten,true,,\n"                           # 3
        "u3,1,maybe,,\n"                            # 4
        "u4,1,,2026-12-02,\n"                       # 5 no time, no zone
        'u5,1,,,"[1, 2]"\n'                         # 6
        "u6,007,,,\n"                               # 7 not a JSON number
        "u7,-2.5e3,,,\n"                            # 8
    ))
    assert [line for line, _ in report.rejected] == [3, 4, 5, 6, 7]
    assert report.rejected[0] == (3, "spend: 'ten' is not a number (such as 42, -1.5 or 2e3)")
    assert report.rejected[1] == (4, "vip: 'maybe' is not a boolean (true or false)")
    assert report.rejected[2][1].startswith("since: '2026-12-02' is not a date-time")
    assert report.rejected[3][1].startswith("tags: '[1, 2]' is not a list of strings")
    assert (report.created, report.rows_read) == (2, 7)
    assert _attributes(workspace) == {
        "u1": {"spend": 10, "vip": True, "since": "2026-12-02T00:00:00.000000Z", "tags": []},
        "u7": {"spend": -2500.0},
    }


def test_new_columns_are_typed_by_their_cells_catalogued_and_reported(workspace):
    report = _import(workspace, (
        "external_id,visits,vip,since,tags,zip,notes,empty\n"
        'u1,3,true,2026-12-02T00:00:00Z,"[""x""]",02139,hello,\n'
        "u2,4.5,False,2026-12-01T00:00:00+01:00,[],94110,42,\n"
        "u3,,,,,,,\n"
    ))
    expected = {"visits": "number", "vip": "boolean", "since": "datetime",
                "tags": "string_array", "zip": "string", "notes": "string", "empty": "string"}
    assert report.new_attributes == expected
    assert _catalogue(workspace) == expected
    assert _attributes(workspace)["u2"] == {
        "visits": 4.5, "vip": False, "since": "2026-11-30T23:00:00.000000Z", "tags": [],
        "zip": "94110", "notes": "42"}
    # Known from now on: the next file is held to these types and reports nothing new.
    again = _import(workspace, "external_id,visits\nu4,many\nu5,7\n")
    assert again.new_attributes == {}
    assert again.rejected == [(2, "visits: 'many' is not a number (such as 42, -1.5 or 2e3)")]
    assert _attributes(workspace)["u5"] == {"visits": 7}


def test_a_new_column_is_typed_by_the_first_batch_and_later_rows_are_held_to_it(workspace):
    report = _import(workspace, "external_id,score\nu1,1\nu2,2\nu3,x\nu4,4\n", batch_size=2)
    assert report.new_attributes == {"score": "number"}
    assert report.rejected == [(4, "score: 'x' is not a number (such as 42, -1.5 or 2e3)")]
    assert report.created == 3


def test_a_column_that_cannot_name_an_attribute_refuses_the_file(workspace):
    with pytest.raises(ServiceError, match="'first name' cannot be an attribute"):
        _import(workspace, "external_id,first name\nu1,Ana\n")
    assert not Profile.objects.filter(workspace=workspace).exists()


def test_the_command_lists_the_new_attributes_with_their_types(workspace, tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,visits,plan\nu1,3,pro\n")
    out = io.StringIO()
    call_command("import_profiles", "--workspace", workspace.slug, str(path), stdout=out)
    assert "New attributes: visits (number), plan (string)" in out.getvalue()


def test_the_command_exits_with_status_1_when_a_cell_does_not_fit(workspace, tmp_path):
    _define(workspace, visits="number")
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,visits\nu1,3\nu2,lots\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 rows were rejected"):
        call_command("import_profiles", "--workspace", workspace.slug, str(path), stdout=out)
    assert "line 3: rejected: visits: 'lots' is not a number" in out.getvalue()
    assert _attributes(workspace) == {"u1": {"visits": 3}}


def test_stored_rows_after_a_creating_and_an_updating_file_are_pinned(workspace):
    """The same on SQLite and PostgreSQL: every stored column of a created profile, and an
    update that keeps the columns and attributes the second file does not have."""
    ProfileFactory(workspace=workspace, external_id="old", email="keep@example.com",
                   attributes={"city": "Oslo", "plan": "free"})
    _import(workspace, (
        "external_id,email,phone,idfa,gaid,ad_tracking_enabled,plan,visits\n"
        "new, Ana@Example.COM ,+1 415 555 0123,,not-a-gaid,no,pro,3\n"
    ))
    report = _import(workspace, "external_id,phone,plan\nold,(415) 555-0199,plus\n")
    assert (report.created, report.updated) == (0, 1)
    columns = ["email", "phone", "idfa", "gaid", "ad_tracking_enabled", *STORED_COLUMNS,
               "attributes"]
    stored = {row[0]: dict(zip(columns, row[1:], strict=True)) for row in
              Profile.objects.filter(workspace=workspace).values_list("external_id", *columns)}
    assert stored["new"] == {
        "email": "Ana@Example.COM", "phone": "+1 415 555 0123", "idfa": "", "gaid": "not-a-gaid",
        "ad_tracking_enabled": False,
        "email_normalized": "ana@example.com",
        "email_sha256": "8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11",
        "email_reason": "",
        "phone_normalized": "+14155550123",
        "phone_sha256": "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4",
        "phone_reason": "",
        "idfa_normalized": "", "idfa_sha256": "", "idfa_reason": "missing",
        "gaid_normalized": "", "gaid_sha256": "", "gaid_reason": "invalid_advertising_id",
        "attributes": {"plan": "pro", "visits": 3},
    }
    assert stored["old"]["email"] == "keep@example.com"
    assert stored["old"]["phone_normalized"] == "+14155550199"
    assert stored["old"]["attributes"] == {"city": "Oslo", "plan": "plus"}


def test_consent_turned_off_by_the_file_is_handed_on_with_the_profiles_ids(workspace):
    keeps = ProfileFactory(workspace=workspace, external_id="keeps", ad_tracking_enabled=True)
    stops = ProfileFactory(workspace=workspace, external_id="stops", ad_tracking_enabled=True)
    ProfileFactory(workspace=workspace, external_id="was_off", ad_tracking_enabled=False)
    handed_on = []
    _import(workspace, "external_id,ad_tracking_enabled\nkeeps,yes\nstops,no\nwas_off,no\n"
                       "new,no\n",
            on_consent_withdrawn=lambda profile_ids: handed_on.extend(profile_ids))
    assert handed_on == [stops.pk]
    keeps.refresh_from_db()
    stops.refresh_from_db()
    assert (keeps.ad_tracking_enabled, stops.ad_tracking_enabled) == (True, False)


def test_the_import_page_lists_new_attributes_and_rejected_cells(owner_client, owner):
    workspace = owner.workspace
    _define(workspace, spend="number")
    file = SimpleUploadedFile("profiles.csv", b"external_id,spend,vip\nu1,5,true\nu2,x,false\n",
                              content_type="text/csv")
    text = owner_client.post(reverse("profile_import"), {"file": file}).content.decode()
    assert "<td>vip</td><td>boolean</td>" in text
    assert "spend: &#x27;x&#x27; is not a number" in text
    assert _attributes(workspace) == {"u1": {"spend": 5, "vip": True}}
