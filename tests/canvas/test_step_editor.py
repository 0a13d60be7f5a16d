"""The Audience Sync step editor is one form: partner, ad account and audience chosen
together, choices updated in place (htmx, or a button without scripts), every value kept and
every error shown by its field, one searchable audience box that offers to create the typed
name, and a question before a second audience of the same name."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from audiencesync.proofs.sandbox import workspace_connect
from canvas.models import StepKind
from canvas.services import canvases as canvas_services
from partners.services import partner_audiences_fetch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tiktok(sandbox, owner):
    connection = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                   partner_key="tiktok")
    return connection.ad_accounts.filter(selected=True).order_by("external_id").first()


@pytest.fixture
def editor(owner):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="Editor",
                                           user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    return step, reverse("canvas:step", args=[canvas.pk, step.pk])


def _checked(page: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]*)"[^>]*\bchecked\b', page)


def test_one_post_chooses_partner_ad_account_and_an_existing_audience(owner_client, tiktok,
                                                                      editor):
    step, url = editor
    streaming = next(a for a in partner_audiences_fetch(ad_account=tiktok) if a.syncable)

    response = owner_client.post(url, {
        "partner": "tiktok", "ad_account": tiktok.pk, "audience": streaming.id,
        "action": "add", "match_fields": ["email", "phone"], "respect_ad_tracking": "on",
        "do": "save"})

    step.refresh_from_db()
    assert response.status_code == 302
    assert (step.partner, step.ad_account, step.audience.external_id, step.match_fields) == (
        "tiktok", tiktok, streaming.id, ["email", "phone"])


def test_a_refresh_shows_the_new_choices_and_saves_nothing(owner_client, tiktok, editor):
    step, url = editor

    page = owner_client.post(url, {"partner": "tiktok", "do": "refresh"},
                             HTTP_HX_REQUEST="true").content.decode()

    assert f'<option value="{tiktok.pk}"' in page and _checked(page, "partner") == ["tiktok"]
    step.refresh_from_db()
    assert step.partner == ""


def test_an_error_keeps_every_value_and_sits_by_its_field(owner_client, tiktok, editor):
    step, url = editor

    page = owner_client.post(url, {
        "partner": "tiktok", "ad_account": tiktok.pk, "audience": "new",
        "q": "Spring buyers", "action": "add", "do": "save"}).content.decode()

    assert "The step was not saved" in page
    assert 'value="Spring buyers"' in page and _checked(page, "audience") == ["new"]
    assert re.search(rf'<option value="{tiktok.pk}" selected', page)
    fields = page[page.index("<legend>Match fields to sync</legend>"):]
    assert fields.index("Choose at least one match field") < fields.index("</fieldset>")
    step.refresh_from_db()
    assert step.audience is None


def test_the_audience_box_filters_shows_why_an_audience_cannot_be_chosen_and_offers_to_create(
        owner_client, tiktok, editor):
    _, url = editor
    listed = partner_audiences_fetch(ad_account=tiktok)
    refused = next(a for a in listed if not a.syncable)

    page = owner_client.post(url, {"partner": "tiktok", "ad_account": tiktok.pk,
                                   "q": "", "do": "refresh"}).content.decode()
    assert re.search(rf'value="{refused.id}" disabled', page)
    assert f"Cannot take users: {escape(refused.reason)}" in page

    typed = owner_client.post(url, {"partner": "tiktok", "ad_account": tiktok.pk,
                                    "q": "Lapsed buyers", "do": "refresh"}).content.decode()
    assert "Create audience “Lapsed buyers”" in typed
    options = typed[typed.index('id="audience-options"'):typed.index("</fieldset>")]
    assert all(a.name not in options for a in listed if "lapsed" not in a.name.lower())


def test_a_name_the_ad_account_has_asks_before_a_second_audience(owner_client, tiktok, editor,
                                                                 sandbox):
    step, url = editor
    taken = next(a for a in partner_audiences_fetch(ad_account=tiktok) if a.syncable).name
    before = len(partner_audiences_fetch(ad_account=tiktok, refresh=True))
    form = {"partner": "tiktok", "ad_account": tiktok.pk, "audience": "new", "q": taken.upper(),
            "action": "add", "match_fields": ["email"], "do": "save"}

    asked = owner_client.post(url, form).content.decode()

    assert 'id="duplicate-name"' in asked and "Create a second audience named" in asked
    assert len(partner_audiences_fetch(ad_account=tiktok, refresh=True)) == before
    made = owner_client.post(url, {**form, "confirm_duplicate": "on"})
    assert made.status_code == 302
    step.refresh_from_db()
    assert step.audience.external_id
    assert len(partner_audiences_fetch(ad_account=tiktok, refresh=True)) == before + 1


def test_the_delay_editor_keeps_a_wrong_value_with_its_error_and_a_way_back(owner_client, owner):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="D", user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.DELAY)

    page = owner_client.post(reverse("canvas:step", args=[canvas.pk, step.pk]),
                             {"delay_value": "400", "delay_unit": "days"}).content.decode()

    assert 'value="400"' in page and "A delay waits at most 365 days" in page
    assert f'href="{reverse("canvas:detail", args=[canvas.pk])}"' in page


def test_consent_stays_respected_by_default_while_the_form_grows(owner_client, tiktok, editor):
    _, url = editor

    partner_chosen = owner_client.post(url, {"partner": "tiktok", "do": "refresh"})
    account_chosen = owner_client.post(url, {"partner": "tiktok", "ad_account": tiktok.pk,
                                             "do": "refresh"}).content.decode()

    assert "fields_shown" not in partner_chosen.content.decode()
    assert re.search(r'name="respect_ad_tracking" checked', account_chosen)
