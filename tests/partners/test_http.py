"""The shared partner HTTP client: rate limiter, timeout, session, transport errors, redaction."""

import base64
import logging
import threading
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from partners import ratelimit
from partners.base import Permanent, RateLimits, Transient
from partners.http import (
    PartnerClient,
    RateBudget,
    SecretRedactingFilter,
    redact_url,
    session,
)

BASE = "https://partner.test/api/"
APP_SECRET = "configured-app-secret-1234"


@pytest.fixture(autouse=True)
def http_settings(settings):
    settings.PARTNER_TEST_BASE_URL = BASE
    settings.TIKTOK_SECRET = APP_SECRET
    settings.PARTNER_HTTP_TIMEOUT = 4.0


@pytest.fixture
def client():
    return PartnerClient(partner_name="Partner", base_url_setting="PARTNER_TEST_BASE_URL")


@pytest.fixture
def events(monkeypatch):
    """What happened, in order: rate-limiter calls and requests sent."""
    happened = []

    def acquire(key: str, *, limit_per_s: float, per_min=None, per_day=None) -> None:
        happened.append(("acquire", key, limit_per_s))

    monkeypatch.setattr(ratelimit, "acquire", acquire)
    return happened


# --- requests -----------------------------------------------------------------------------


def test_the_rate_limiter_is_asked_before_the_request(client, api, events):
    def answer(request):
        events.append(("request", request.method, request.url))
        return 200, {}, "{}"

    api.add_callback(responses.POST, BASE + "things/", callback=answer)

    client.request("POST", "things/",
                   budget=RateBudget(key="partner:app", limits=RateLimits(per_s=5.0)),
                   json_body={"a": 1})

    assert events == [("acquire", "partner:app", 5.0), ("request", "POST", BASE + "things/")]


def test_only_a_call_without_budget_skips_the_rate_limiter(client, api, events):
    api.post(BASE + "oauth/token", json={})

    client.request("POST", "oauth/token", budget=None, form={"grant_type": "x"})

    assert events == []


def test_json_bodies_go_as_json_bytes_with_the_mandatory_timeout(client, api, events):
    api.post(BASE + "things/", json={"ok": True})

    response = client.request("POST", "things/", budget=None,
                              json_body={"users": [["h1", {}]], "n": 2})

    request = api.calls[0].request
    assert request.body == b'{"users":[["h1",{}]],"n":2}'
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.req_kwargs["timeout"] == 4.0
    assert (response.status, response.ok, response.json()) == (200, True, {"ok": True})


def test_forms_and_basic_auth(client, api, events):
    api.post(BASE + "oauth/token", json={})

    client.request("POST", "oauth/token", budget=None, form={"grant_type": "refresh_token"},
                   basic_auth=("client", "client-secret"))

    request = api.calls[0].request
    assert dict(parse_qsl(request.body)) == {"grant_type": "refresh_token"}
    assert request.headers["Authorization"] == (
        "Basic " + base64.b64encode(b"client:client-secret").decode())


def test_one_session_per_thread():
    here = session()
    there = []
    worker = threading.Thread(target=lambda: there.append(session()))
    worker.start()
    worker.join()

    assert session() is here
    assert there[0] is not here


def test_no_cookie_rides_from_one_call_to_the_next(client, api, events):
    api.get(BASE + "a/", json={}, headers={"Set-Cookie": "sid=workspace-1; Path=/"})
    api.get(BASE + "b/", json={})

    client.request("GET", "a/", budget=None)
    client.request("GET", "b/", budget=None)

    assert "Cookie" not in api.calls[1].request.headers


@pytest.mark.parametrize(("failure", "words"), [
    (requests.exceptions.ConnectTimeout, "did not answer within 4 s"),
    (requests.exceptions.ReadTimeout, "did not answer within 4 s"),
    (requests.exceptions.ConnectionError, "could not be reached"),
    (requests.exceptions.ChunkedEncodingError, "could not be reached"),
])
def test_transport_failures_are_transient_and_name_no_query(client, api, events, failure, words):
    api.get(BASE + "things/", body=failure(f"{BASE}things/?secret=s3cr3t-value"))

    with pytest.raises(Transient) as caught:
        client.request("GET", "things/", budget=None, params={"secret": "s3cr3t-value"})

    assert words in caught.value.message
    assert f"GET {BASE}things/" in caught.value.message
    assert "s3cr3t-value" not in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_credentials_in_the_base_url_stay_out_of_errors(client, api, events, settings):
    settings.PARTNER_TEST_BASE_URL = "https://sandbox:sandbox-pass-123@partner.test/api/"
    api.get("https://sandbox:sandbox-pass-123@partner.test/api/things/",
            body=requests.exceptions.ConnectionError("x"))

    with pytest.raises(Transient) as caught:
        client.request("GET", "things/", budget=None)

    assert "https://partner.test/api/things/" in caught.value.message
    assert "sandbox-pass-123" not in caught.value.message


