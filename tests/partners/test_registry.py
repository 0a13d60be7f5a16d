"""The explicit partner registry."""

import pytest
from django.urls import reverse

from canvas.models import Step
from partners import registry
from partners.base import Partner
from partners.models import PartnerConnection
from partners.pinterest import Pinterest
from partners.tiktok import TikTok


def test_get_returns_the_partner_for_its_key():
    assert isinstance(registry.get("tiktok"), TikTok)
    assert isinstance(registry.get("pinterest"), Pinterest)
    assert registry.get("tiktok") is registry.get("tiktok")


def test_an_unknown_key_is_a_clear_key_error():
    with pytest.raises(KeyError) as caught:
        registry.get("snapchat")

    assert str(caught.value) == "Unknown partner 'snapchat'; known: tiktok, pinterest."


def test_every_partner_is_listed_under_its_own_key():
    partners = registry.all_partners()

    assert [p.key for p in partners] == ["tiktok", "pinterest"]
    assert all(isinstance(p, Partner) for p in partners)
    assert all(registry.PARTNERS[p.key] is p for p in partners)


def _field_choices(model) -> list[tuple[str, str]]:
    return list(model._meta.get_field("partner").choices)


def test_choices_match_the_model_field():
    assert registry.choices() == [("tiktok", "TikTok"), ("pinterest", "Pinterest")]
    assert _field_choices(PartnerConnection) == registry.choices()
    assert _field_choices(Step) == registry.choices()


def test_a_partner_added_to_the_registry_is_a_choice_of_every_partner_field(monkeypatch):
    """The registry is the one partner list: the model fields read it, no copy to update."""

    class Snapchat(TikTok):
        key = "snapchat"
        name = "Snapchat"

    monkeypatch.setitem(registry.PARTNERS, "snapchat", Snapchat())

    assert ("snapchat", "Snapchat") in _field_choices(PartnerConnection)
    assert ("snapchat", "Snapchat") in _field_choices(Step)


def test_names_for_a_sentence_come_from_the_registry(monkeypatch):
    assert registry.names(joined_by="or") == "TikTok or Pinterest"

    class Snapchat(TikTok):
        key = "snapchat"
        name = "Snapchat"

    monkeypatch.setitem(registry.PARTNERS, "snapchat", Snapchat())

    assert registry.names(joined_by="and") == "TikTok, Pinterest and Snapchat"


def test_pages_name_the_partners_of_the_registry(monkeypatch, owner_client):
    """No template names a partner: a partner added to the registry shows everywhere."""

    class Snapchat(TikTok):
        key = "snapchat"
        name = "Snapchat"

    monkeypatch.setitem(registry.PARTNERS, "snapchat", Snapchat())

    home = owner_client.get(reverse("home")).content.decode()
    canvases = owner_client.get(reverse("canvas:list")).content.decode()

    assert "Connect TikTok, Pinterest or Snapchat to sync audiences." in home
    assert "users in TikTok, Pinterest and Snapchat audiences." in canvases
