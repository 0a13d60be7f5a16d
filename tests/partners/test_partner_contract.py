"""The partner contract, run against every partner of the registry.

What the product relies on whichever partner it talks to: the consent page it sends the
user to, the code exchange, what every refusal means for the batch, batches too large,
tokens and app secrets never shown, an invalid token, an audience gone. A partner's own
request shapes are in its own file (``test_<partner>_client.py``).
"""

import logging
import traceback
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine

from partners import registry
from partners.base import (
    AudienceGone,
    AudienceHealth,
    BatchTooLarge,
    Credentials,
    InvalidToken,
    PartnerError,
    Permanent,
    Transient,
)

from .contract import KITS, NOW, H

CASES = [(key, case) for key, kit in KITS.items() for case in kit.error_cases]
GARBAGE = [(key, status, body) for key, kit in KITS.items() for status, body in kit.garbage_answers]
FAILURES = [requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout,
            requests.exceptions.ConnectionError]


@pytest.fixture(params=list(KITS))
def kit(request, settings, rate_calls):
    kit = KITS[request.param]
    kit.configure(settings)
    return kit


def _kit(key, settings):
    kit = KITS[key]
    kit.configure(settings)
    return kit


@pytest.fixture
def partner(kit):
    return registry.get(kit.key)


def test_every_partner_of_the_registry_runs_the_contract():
    assert set(KITS) == set(registry.PARTNERS)


def test_the_rate_key_names_the_budget_of_the_connection(kit, partner):
    assert partner.rate_key(42) == kit.rate_key


# --- audience state ----------------------------------------------------------------------


def test_audience_size_and_health_are_read_in_a_few_calls_per_ad_account(
        kit, partner, api, rate_calls):
    kit.states_answer(api)

    states = partner.audiences_state(credentials=kit.credentials, ad_account_id=kit.ad_account,
                                     audience_ids=list(kit.state_ids))

    # An audience missing from the answer no longer exists at the partner.
    assert {i: (s.health, s.size) for i, s in states.items()} == kit.expected_states
    assert len(rate_calls) == kit.state_calls


def test_background_reads_take_at_most_their_share_of_the_budget(kit, partner, api, rate_calls):
    kit.states_answer(api)
    credentials = Credentials(access_token=kit.token, connection_id=42, share=0.1)

    partner.audiences_state(credentials=credentials, ad_account_id=kit.ad_account,
                            audience_ids=list(kit.state_ids))

    rate = partner.rate_per_s
    # Every call first takes a slot of the tenth, then of the scope's own budget.
    assert [(key, limit) for key, limit, _ in rate_calls] == [
        (f"{kit.rate_key}:share-0.1", pytest.approx(rate / 10)), (kit.rate_key, rate),
    ] * kit.state_calls


# --- look-alikes --------------------------------------------------------------------------


def _lookalike(kit, partner):
    return partner.lookalike_create(credentials=kit.credentials, ad_account_id=kit.ad_account,
                                    seed_id=kit.audience_id, name="Look-alike",
                                    options=kit.lookalike_options)


def test_a_lookalike_is_created_from_the_audience_the_product_fills(kit, partner, api):
    assert {o.name for o in partner.lookalike_options} == set(kit.lookalike_options)
    kit.lookalike_answer(api)

    state = _lookalike(kit, partner)

    kit.lookalike_checks(api)
    assert (state.id, state.health, state.size) == (
        kit.lookalike_id, AudienceHealth.PROCESSING, None)


def test_a_seed_too_small_gets_the_partners_refusal_in_plain_words(kit, partner, api):
    kit.lookalike_answer(api, refused=True)

    with pytest.raises(Permanent) as refused:
        _lookalike(kit, partner)

    assert kit.seed_too_small in refused.value.message
    assert refused.value.message.startswith(f"{partner.name} refused the look-alike: ")
    assert "matched users" in refused.value.message


# --- OAuth -------------------------------------------------------------------------------


def test_authorize_url_sends_the_user_to_the_consent_page_with_state_and_redirect(kit, partner):
    url = partner.authorize_url(state="st-1", redirect_uri="https://app.test/cb/partner/")

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", *kit.authorize_at)
    assert dict(parse_qsl(parts.query)) == kit.authorize_query(
        state="st-1", redirect_uri="https://app.test/cb/partner/")


@time_machine.travel(NOW, tick=False)
def test_exchange_code_reads_the_token_outside_every_rate_budget(kit, partner, api, rate_calls):
    kit.exchange_answer(api)

    tokens = partner.exchange_code(code="auth-code-1", redirect_uri="https://app.test/cb")

    assert tokens.access_token == "new-token-abcdef12"
    kit.exchange_checks(api, tokens)
    assert rate_calls == []  # no connection yet: outside every rate budget


def test_a_refused_code_is_permanent_and_never_carries_the_app_secret(kit, partner, api):
    kit.exchange_refused(api, message=f"Auth code is invalid or expired. {kit.secrets[0]}")

    with pytest.raises(Permanent) as caught:
        partner.exchange_code(code="auth-code-1", redirect_uri="https://app.test/cb")

    assert type(caught.value) is Permanent
    assert "Auth code is invalid or expired." in caught.value.message
    assert caught.value.partner_code == kit.exchange_refused_code
    for secret in kit.secrets:
        assert secret not in str(caught.value)


# --- users -------------------------------------------------------------------------------


