"""The switches tests and benchmarks pull: revoke, delete, faults, limits, reset; over HTTP
and through ``manage.py sandbox``."""

import json
import time
from io import StringIO

import orjson
import pytest
from django.core.management import CommandError, call_command

from .conftest import AD_ACCOUNT, ADVERTISER, audience_record, frozen, sha256, user_row

LIST_PATH = "dmp/custom_audience/list/"


def _upload(tiktok, audience_id: str, email: str = "ana@example.com") -> dict:
    return tiktok.mapping(audience_id, [user_row(audience_id, email=email)])


def test_revoking_one_token_kills_only_that_token(connected_tiktok, tiktok, client, control):
    other = type(tiktok)(client)
    other.connect()
    assert control("revoke", token=connected_tiktok.token) == {"ok": True, "revoked": 1}
    assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 40105
    assert other.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 0


def test_revoking_a_partner_kills_all_its_tokens(connected_tiktok, connected_pinterest, control):
    control("revoke", partner="pinterest")
    assert connected_pinterest.call("get", "ad_accounts").status_code == 401
    assert connected_pinterest.refresh().status_code == 400
    assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 0


def test_revoking_a_grant_kills_its_refresh_token_too(connected_pinterest, control):
    assert control("revoke", token=connected_pinterest.token, grant=True)["revoked"] == 2
    assert connected_pinterest.refresh().status_code == 400


def test_a_deleted_audience_is_gone_for_the_product(
    connected_tiktok, connected_pinterest, control, record
):
    audience_id = connected_tiktok.create_audience()
    list_id = connected_pinterest.create_list([sha256("a")]).json()["id"]
    control("delete_audience", partner="tiktok", audience_id=audience_id)
    control("delete_audience", partner="pinterest", audience_id=list_id)
    assert _upload(connected_tiktok, audience_id)["code"] == 40007
    assert connected_pinterest.update_list(list_id, "ADD", [sha256("b")]).status_code == 404
    assert audience_record(record(), "tiktok", audience_id)["deleted"] is True


def test_system_errors_hit_uploads_not_reads(connected_tiktok, connected_pinterest, control):
    audience_id = connected_tiktok.create_audience()
    list_id = connected_pinterest.create_list([sha256("a")]).json()["id"]
    control("faults", partner="tiktok", error_share=1)
    control("faults", partner="pinterest", error_share=1)
    assert _upload(connected_tiktok, audience_id)["code"] == 50000
    assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 0
    refused = connected_pinterest.update_list(list_id, "ADD", [sha256("b")])
    assert refused.status_code == 503
    assert connected_pinterest.call("get", "ad_accounts").status_code == 200
    control("faults", partner="tiktok")
    assert _upload(connected_tiktok, audience_id)["code"] == 0


def test_a_timeout_answers_late_and_still_applies_the_upload(
    connected_tiktok, control, record
):
    audience_id = connected_tiktok.create_audience()
    control("faults", partner="tiktok", timeout_share=1, timeout_seconds=0.3)
    started = time.monotonic()
    assert _upload(connected_tiktok, audience_id)["code"] == 0
    assert time.monotonic() - started >= 0.3
    assert audience_record(record(), "tiktok", audience_id)["received_add"] == 1


def test_not_editable_is_tiktoks_40002(connected_tiktok, control, client):
    audience_id = connected_tiktok.create_audience()
    control("faults", partner="tiktok", not_editable_share=1)
    answer = _upload(connected_tiktok, audience_id)
    assert answer["code"] == 40002
    assert "not editable" in answer["message"]
    refused = client.post(
        "/sandbox/__sandbox__/control",
        orjson.dumps({"action": "faults", "partner": "pinterest", "not_editable_share": 1}),
        content_type="application/json",
    )
    assert refused.status_code == 400


def test_a_rate_limit_storm_lasts_its_seconds(connected_tiktok, connected_pinterest, control):
    with frozen() as traveller:
        control("faults", partner="tiktok", storm_seconds=5)
        control("faults", partner="pinterest", storm_seconds=5)
        assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 40100
        assert connected_pinterest.call("get", "ad_accounts").status_code == 429
        traveller.shift(6)
        assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 0
        assert connected_pinterest.call("get", "ad_accounts").status_code == 200


def test_seeded_faults_repeat(connected_tiktok, control, record):
    audience_id = connected_tiktok.create_audience()

    def outcomes():
        control("faults", partner="tiktok", error_share=0.5, seed=7)
        return [_upload(connected_tiktok, audience_id)["code"] for _ in range(12)]

    first = outcomes()
    assert set(first) == {0, 50000}
    assert outcomes() == first
    assert record()["injected_faults"] == 2 * first.count(50000)


