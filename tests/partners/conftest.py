"""Fixtures every partner client test uses: the HTTP boundary, the rate limiter and the
partner's test settings."""

import pytest
import responses

from partners import ratelimit


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def rate_calls(monkeypatch, request):
    """(key, limit, requests already sent) for every rate-limiter call."""
    calls = []

    def acquire(key: str, *, limit_per_s: float, per_min: int | None = None,
                per_day: int | None = None) -> None:
        mock = request.getfixturevalue("api") if "api" in request.fixturenames else None
        calls.append((key, limit_per_s, len(mock.calls) if mock else 0))

    monkeypatch.setattr(ratelimit, "acquire", acquire)
    return calls


@pytest.fixture(autouse=True)
def partner_kit_configured(request):
    """A test module of one partner (``KIT``, from ``contract.KITS``) runs on its test settings,
    its calls counted by ``rate_calls`` instead of the real limiter."""
    kit = getattr(request.module, "KIT", None)
    if kit is not None:
        request.getfixturevalue("rate_calls")
        kit.configure(request.getfixturevalue("settings"))
