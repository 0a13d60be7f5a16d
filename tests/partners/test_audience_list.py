"""The partner's audience list: a selector reads what was fetched, a service fetches."""

import pytest
from django.core.cache import cache

from partners.models import AdAccount, PartnerConnection
from partners.selectors import partner_audiences_cached
from partners.services import partner_audiences_fetch

from .contract import KITS, tiktok_ok

KIT = KITS["tiktok"]
LIST = KIT.base + "dmp/custom_audience/list/"


@pytest.fixture
def account(owner):
    cache.clear()
    connection = PartnerConnection.objects.create(workspace=owner.workspace, partner="tiktok",
                                                  access_token=KIT.token)
    return AdAccount.objects.create(connection=connection, external_id=KIT.ad_account,
                                    name="Shop", selected=True)


def _listing(*names):
    return tiktok_ok({"list": [{"audience_id": n, "name": name,
                                "audience_type": "Partner Audience"}
                               for n, name in enumerate(names, start=1)],
                      "page_info": {"page": 1, "total_page": 1}})


def test_the_selector_reads_what_was_fetched_and_never_calls_the_partner(account, api):
    assert partner_audiences_cached(ad_account=account) is None
    assert len(api.calls) == 0

    api.get(LIST, json=_listing("Buyers"))
    fetched = partner_audiences_fetch(ad_account=account)

    assert [a.name for a in fetched] == ["Buyers"]
    assert partner_audiences_cached(ad_account=account) == fetched
    assert len(api.calls) == 1


def test_the_service_reuses_the_list_fetched_lately_unless_asked_to_refresh(account, api):
    api.get(LIST, json=_listing("Buyers"))
    api.get(LIST, json=_listing("Buyers", "Newsletter"))

    first = partner_audiences_fetch(ad_account=account)
    again = partner_audiences_fetch(ad_account=account)
    refreshed = partner_audiences_fetch(ad_account=account, refresh=True)

    assert again == first
    assert [a.name for a in refreshed] == ["Buyers", "Newsletter"]
    assert len(api.calls) == 2
