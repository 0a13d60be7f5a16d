"""Disconnecting a partner asks first, on the product's pages and in the admin."""

import pytest
from django.urls import reverse

from partners.models import ConnectionStatus
from tests import builders
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_admin_disconnect_shows_an_intermediate_page_and_disconnects_only_after_it(
        client, workspace):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    # Pinterest has no revoke endpoint: disconnecting calls nobody.
    connection = builders.connected_account(workspace, partner="pinterest").connection
    changelist = reverse("admin:partners_partnerconnection_changelist")
    form = {"action": "disconnect", "_selected_action": [connection.pk]}

    page = client.post(changelist, form)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Disconnect these connections?" in html
    assert "revoked at the partner and deleted here; this cannot be undone" in html
    assert str(connection) in html
    assert f'<input type="hidden" name="_selected_action" value="{connection.pk}">' in html
    assert '<input type="hidden" name="post" value="yes">' in html
    assert '<input type="submit" value="Yes, disconnect them">' in html
    assert f'href="{changelist}" class="button cancel-link"' in html
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE and connection.access_token

    response = client.post(changelist, {**form, "post": "yes"}, follow=True)

    assert "1 connection(s) disconnected." in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED and not connection.access_token


def test_disconnect_on_the_partner_page_asks_first_and_disconnects_only_when_confirmed(
        owner_client, workspace):
    connection = builders.connected_account(workspace, partner="pinterest").connection
    detail = reverse("partners:detail", args=["pinterest"])
    url = reverse("partners:disconnect", args=["pinterest"])
    assert f'href="{url}">Disconnect</a>' in owner_client.get(detail).content.decode()

    for unconfirmed in (owner_client.get(url), owner_client.post(url)):
        page = unconfirmed.content.decode()
        assert unconfirmed.status_code == 200
        assert (f"Disconnect Pinterest from workspace {workspace.name}: its tokens are revoked "
                "at Pinterest and deleted here.") in page
        assert f'<form method="post" action="{url}">' in page
        assert ">Disconnect Pinterest</button>" in page and f'href="{detail}">Cancel</a>' in page
        connection.refresh_from_db()
        assert connection.status == ConnectionStatus.ACTIVE

    owner_client.post(url, {"confirmed": "yes"})

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.DISCONNECTED and not connection.access_token
