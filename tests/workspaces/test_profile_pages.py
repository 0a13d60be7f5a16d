import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audiencesync.workspaces.models import Profile
from tests.factories import MembershipFactory, ProfileFactory, Role, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _external_ids(response) -> list[str]:
    return re.findall(r'class="mono">([^<]+)</a>', response.content.decode())


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_list_shows_only_the_current_workspace_and_counts_them(owner_client, workspace):
    ProfileFactory(workspace=workspace, external_id="mine-1")
    ProfileFactory(workspace=workspace, external_id="mine-2")
    ProfileFactory(workspace=WorkspaceFactory(), external_id="theirs")
    response = owner_client.get(reverse("profile_list"))
    assert _external_ids(response) == ["mine-1", "mine-2"]
    assert "2 profiles." in _text(response)


@pytest.mark.parametrize(("query", "expected"), [
    ("cust-1", ["cust-1", "cust-10"]),
    ("Ana.Silva@", ["cust-2"]),                  # emails are matched in lower case
    ("(415) 555-0123", ["cust-1"]),              # a national number, as people type it
    ("+1 415 555", ["cust-1", "cust-10"]),       # the start of an international number
    ("415 555 01", ["cust-1"]),                  # the start of a national number
    ("nobody", []),
])
def test_search_matches_the_start_of_external_id_email_or_phone(
    owner_client, workspace, query, expected
):
    ProfileFactory(workspace=workspace, external_id="cust-1", phone="+14155550123")
    ProfileFactory(workspace=workspace, external_id="cust-2", email="ana.silva@example.com")
    ProfileFactory(workspace=workspace, external_id="cust-10", phone="+14155559999")
    ProfileFactory(workspace=WorkspaceFactory(), external_id="cust-1b", phone="+14155550123")
    response = owner_client.get(reverse("profile_list"), {"q": query})
    assert _external_ids(response) == expected
    if expected:
        assert f"{len(expected)} of 3 profiles start with" in _text(response)
    else:
        assert "No profile starts with “nobody”" in _text(response)


def test_pages_of_fifty_keep_the_search_in_their_links(owner_client, workspace):
    Profile.objects.bulk_create(
        Profile(workspace=workspace, external_id=f"p-{n:03d}") for n in range(120)
    )
    ProfileFactory(workspace=workspace, external_id="other")
    first = owner_client.get(reverse("profile_list"), {"q": "p-"})
    assert len(_external_ids(first)) == 50
    assert "120 of 121 profiles" in _text(first)
    assert "Page 1 of 3" in _text(first)
    assert '?q=p-&amp;page=2" rel="next"' in first.content.decode()
    last = owner_client.get(reverse("profile_list"), {"q": "p-", "page": 3})
    assert _external_ids(last) == [f"p-{n:03d}" for n in range(100, 120)]
    # A page past the end shows the last page rather than an error.
    assert _external_ids(owner_client.get(reverse("profile_list"), {"q": "p-", "page": 99})) \
        == _external_ids(last)


def test_detail_shows_fields_identifier_status_attributes_and_empty_sync_history(
    owner_client, workspace
):
    profile = ProfileFactory(
        workspace=workspace, external_id="cust-7", email="ana@example.com", phone="555-0100",
        idfa="", ad_tracking_enabled=False, attributes={"plan": "pro", "city": "Tokyo"},
    )
    response = owner_client.get(reverse("profile_detail", args=[profile.pk]))
    text = _text(response)
    assert response.status_code == 200
    assert "cust-7" in text and "ana@example.com" in text
    assert "b4c9a289" not in text  # hash of another address
    assert "Not a phone number that can be written in international form" in text
    assert "no value" in text  # the empty IDFA
    assert "<td>city</td><td>Tokyo</td>" in text and "<td>plan</td><td>pro</td>" in text
    assert "Sync history" in text and "No syncs yet" in text
    assert profile.created_at.strftime("%Y-%m-%d") in text


def test_a_profile_of_another_workspace_is_not_found(owner_client):
    theirs = ProfileFactory(workspace=WorkspaceFactory())
    assert owner_client.get(reverse("profile_detail", args=[theirs.pk])).status_code == 404


def _upload(client, text: str, name: str = "crm.csv"):
    file = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return client.post(reverse("profile_import"), {"file": file})


def test_import_page_shows_the_same_report_as_the_command(client, login, workspace):
    member = MembershipFactory(workspace=workspace, role=Role.MEMBER)
    login(client, member)
    ProfileFactory(workspace=workspace, external_id="u1")
    response = _upload(client, (
        "external_id,email,plan\n"
        "u1,ana@example.com,pro\n"
        "u2,no-at-sign,free\n"
        ",c@example.com,free\n"
    ))
    text = _text(response)
    assert response.status_code == 200
    assert "1 row of crm.csv was rejected" in text
    for label, value in [("Rows read", 3), ("Created", 1), ("Updated", 1), ("Rejected", 1),
                         ("Warnings", 1)]:
        assert f'{label}</div><div class="stat">{value}</div>' in text
    assert '<td class="num">4</td><td>external_id is empty</td>' in text
    assert '<td class="num">3</td><td>email</td><td>Not an email address' in text
    assert Profile.objects.get(workspace=workspace, external_id="u1").email == "ana@example.com"


def test_import_page_rejects_only_the_broken_rows_and_its_counts_add_up(owner_client, workspace):
    data = (b"external_id,email\n"
            b'u1,"a@example.com\n'                          # line 2: a quote never closed
            + b"".join(b"u%d,u%d@example.com\n" % (n, n) for n in range(2, 6))
            + b"u6,caf\xe9@example.com\n"                   # line 7: Latin-1
            b"u7,g@example.com\n")
    file = SimpleUploadedFile("crm.csv", data, content_type="text/csv")
    response = owner_client.post(reverse("profile_import"), {"file": file})
    text = _text(response)
    assert "2 rows of crm.csv were rejected" in text
    for label, value in [("Rows read", 7), ("Created", 5), ("Updated", 0), ("Rejected", 2)]:
        assert f'{label}</div><div class="stat">{value}</div>' in text
    assert '<td class="num">2</td><td>has a quote that is never closed' in text
    assert '<td class="num">7</td><td>is not UTF-8 text' in text
    assert set(Profile.objects.filter(workspace=workspace).values_list("external_id", flat=True)) \
        == {"u2", "u3", "u4", "u5", "u7"}


def test_import_page_explains_a_bad_file_and_imports_nothing(owner_client, workspace):
    response = _upload(owner_client, "name,email\nAna,ana@example.com\n")
    assert "with an external_id column" in _text(response)
    assert 'id="import-report"' not in response.content.decode()
    assert not Profile.objects.filter(workspace=workspace).exists()


def test_import_page_streams_a_large_upload_from_disk(owner_client, workspace, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # larger uploads go to a temporary file
    rows = "".join(f"big-{n},big{n}@example.com\n" for n in range(500))
    response = _upload(owner_client, "external_id,email\n" + rows)
    assert "crm.csv imported." in _text(response)
    assert Profile.objects.filter(workspace=workspace).count() == 500


def test_imports_land_in_the_current_workspace_only(client, login, workspace):
    elsewhere = MembershipFactory(role=Role.MEMBER)
    login(client, elsewhere)
    _upload(client, "external_id\nu1\n")
    assert not Profile.objects.filter(workspace=workspace).exists()
    assert Profile.objects.filter(workspace=elsewhere.workspace, external_id="u1").exists()
