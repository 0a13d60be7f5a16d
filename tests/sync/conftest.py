import orjson
import pytest
import responses

from tests import builders

TIKTOK = "https://tiktok.test/open_api/v1.3/"
MAPPING = TIKTOK + "segment/mapping/"


@pytest.fixture
def tiktok_api(settings):
    """The TikTok API at the HTTP boundary; answers are queued per test."""
    settings.TIKTOK_API_BASE_URL = TIKTOK
    settings.TIKTOK_APP_ID = "app"
    settings.TIKTOK_SECRET = "app-secret"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def tiktok_answer(code=0, message="OK", request_id="rid-1"):
    return {"json": {"code": code, "message": message, "request_id": request_id, "data": {}}}


def mapping_bodies(mock):
    return [orjson.loads(call.request.body) for call in mock.calls
            if call.request.url == MAPPING]


@pytest.fixture
def tiktok_canvas(workspace):
    """An active canvas with one TikTok add step matching email and phone."""
    account = builders.connected_account(workspace)
    target = builders.audience(account)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account, target=target)
    return canvas, step
