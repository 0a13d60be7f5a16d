"""A partner connection's health is worded in one place: launch checks, the canvas banners
and a refused partner call say the same sentence."""

import pytest

from audiencesync.errors import ServiceError
from canvas.models import Step, StepKind
from canvas.selectors import canvas_connection_problems
from canvas.services import canvases as canvas_services
from partners.models import ConnectionStatus, PartnerConnection
from partners.services import connection_call

INVALID = ("TikTok cannot sync: the TikTok token is invalid. Disconnect and reconnect on the "
           "TikTok partner page.")
NOT_CONNECTED = "TikTok is not connected. Connect it on the TikTok partner page."


@pytest.fixture
def canvas(owner):
    canvas = canvas_services.canvas_create(workspace=owner.workspace, name="C", user=owner.user)
    Step.objects.create(canvas=canvas, kind=StepKind.AUDIENCE_SYNC, partner="tiktok",
                        position=1)
    return canvas


@pytest.mark.parametrize(("status", "sentence"), [
    (ConnectionStatus.INVALID, INVALID),
    (ConnectionStatus.DISCONNECTED, NOT_CONNECTED),
])
def test_every_place_words_an_unhealthy_connection_alike(canvas, owner, status, sentence):
    connection = PartnerConnection.objects.create(workspace=owner.workspace, partner="tiktok",
                                                  status=status)

    assert canvas_connection_problems(workspace=owner.workspace) == {canvas.pk: [sentence]}
    assert f"Step 1 (Audience Sync): {sentence}" in canvas_services.canvas_launch_problems(
        canvas=canvas)
    with pytest.raises(ServiceError) as refused:
        connection_call(connection=connection, call=lambda partner, creds: None)
    assert refused.value.message == sentence


def test_a_partner_never_connected_is_not_connected(canvas, owner):
    assert canvas_connection_problems(workspace=owner.workspace) == {canvas.pk: [NOT_CONNECTED]}
    assert (f"Step 1 (Audience Sync): {NOT_CONNECTED}"
            in canvas_services.canvas_launch_problems(canvas=canvas))
