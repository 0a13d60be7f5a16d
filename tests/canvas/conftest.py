import orjson
import pytest

from audiencesync.workspaces.apikeys import api_key_create
from tests import builders


@pytest.fixture
def sync_canvas(workspace):
    """An active canvas: a TikTok add step matching email and phone, then a one-hour Delay.

    The Delay keeps entered users in the canvas, so a second entry of them is visible as
    "already in the canvas".
    """
    account = builders.connected_account(workspace)
    target = builders.audience(account, external_id="123")
    canvas = builders.active_canvas(workspace)
    builders.sync_step(canvas, account=account, target=target, action="add",
                       match_fields=("email", "phone"))
    builders.delay_step(canvas, seconds=3600)
    return canvas


@pytest.fixture
def api_key(workspace):
    """A live key of the workspace (``.secret`` is the full key, ``.api_key`` the row)."""
    return api_key_create(workspace=workspace, name="CRM")


@pytest.fixture
def post_entries(client, api_key):
    """post_entries(canvas_id, body, key=..., idempotency_key=...) -> response.

    ``body`` is JSON-encoded unless it is already bytes; ``key=None`` sends no header.
    """
    def post(canvas_id, body, *, key=api_key.secret, idempotency_key=None, **headers):
        if key is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        if idempotency_key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return client.post(f"/api/v1/canvases/{canvas_id}/entries", data=data,
                           content_type="application/json", **headers)

    return post
