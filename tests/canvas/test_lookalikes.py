"""Look-alikes from the audiences page, at both partners: made from an audience the product
fills, listed with their partner state, never offered as a sync target; a seed below the
partner's minimum gets the partner's refusal in plain words. Against the sandbox mounted in
a live server, through the product's own clients and pages."""

import pytest
from django.urls import reverse

from audiencesync.errors import ServiceError
from canvas.services.audience_health import audiences_health_read
from canvas.services.audiences import audience_choose_for_step
from partners.models import Audience, AudienceStatus

from .test_audience_health import _live_step

pytestmark = pytest.mark.django_db(transaction=True)

# partner, users that make a seed big enough, the options posted, the refusal of a small seed
CASES = [
    ("tiktok", 1_000, {"location": "2635167", "audience_size": "BROAD"},
     "TikTok refused the look-alike: The source audience is too small to create a lookalike"
     " audience"),
    ("pinterest", 100, {"country": "GB", "percentage": "3"},
     "Pinterest refused the look-alike: The seed audience is too small to create an actalike"
     " audience"),
]


@pytest.mark.parametrize(("partner_key", "enough", "options", "refusal"), CASES)
def test_a_lookalike_is_made_listed_and_never_a_sync_target(
        sandbox, owner, client, login, partner_key, enough, options, refusal):
    _, step = _live_step(sandbox, owner, partner_key=partner_key, users=enough)
    seed, account = step.audience, step.ad_account
    login(client, owner)
    audiences_url = reverse("canvas:audiences", args=[account.pk])
    url = reverse("canvas:lookalike_create", args=[account.pk, seed.pk])
    assert url in client.get(audiences_url).content.decode()
    form = client.get(url).content.decode()
    assert all(f'name="{name}"' in form for name in options)

    answer = client.post(url, {"name": "Buyers look-alike", **options}, follow=True)

    lookalike = Audience.objects.get(lookalike_of=seed)
    assert (lookalike.name, lookalike.status, lookalike.health) == (
        "Buyers look-alike", AudienceStatus.ACTIVE, "processing")
    page = answer.content.decode()
    assert "is building the look-alike Buyers look-alike" in page
    assert f"Look-alike of {seed.name}: takes no users" in page
    assert "Processing" in page
    # The periodic read finds it at the partner, still being built.
    assert audiences_health_read().gone == []
    lookalike.refresh_from_db()
    assert (lookalike.status, lookalike.health) == (AudienceStatus.ACTIVE, "processing")
    # Never a sync target: not offered in the step editor, refused if sent anyway.
    editor = client.get(reverse("canvas:step", args=[step.canvas_id, step.pk]),
                        {"mode": "existing"}).content.decode()
    assert "Buyers look-alike" not in editor
    with pytest.raises(ServiceError, match="A look-alike takes no users"):
        audience_choose_for_step(ad_account=account, chosen=f"local-{lookalike.pk}")


@pytest.mark.parametrize(("partner_key", "enough", "options", "refusal"), CASES)
def test_a_seed_too_small_gets_the_partners_refusal_and_nothing_is_made(
        sandbox, owner, client, login, partner_key, enough, options, refusal):
    _, step = _live_step(sandbox, owner, partner_key=partner_key, users=30)
    login(client, owner)
    url = reverse("canvas:lookalike_create", args=[step.ad_account_id, step.audience_id])

    answer = client.post(url, {"name": "Too early", **options})

    assert answer.status_code == 200
    page = answer.content.decode()
    assert refusal in page and "matched users" in page
    assert 'value="Too early"' in page  # what was typed is kept
    assert not Audience.objects.filter(lookalike_of=step.audience).exists()