def test_limits_switch_off_and_back_on(settings, connected_tiktok, control):
    settings.SANDBOX_TIKTOK_MAX_ROWS = 1
    audience_id = connected_tiktok.create_audience()
    two_rows = [user_row(audience_id, email=f"{name}@x.example") for name in ("a", "b")]
    with frozen() as traveller:
        control("limits", enabled=False)
        codes = [connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"]
                 for _ in range(60)]
        assert set(codes) == {0}
        assert connected_tiktok.mapping(audience_id, two_rows)["code"] == 0
        control("limits", enabled=True)
        assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 40100
        traveller.shift(2)
        assert connected_tiktok.mapping(audience_id, two_rows)["code"] == 40011


def test_limits_can_be_changed_at_run_time(connected_pinterest, control, client):
    control("limits", pinterest_rate=1)
    with frozen():
        assert connected_pinterest.call("get", "ad_accounts").status_code == 200
        assert connected_pinterest.call("get", "ad_accounts").status_code == 429
    status = client.get("/sandbox/__sandbox__/status").json()
    assert status["limits"]["pinterest_rate"] == 1


def test_reset_forgets_everything(connected_tiktok, control, record):
    audience_id = connected_tiktok.create_audience()
    _upload(connected_tiktok, audience_id)
    control("limits", enabled=False)
    control("reset")
    after = record()
    assert after["audiences"] == []
    assert after["requests"] == 0
    assert after["max_requests_per_s"] == {}
    assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 40105


def test_the_record_counts_every_api_call(connected_tiktok, connected_pinterest, record):
    connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)
    connected_tiktok.get(LIST_PATH, token=None, advertiser_id=ADVERTISER)
    connected_pinterest.call("get", "ad_accounts")
    assert record()["requests"] == 3  # consents and token exchanges are not API calls


@pytest.mark.parametrize(
    "body",
    [
        {"action": "explode"},
        {"action": "revoke"},
        {"action": "faults", "partner": "tiktok", "error_share": 2},
        {"action": "faults", "partner": "myspace"},
        {"action": "limits", "tiktok_speed": 3},
        {"action": "delete_audience", "partner": "tiktok", "audience_id": "404"},
    ],
)
def test_a_bad_control_is_400_with_a_reason(client, body):
    response = client.post(
        "/sandbox/__sandbox__/control", orjson.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["error"]


def test_members_of_an_unknown_audience_is_404(client):
    assert client.get("/sandbox/__sandbox__/audiences/tiktok/404/members").status_code == 404


# --- manage.py sandbox -----------------------------------------------------------------------


def _command(*args) -> str:
    out = StringIO()
    call_command("sandbox", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_record(connected_tiktok):
    audience_id = connected_tiktok.create_audience()
    _upload(connected_tiktok, audience_id)
    printed = json.loads(_command("record"))
    assert audience_record(printed, "tiktok", audience_id)["received_add"] == 1
    members = json.loads(_command("members", "--partner", "tiktok", "--audience-id", audience_id))
    assert members["members"] == [f"EMAIL_SHA256:{sha256('ana@example.com')}"]


def test_destructive_subcommands_are_dry_runs_without_commit(connected_tiktok, record):
    audience_id = connected_tiktok.create_audience()
    assert "Dry run" in _command("reset")
    assert "Dry run" in _command("revoke", "--partner", "tiktok")
    assert "Dry run" in _command("delete-audience", "--partner", "tiktok",
                                 "--audience-id", audience_id)
    assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 0
    _command("delete-audience", "--partner", "tiktok", "--audience-id", audience_id, "--commit")
    assert _upload(connected_tiktok, audience_id)["code"] == 40007
    _command("revoke", "--partner", "tiktok", "--commit")
    assert connected_tiktok.get(LIST_PATH, advertiser_id=ADVERTISER)["code"] == 40105
    _command("reset", "--commit")
    assert record()["audiences"] == []


def test_the_command_switches_faults_and_limits(connected_pinterest):
    _command("faults", "--partner", "pinterest", "--error-share", "1")
    list_response = connected_pinterest.call(
        "post", f"ad_accounts/{AD_ACCOUNT}/customer_lists",
        {"name": "x", "records": sha256("a")},
    )
    assert list_response.status_code == 503
    _command("faults", "--partner", "pinterest")
    assert json.loads(_command("limits", "--off", "--pinterest-rate", "3"))["enabled"] is False
    status = json.loads(_command("status"))
    assert status["limits"]["pinterest_rate"] == 3
    assert status["faults"]["pinterest"]["error_share"] == 0


def test_the_command_refuses_bad_input():
    with pytest.raises(CommandError):
        _command("delete-audience", "--partner", "tiktok", "--audience-id", "404", "--commit")
    with pytest.raises(CommandError):
        _command("faults", "--partner", "tiktok", "--error-share", "1.5")
