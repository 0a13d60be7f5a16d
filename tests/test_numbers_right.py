"""Numbers and states on the marketer's pages say what is true: counts of what was chosen,
one last-check time, a warning once per canvas, each canvas named once, words in the
singular for one."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audiencesync.sync.engine import WAITING_FOR_EARLIER_INTENT
from audiencesync.sync.selectors import sync_item_status
from canvas.models import BatchState, ItemState, Step, StepKind, SyncAction, SyncBatch, SyncItem
from canvas.selectors import canvas_connection_problems
from canvas.services import canvases as canvas_services
from canvas.steps import step_type
from partners.base import InvalidToken
from partners.models import AdAccount, Audience, ConnectionStatus, PartnerConnection
from partners.services import connection_mark_invalid


@pytest.fixture
def connection(owner):
    return PartnerConnection.objects.create(workspace=owner.workspace, partner="tiktok",
                                            status=ConnectionStatus.ACTIVE)


def test_the_partner_list_counts_the_ad_accounts_chosen_not_every_one_reached(
        owner_client, connection):
    for number, selected in enumerate([True, True, False]):
        AdAccount.objects.create(connection=connection, external_id=f"a{number}",
                                 name=f"Account {number}", selected=selected)

    page = owner_client.get(reverse("partners:list")).content.decode()

    row = page[page.index("<strong>TikTok</strong>"):]
    row = row[:row.index("</tr>")]
    assert '<td class="num">2</td>' in row


def test_a_refused_token_is_the_last_check_on_the_list_and_the_partner_page(
        owner_client, connection):
    connection_mark_invalid(connection=connection, error=InvalidToken("Access token expired."))

    connection.refresh_from_db()
    checked = f"{connection.last_checked_at:%Y-%m-%d %H:%M}"
    detail = owner_client.get(reverse("partners:detail", args=["tiktok"])).content.decode()
    listing = owner_client.get(reverse("partners:list")).content.decode()
    assert "never" not in detail
    assert f"refused {checked}" in detail and "Access token expired." in detail
    assert checked in listing


def test_an_invalid_token_is_one_warning_per_canvas_however_many_steps_use_it(owner, connection):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="C", user=owner.user)
    for position in (1, 2, 3):
        Step.objects.create(canvas=canvas, kind=StepKind.AUDIENCE_SYNC, partner="tiktok",
                            position=position)
    PartnerConnection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.INVALID)

    problems = canvas_connection_problems(workspace=owner.workspace)

    assert len(problems[canvas.pk]) == 1


def test_the_audiences_page_names_each_canvas_once(owner_client, owner, connection):
    account = AdAccount.objects.create(connection=connection, external_id="a1", name="A",
                                       selected=True)
    audience = Audience.objects.create(ad_account=account, external_id="9", name="Buyers",
                                       created_here=True)
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Spring sale",
                                           user=owner.user)
    for position in (1, 2):
        Step.objects.create(canvas=canvas, kind=StepKind.AUDIENCE_SYNC, partner="tiktok",
                            ad_account=account, audience=audience, position=position)

    page = owner_client.get(reverse("canvas:audiences", args=[account.pk])).content.decode()

    assert page.count(">Spring sale</a>") == 1


@pytest.mark.parametrize(("value", "unit", "text"), [
    (1, "hours", "wait 1 hour"), (2, "hours", "wait 2 hours"), (1, "days", "wait 1 day"),
    (90, "seconds", "wait 90 seconds"),
])
def test_a_delay_is_said_in_the_singular_for_one(owner, value, unit, text):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="C", user=owner.user)
    step = Step.objects.create(canvas=canvas, kind=StepKind.DELAY, position=1,
                               delay_value=value, delay_unit=unit)

    assert step_type(step.kind).describe(step=step) == text


def test_a_batch_holding_back_for_an_earlier_intent_says_so_and_shows_no_error(owner, connection):
    item = SyncItem(state=ItemState.PENDING, action=SyncAction.ADD)
    batch = SyncBatch(state=BatchState.SENDING, last_error=WAITING_FOR_EARLIER_INTENT)

    status = sync_item_status(item=item, live_batch=batch)

    assert status == "Pending: waiting for an earlier add/remove of the same users to be sent"


# --- small things a user trips on ----------------------------------------------------------


def test_the_invite_box_labels_its_fields(owner_client):
    page = owner_client.get(reverse("members")).content.decode()

    assert '<label for="id_email"' in page and '<label for="id_role"' in page


def test_a_sign_up_password_error_sits_under_the_password_field(client, db):
    page = client.post(reverse("account_signup"), {
        "email": "new@example.com", "password1": "short", "password2": "short",
    }).content.decode()

    password = page.index('id="id_password1"')
    error = page.index("This password is too short")
    assert password < error < page.index('id="id_password2"')


def test_the_country_setting_names_countries(owner_client):
    page = owner_client.get(reverse("workspace_settings")).content.decode()

    assert ">Japan (JP, +81)</option>" in page
    assert ">Ascension Island (AC, +247)</option>" in page


def test_a_new_api_key_has_a_copy_button(owner_client):
    page = owner_client.post(reverse("api_keys"), {"action": "create", "name": "CRM"}).content.decode()

    assert 'data-copy="new-api-key"' in page


@pytest.mark.parametrize(("page", "kind"), [("profile_import", "profiles"),
                                            ("event_import", "events")])
def test_the_import_pages_offer_a_sample_file_that_imports_cleanly(owner_client, page, kind):
    sample_url = reverse("import_sample", args=[kind])
    assert f'href="{sample_url}"' in owner_client.get(reverse(page)).content.decode()
    sample = owner_client.get(sample_url)
    assert sample["Content-Disposition"] == f'attachment; filename="sample-{kind}.csv"'

    upload = SimpleUploadedFile(f"sample-{kind}.csv", sample.content, content_type="text/csv")
    report = owner_client.post(reverse(page), {"file": upload}).content.decode()

    assert f"sample-{kind}.csv imported." in report


def test_every_page_names_an_icon_and_favicon_ico_leads_to_it(client, db):
    assert 'rel="icon"' in client.get(reverse("account_login")).content.decode()

    response = client.get("/favicon.ico")

    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
