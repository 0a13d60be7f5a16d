"""Input that used to answer 500 on the workspace pages: odd characters in the profile
search (on SQLite and PostgreSQL alike) and a workspace id no database column can hold."""

import pytest
from django.urls import reverse

from audiencesync.workspaces.middleware import SESSION_KEY
from tests.factories import MembershipFactory, ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", [
    "abc\ud7ff", "\ud7ff", "a\x00b", "\x00", "\uffff", "x\U0010ffff", "\U0010fffe",
    "\ufeff", "\u202e", "ab\ud7ff@", "\x00@x", "+1 415\x00",
])
def test_profile_search_with_odd_characters_answers_a_page(owner_client, workspace, query):
    ProfileFactory(workspace=workspace, external_id="abc-1")
    response = owner_client.get(reverse("profile_list"), {"q": query})
    assert response.status_code == 200
    assert "abc-1" not in response.content.decode() or query.startswith("abc")


def test_profile_search_ending_in_the_last_character_before_surrogates_finds_its_prefix(
        owner_client, workspace):
    ProfileFactory(workspace=workspace, external_id="abc\ud7ff-1")
    ProfileFactory(workspace=workspace, external_id="abc\ue000")
    response = owner_client.get(reverse("profile_list"), {"q": "abc\ud7ff"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "abc\ud7ff-1" in page
    assert "abc\ue000" not in page


@pytest.mark.parametrize("workspace_id", ["1" * 30, "-" + "9" * 30, "99999999999999999999"])
def test_switching_to_a_workspace_id_no_column_holds_keeps_the_current_one(
        owner_client, owner, workspace_id):
    response = owner_client.post(reverse("workspace_switch"), {"workspace_id": workspace_id})
    assert response.status_code == 302
    assert owner_client.session[SESSION_KEY] == owner.workspace_id


def test_switching_still_moves_to_a_workspace_of_mine(owner_client, owner):
    other = MembershipFactory(user=owner.user, role="member")
    owner_client.post(reverse("workspace_switch"), {"workspace_id": str(other.workspace_id)})
    assert owner_client.session[SESSION_KEY] == other.workspace_id
