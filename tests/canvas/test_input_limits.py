"""Input that used to answer 500 gets a clear answer instead: the Delay's longest wait, the
step editor's "use existing audience" before an ad account, and the entries API's
Idempotency-Key and chunked bodies."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from audiencesync.errors import ServiceError
from canvas.forms import DelayForm
from canvas.models import MAX_DELAY, CanvasEntry, DelayUnit, Step, StepKind
from canvas.services import canvases as canvas_services
from tests import builders

pytestmark = pytest.mark.django_db

A_YEAR_AND_A_DAY = {DelayUnit.SECONDS: 365 * 86400 + 1, DelayUnit.MINUTES: 365 * 1440 + 1,
                    DelayUnit.HOURS: 365 * 24 + 1, DelayUnit.DAYS: 366}


@pytest.fixture
def draft_delay(workspace, owner):
    canvas = canvas_services.canvas_create(workspace=workspace, name="Waits", user=owner.user)
    return canvas_services.step_add(canvas=canvas, kind=StepKind.DELAY)


def test_longest_delay_is_365_days():
    assert MAX_DELAY.days == 365


@pytest.mark.parametrize("unit", DelayUnit.values)
def test_delay_form_refuses_more_than_365_days_and_says_so(unit):
    form = DelayForm({"delay_value": A_YEAR_AND_A_DAY[unit], "delay_unit": unit})
    assert not form.is_valid()
    assert "365 days" in str(form.errors)
    assert DelayForm({"delay_value": A_YEAR_AND_A_DAY[unit] - 1, "delay_unit": unit}).is_valid()


def test_delay_form_refuses_a_number_too_big_for_any_unit():
    form = DelayForm({"delay_value": "999999999999", "delay_unit": "days"})
    assert not form.is_valid()
    assert "365 days" in str(form.errors)


def test_delay_editor_shows_the_limit_and_keeps_the_saved_delay(owner_client, draft_delay):
    url = reverse("canvas:step", args=[draft_delay.canvas_id, draft_delay.pk])
    response = owner_client.post(url, {"delay_value": "999999999999", "delay_unit": "days"})
    assert response.status_code == 200
    assert "365 days" in response.content.decode()
    draft_delay.refresh_from_db()
    assert (draft_delay.delay_value, draft_delay.delay_unit) == (1, DelayUnit.HOURS)


def test_delay_service_refuses_more_than_365_days(draft_delay):
    with pytest.raises(ServiceError, match="365 days"):
        canvas_services.step_update_delay(step=draft_delay, value=366, unit=DelayUnit.DAYS)
    step = canvas_services.step_update_delay(step=draft_delay, value=365, unit=DelayUnit.DAYS)
    assert step.delay.days == 365


def test_delay_model_validation_refuses_more_than_365_days(draft_delay):
    draft_delay.delay_value, draft_delay.delay_unit = 8761, DelayUnit.HOURS
    with pytest.raises(ValidationError, match="365 days"):
        draft_delay.full_clean()


def test_database_refuses_a_delay_longer_than_365_days(draft_delay):
    with pytest.raises(IntegrityError), transaction.atomic():
        Step.objects.filter(pk=draft_delay.pk).update(delay_value=366, delay_unit=DelayUnit.DAYS)


def test_entries_into_a_canvas_with_the_longest_delay_wait_a_year(
        sync_canvas, post_entries):
    delay = sync_canvas.steps.get(kind=StepKind.DELAY)
    Step.objects.filter(pk=delay.pk).update(delay_value=365, delay_unit=DelayUnit.DAYS)
    response = post_entries(sync_canvas.pk, {"users": builders.users(2)})
    assert response.status_code == 200
    assert response.json()["entered"] == 2
    entry = CanvasEntry.objects.filter(canvas=sync_canvas).first()
    assert (entry.resume_at - entry.entered_at).days == 365


def test_use_existing_audience_before_choosing_an_ad_account_says_what_to_do(
        owner_client, workspace, owner):
    canvas = canvas_services.canvas_create(workspace=workspace, name="No account",
                                           user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(step=step, partner_key="tiktok", ad_account_id=None,
                                     audience_id=None, action="add", match_fields=[],
                                     respect_ad_tracking=True)
    url = reverse("canvas:step", args=[canvas.pk, step.pk])
    for chosen in ("local-1", "1001"):
        response = owner_client.post(url, {"partner": "tiktok", "audience": chosen,
                                           "action": "add", "match_fields": ["email"]})
        assert response.status_code == 200
        assert ("Choose one of the TikTok ad accounts selected for this workspace."
                in response.content.decode())
    step.refresh_from_db()
    assert step.audience is None


@pytest.mark.parametrize("key", [
    "x" * 256, "café", "tab\there", "nul\x00", "line\nbreak", "emoji-\U0001f600", "\x7f",
])
def test_idempotency_key_that_is_not_visible_ascii_up_to_255_is_a_json_400(
        sync_canvas, post_entries, key):
    response = post_entries(sync_canvas.pk, {"users": builders.users(1)}, idempotency_key=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]
    assert "visible ASCII" in response.json()["error"]
    assert not CanvasEntry.objects.filter(canvas=sync_canvas).exists()


def test_idempotency_key_of_255_visible_characters_is_kept(sync_canvas, post_entries):
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3  # 282 visible ASCII characters
    key = key[:255]
    first = post_entries(sync_canvas.pk, {"users": builders.users(1)}, idempotency_key=key)
    again = post_entries(sync_canvas.pk, {"users": builders.users(1)}, idempotency_key=key)
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"


def test_chunked_body_that_the_server_decoded_is_read(sync_canvas, client, api_key):
    """A WSGI server that decodes a chunked body (gunicorn) passes no Content-Length."""
    body = b'{"users": [{"external_id": "chunked"}]}'
    response = client.generic(
        "POST", f"/api/v1/canvases/{sync_canvas.pk}/entries", body,
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key.secret}",
        HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="",
        **{"wsgi.input_terminated": True, "wsgi.input": io.BytesIO(body)},
    )
    assert response.status_code == 200, response.content
    assert response.json()["entered"] == 1


def test_chunked_body_a_server_did_not_decode_is_411_not_empty(sync_canvas, client, api_key):
    body = b'{"users": [{"external_id": "chunked"}]}'
    response = client.generic(
        "POST", f"/api/v1/canvases/{sync_canvas.pk}/entries", body,
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key.secret}",
        HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_chunked_entries_request_is_accepted_by_the_production_server(tmp_path, workspace):
    """Real HTTP through gunicorn, as ``manage.py run`` serves it: no Content-Length."""
    import requests
    from django.db import connection

    from audiencesync.proofs.processes import Processes, free_port, wait_until_serving
    from audiencesync.workspaces.apikeys import api_key_create

    canvas = builders.active_canvas(workspace)
    builders.delay_step(canvas, seconds=3600)
    key = api_key_create(workspace=workspace, name="chunks")
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    port = free_port()
    with Processes() as processes:
        processes.web(port=port, workers=1, env={"DATABASE_URL": url})
        wait_until_serving(f"http://127.0.0.1:{port}/accounts/login/")

        def chunks():
            yield b'{"users": ['
            yield b'{"external_id": "first"},'
            yield b'{"external_id": "second"}]}'

        response = requests.post(
            f"http://127.0.0.1:{port}/api/v1/canvases/{canvas.pk}/entries", data=chunks(),
            headers={"Authorization": f"Bearer {key.secret}", "Content-Type": "application/json"},
            timeout=30,
        )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json()["entered"] == 2


@pytest.mark.parametrize(("name", "says"), [
    ("x" * 256, "at most 255 characters"), ("Buyers\x00", "NUL"),
])
def test_new_audience_name_the_database_cannot_hold_is_refused_before_the_partner_is_called(
        workspace, owner, name, says):
    account = builders.connected_account(workspace)
    canvas = canvas_services.canvas_create(workspace=workspace, name="Named", user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(step=step, partner_key="tiktok", ad_account_id=account.pk,
                                     audience_id=None, action="add", match_fields=["email"],
                                     respect_ad_tracking=True)
    with pytest.raises(ServiceError, match=says):
        canvas_services.audience_create(step=step, name=name, match_fields=["email"],
                                        user=owner.user)


def test_api_key_name_with_nul_is_refused_on_the_page(owner_client):
    response = owner_client.post(reverse("api_keys"), {"action": "create", "name": "CRM\x00"})
    assert response.status_code == 200
    assert "cannot contain a NUL character" in response.content.decode()


def test_choosing_an_ad_account_the_connection_does_not_have_says_so(owner_client, workspace):
    account = builders.connected_account(workspace)
    for chosen in ("no-such-account", "a\x00b"):
        response = owner_client.post(reverse("partners:accounts", args=["tiktok"]),
                                     {"ad_account": [account.external_id, chosen]}, follow=True)
        assert response.status_code == 200
        assert "reload the page and choose again" in response.content.decode()
    account.refresh_from_db()
    assert account.selected


@pytest.mark.parametrize("chosen", ["a\x00b", "9" * 65])
def test_existing_audience_id_no_partner_lists_is_refused_in_words(
        owner_client, workspace, owner, chosen):
    account = builders.connected_account(workspace)
    canvas = canvas_services.canvas_create(workspace=workspace, name="Ids", user=owner.user)
    step = canvas_services.step_add(canvas=canvas, kind=StepKind.AUDIENCE_SYNC)
    canvas_services.step_update_sync(step=step, partner_key="tiktok", ad_account_id=account.pk,
                                     audience_id=None, action="add", match_fields=["email"],
                                     respect_ad_tracking=True)
    response = owner_client.post(reverse("canvas:step", args=[canvas.pk, step.pk]),
                                 {"partner": "tiktok", "ad_account": account.pk,
                                  "audience": chosen, "action": "add", "match_fields": ["email"]})
    assert response.status_code == 200
    assert "not in the ad account&#x27;s list" in response.content.decode()