def test_a_batch_counts_against_the_rate_budget_read_at_call_time(
    kit, partner, api, rate_calls, settings
):
    setattr(settings, kit.rate_setting, 10.0)
    kit.answer_ok(api)

    result = kit.send(partner)

    assert result.accepted == 1
    assert rate_calls == [(kit.rate_key, 10.0, 0)]


def test_a_batch_over_the_batch_limit_is_refused_before_any_request(
    kit, partner, api, settings
):
    setattr(settings, kit.max_batch_setting, 2)

    with pytest.raises(BatchTooLarge) as caught:
        kit.send(partner, rows=[{"email": H["email"]}] * 3)

    assert caught.value.message == f"3 users in one {partner.name} request; at most 2."
    assert len(api.calls) == 0


@pytest.mark.parametrize("action", ["update", ""])
def test_an_unknown_action_is_refused_before_any_request(kit, partner, api, action):
    with pytest.raises(ValueError, match="action must be one of"):
        kit.send(partner, action=action)
    assert len(api.calls) == 0


def test_users_without_an_identifier_the_step_matches_on_are_left_out_and_counted(
    kit, partner, api
):
    kit.answer_ok(api)

    result = kit.send(partner, rows=[{"email": H["email"]}, {"phone": H["phone"]}])

    assert (result.accepted, result.details) == (1, {"skipped_without_identifier": 1})


# --- answer mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "case"), CASES)
def test_every_refusal_maps_to_what_the_product_does_next(key, case, settings, rate_calls, api):
    kit = _kit(key, settings)
    kit.answer(api, **case.answer)

    with pytest.raises(PartnerError) as caught:
        kit.send(registry.get(key))

    error = caught.value
    assert type(error) is case.error_class
    assert case.answer["message"] in error.message
    assert {name: getattr(error, name) for name in case.expected} == case.expected


def test_an_invalid_token_asks_to_reconnect(kit, partner, api):
    kit.answer(api, **kit.invalid_token)

    with pytest.raises(InvalidToken) as caught:
        kit.send(partner)

    assert kit.invalid_token["message"] in caught.value.message
    assert f"Reconnect {partner.name}." in caught.value.message
    assert not caught.value.retryable


def test_an_audience_gone_is_not_retried(kit, partner, api):
    kit.answer(api, **kit.audience_gone)

    with pytest.raises(AudienceGone) as caught:
        kit.send(partner)

    assert kit.audience_gone["message"] in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize(("key", "status", "body"), GARBAGE)
def test_a_shapeless_answer_is_transient_garbage(key, status, body, settings, rate_calls, api):
    kit = _kit(key, settings)
    kit.answer(api, status=status, body=body)

    with pytest.raises(Transient) as caught:
        kit.send(registry.get(key))

    assert "answered garbage" in caught.value.message
    assert f"HTTP {status}" in caught.value.message


def test_a_list_without_its_items_is_garbage(kit, partner, api):
    kit.ad_accounts_answer(api)

    with pytest.raises(Transient, match="garbage"):
        partner.list_ad_accounts(credentials=kit.credentials)


def test_a_redirect_is_not_followed_with_the_token(kit, partner, api):
    kit.answer(api, status=302, body=b"", headers={"Location": "https://elsewhere.test/steal"})

    with pytest.raises(PartnerError) as caught:
        kit.send(partner)

    assert type(caught.value) is kit.redirect_error
    assert len(api.calls) == 1


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", FAILURES)
def test_timeouts_and_connection_errors_are_transient_without_a_secret_or_query(
    kit, partner, api, failure
):
    # requests puts the full URL, query and all, into its exception text.
    leaky = (f"Max retries exceeded: {kit.base}{kit.ad_accounts_path}?app_id=app-1&secret="
             f"{kit.secrets[0]} Authorization: Bearer {kit.token}")
    kit.ad_accounts_answer(api, body=failure(leaky))
    kit.answer(api, body=failure(leaky))

    with pytest.raises(Transient) as listing:
        partner.list_ad_accounts(credentials=kit.credentials)
    with pytest.raises(Transient) as sending:
        kit.send(partner)

    for caught, path in ((listing, kit.ad_accounts_path), (sending, kit.send_path())):
        rendered = "".join(traceback.format_exception(caught.value))
        assert path in rendered
        for secret in (*kit.secrets, kit.token, "?app_id", "secret="):
            assert secret not in rendered


def test_the_timeout_setting_goes_with_every_request(kit, partner, api, settings):
    settings.PARTNER_HTTP_TIMEOUT = 3.25
    kit.answer_ok(api)

    kit.send(partner)

    assert api.calls[0].request.req_kwargs["timeout"] == 3.25


def test_partner_messages_garbage_and_logs_never_echo_a_token_or_secret(
    kit, partner, api, caplog
):
    caplog.set_level(logging.DEBUG)
    kit.answer(api, **{**kit.invalid_token,
                       "message": f"Access token {kit.token} is invalid."})
    kit.answer(api, body=f"<html>app secret {kit.secrets[0]}, Bearer {kit.token}</html>".encode())
    kit.ad_accounts_answer(api, items=[])

    with pytest.raises(InvalidToken) as refused:
        kit.send(partner)
    with pytest.raises(Transient) as garbage:
        kit.send(partner)
    partner.list_ad_accounts(credentials=kit.credentials)

    for error in (refused.value, garbage.value):
        for secret in (*kit.secrets, kit.token):
            assert secret not in str(error)
    assert "is invalid" in refused.value.message
    assert kit.send_path() in caplog.text  # the calls were logged
    assert kit.ad_accounts_path in caplog.text
    for secret in (*kit.secrets, kit.token):
        assert secret not in caplog.text
