"""API keys: the settings page, the admin and the command; a key is shown once, never stored."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audiencesync.workspaces.apikeys import api_key_create
from audiencesync.workspaces.models import ApiKey, Role
from tests import builders
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

PAGE = reverse("api_keys")


def create_key(client, name="CRM nightly"):
    response = client.post(PAGE, {"action": "create", "name": name})
    assert response.status_code == 200
    return response, response.context["created"]


def test_owner_creates_a_key_shown_in_full_once_and_stored_as_its_hash(owner_client, workspace):
    response, created = create_key(owner_client)

    secret = created.secret
    assert secret.startswith("as_") and len(secret) >= 3 + 32
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(workspace=workspace)
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in [key.name, key.prefix, key.key_hash]
    assert secret.startswith(key.prefix)

    page = owner_client.get(PAGE).content.decode()
    assert secret not in page
    assert key.prefix in page and "CRM nightly" in page


def test_created_key_enters_users_until_it_is_revoked(owner_client, workspace, sync_canvas,
                                                      client):
    _, created = create_key(owner_client)

    def call():
        return client.post(f"/api/v1/canvases/{sync_canvas.pk}/entries",
                           data={"users": builders.users(1)}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {created.secret}")

    assert call().status_code == 200
    response = owner_client.post(PAGE, {"action": "revoke", "key_id": created.api_key.pk},
                                 follow=True)
    assert "revoked" in response.content.decode()
    assert ApiKey.objects.get().revoked_at is not None
    assert call().status_code == 401


def test_blank_name_is_refused_with_a_message(owner_client):
    response = owner_client.post(PAGE, {"action": "create", "name": "  "})

    assert response.status_code == 200
    assert "Give the key a name" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_another_workspaces_key_cannot_be_revoked(owner_client):
    stranger = api_key_create(workspace=WorkspaceFactory(), name="theirs")

    response = owner_client.post(PAGE, {"action": "revoke", "key_id": stranger.api_key.pk},
                                 follow=True)

    assert "No such API key" in response.content.decode()
    stranger.api_key.refresh_from_db()
    assert stranger.api_key.revoked_at is None


def test_member_sees_the_list_but_cannot_create_or_revoke(client, login, workspace):
    key = api_key_create(workspace=workspace, name="CRM").api_key
    login(client, MembershipFactory(workspace=workspace, role=Role.MEMBER))

    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert "CRM" in html and key.prefix in html
    assert 'value="create"' not in html and 'value="revoke"' not in html

    assert client.post(PAGE, {"action": "create", "name": "mine"}).status_code == 403
    assert client.post(PAGE, {"action": "revoke", "key_id": key.pk}).status_code == 403
    assert ApiKey.objects.get().revoked_at is None and ApiKey.objects.count() == 1


def test_settings_page_links_to_api_keys(owner_client):
    assert PAGE in owner_client.get(reverse("workspace_settings")).content.decode()


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_keys_without_their_hash_and_revokes(admin_client, workspace):
    created = api_key_create(workspace=workspace, name="CRM")
    key = created.api_key

    listing = admin_client.get(reverse("admin:workspaces_apikey_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:workspaces_apikey_change", args=[key.pk]))
    assert "CRM" in listing and key.prefix in listing and workspace.name in listing
    for html in (listing, detail.content.decode()):
        assert key.key_hash not in html and created.secret not in html

    admin_client.post(reverse("admin:workspaces_apikey_changelist"),
                      {"action": "revoke", "_selected_action": [key.pk], "post": "yes"})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_command_prints_a_working_key_once(workspace):
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_key", "--workspace", workspace.slug, "--name", "ETL",
                 stdout=out, stderr=err)

    secret = out.getvalue().strip()
    key = ApiKey.objects.get(workspace=workspace, name="ETL")
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert "cannot be shown again" in err.getvalue()


def test_command_refuses_an_unknown_workspace(db):
    with pytest.raises(CommandError, match="No workspace with slug 'nope'"):
        call_command("create_api_key", "--workspace", "nope")
    assert not ApiKey.objects.exists()