def test_a_bad_base_url_is_permanent(client, settings, events):
    settings.PARTNER_TEST_BASE_URL = "partner.test/api/"

    with pytest.raises(Permanent, match="could not be sent"):
        client.request("GET", "things/", budget=None)


def test_garbage_excerpt_is_short_and_scrubbed_of_what_the_request_carried(client, api, events):
    api.get(BASE + "things/", body="<html>" + "token tok-abcdef-123 " * 10 + "</html>")

    response = client.request("GET", "things/", budget=None,
                              headers={"Access-Token": "tok-abcdef-123"})
    error = response.garbage(why="not JSON")

    assert isinstance(error, Transient)
    assert "tok-abcdef-123" not in error.message
    assert "tok-abc" not in error.message  # not even cut in half
    assert "HTTP 200, not JSON" in error.message
    assert len(error.message) < 200


# --- redaction ----------------------------------------------------------------------------


def test_redact_url_keeps_only_scheme_host_and_path():
    url = "https://user:pw@partner.test:8443/open_api/v1.3/oauth2/advertiser/get/?secret=s#frag"

    assert redact_url(url) == "https://partner.test:8443/open_api/v1.3/oauth2/advertiser/get/"


@pytest.fixture
def redacting_logger(caplog):
    logger = logging.getLogger("tests.partners.redaction")
    redaction = SecretRedactingFilter()
    logger.addFilter(redaction)
    caplog.set_level(logging.DEBUG, logger=logger.name)
    yield logger
    logger.removeFilter(redaction)


@pytest.mark.parametrize(("line", "secret", "kept"), [
    ("Access-Token: tok123456789", "tok123456789", "Access-Token"),
    ("headers={'Access-Token': 'tok123456789', 'Accept': 'json'}", "tok123456789", "'Accept'"),
    ("Authorization: Bearer pina_123456789", "pina_123456789", "Authorization: Bearer"),
    ("{'Authorization': 'Basic Y2xpZW50OnNlY3JldA=='}", "Y2xpZW50OnNlY3JldA", "Basic"),
    ("sent with bearer pina_123456789 to x", "pina_123456789", "sent with"),
    ("GET /x/?app_id=1&secret=s3cr3tvalue HTTP/1.1", "s3cr3tvalue", "app_id=1"),
    ("grant_type=authorization_code&code=authcode123&redirect_uri=x", "authcode123",
     "grant_type=authorization_code"),
    ("grant_type=refresh_token&refresh_token=pinr_12345", "pinr_12345", "grant_type"),
    ("client_secret=cs-12345&access_token=at-12345", "12345", "client_secret="),
    ('{"app_id": "1", "secret": "s3cr3tvalue", "code": 40105}', "s3cr3tvalue", '"code": 40105'),
    ('{"access_token":"at-12345","advertiser_ids":[1]}', "at-12345", "advertiser_ids"),
    ('{"auth_code": "ac-12345"}', "ac-12345", "auth_code"),
    (f"partner echoed {APP_SECRET} back", APP_SECRET, "partner echoed"),
])
def test_the_filter_scrubs_credentials_and_keeps_the_rest(
    redacting_logger, caplog, line, secret, kept
):
    redacting_logger.info("%s", line)

    assert secret not in caplog.text
    assert kept in caplog.text
    assert "[redacted]" in caplog.text


def test_the_filter_keeps_answer_codes_and_harmless_fields(redacting_logger, caplog):
    redacting_logger.info("TikTok code 40105, error_code=5, page=2")

    assert "TikTok code 40105, error_code=5, page=2" in caplog.text


def test_the_filter_scrubs_tracebacks(redacting_logger, caplog):
    try:
        raise ValueError("https://x.test/?secret=s3cr3tvalue")
    except ValueError:
        redacting_logger.exception("call failed")

    assert "ValueError" in caplog.text
    assert "s3cr3tvalue" not in caplog.text


def test_urllib3_request_lines_are_scrubbed(caplog):
    caplog.set_level(logging.DEBUG, logger="urllib3.connectionpool")

    # urllib3's own format for each request it sends.
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s', "https", "tiktok.test", 443, "GET",
        "/open_api/v1.3/oauth2/advertiser/get/?app_id=1&secret=s3cr3tvalue", "HTTP/1.1", 200, 9,
    )

    assert "oauth2/advertiser/get/" in caplog.text
    assert "s3cr3tvalue" not in caplog.text


def test_the_client_logs_calls_without_query(client, api, events, caplog):
    caplog.set_level(logging.DEBUG, logger="partners.http")
    api.get(BASE + "things/", json={})

    client.request("GET", "things/", budget=None, params={"secret": "s3cr3tvalue"})

    assert f"Partner GET {BASE}things/ -> HTTP 200" in caplog.text
    assert "s3cr3tvalue" not in caplog.text
