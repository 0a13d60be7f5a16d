"""The segments page: built with plain form posts or htmx, saved, counted in the background."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from audiencesync.workspaces.models import Profile
from audiencesync.workspaces.track import TrackPayload, track_write
from canvas.models import Segment
from canvas.segments.services import segment_size_calculate
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

NEW = reverse("segments:new")


@pytest.fixture
def shoppers(workspace):
    """30 profiles: spend 0..29 (10 of them over 19), every third with an email, the even
    ones with ad tracking enabled, every fifth with an IDFA; purchases by spend."""
    now = timezone.now()
    result = track_write(workspace=workspace, now=now, payload=TrackPayload(attributes=[
        {"external_id": f"s{n:02d}", "spend": n, "ad_tracking_enabled": n % 2 == 0,
         **({"email": f"s{n}@example.com"} if n % 3 == 0 else {}),
         **({"idfa": f"6d92078a-8246-4ba4-ae5b-76104861e7{n:02d}"} if n % 5 == 0 else {})}
        for n in range(30)
    ], events=[{"external_id": f"s{n:02d}", "name": "purchase",
                "time": (now - timedelta(hours=1)).isoformat()} for n in range(0, 30, 2)]))
    assert result.errors == []
    return workspace


def form(name="", groups=(), exclusions=(), do="save"):
    """The post of the builder's form: groups are (join, [row dict, ...])."""
    data = {"name": name, "do": do, "groups-count": len(groups),
            "exclusions-count": len(exclusions)}
    for letter, part in (("g", groups), ("x", exclusions)):
        for g, (join, rows) in enumerate(part):
            data[f"{letter}{g}-join"] = join
            data[f"{letter}{g}-count"] = len(rows)
            for f, row in enumerate(rows):
                data.update({f"{letter}{g}-f{f}-{key}": value for key, value in row.items()})
    return data


SPEND_OVER_19 = {"kind": "attribute", "attribute": "spend", "operator": "greater", "value": "19"}
HAS_EMAIL = {"kind": "identifier", "identifier": "email"}


def test_the_navigation_links_to_segments_and_the_list_shows_them(owner_client, shoppers):
    Segment.objects.create(workspace=shoppers, name="Everyone")
    page = owner_client.get(reverse("segments:list")).content.decode()
    assert re.search(r'<a href="/segments/" class="active">Segments</a>', page)
    assert "Everyone" in page and "not calculated" in page


def test_a_segment_built_with_plain_form_posts(owner_client, shoppers):
    first = owner_client.get(NEW).content.decode()
    assert 'name="g0-f0-kind"' in first and '<label for="g0-f0-kind">Filter on</label>' in first

    # Add an exclusion group: the whole page comes back with it, nothing saved yet.
    page = owner_client.post(NEW, form("Big spenders", [("and", [SPEND_OVER_19])],
                                       do="add-exclusion")).content.decode()
    assert "<html" in page and "Exclusion group 1" in page and 'name="x0-f0-kind"' in page
    assert 'value="Big spenders"' in page and not Segment.objects.exists()

    # Turn the exclusion's filter into an identifier filter: its fields change.
    page = owner_client.post(NEW, form("Big spenders", [("and", [SPEND_OVER_19])],
                                       [("and", [{"kind": "identifier"}])],
                                       do="refresh")).content.decode()
    assert '<label for="x0-f0-identifier">Profile</label>' in page

    response = owner_client.post(NEW, form("Big spenders", [("and", [SPEND_OVER_19])],
                                           [("and", [HAS_EMAIL])]))
    segment = Segment.objects.get(workspace=shoppers)
    assert response.url == reverse("segments:detail", args=[segment.pk])
    assert segment.name == "Big spenders"
    assert segment.definition == {
        "groups": [{"join": "and", "filters": [{"kind": "attribute", "attribute": "spend",
                                                 "type": "number", "operator": "greater",
                                                 "value": 19}]}],
        "exclusions": [{"join": "and", "filters": [HAS_EMAIL]}]}
    # Opened again, the builder shows what was saved.
    page = owner_client.get(response.url).content.decode()
    assert 'id="g0-f0-value" name="g0-f0-value" value="19"' in page
    assert re.search(r'<option value="email" selected>has a usable email</option>', page)


def test_htmx_edits_come_back_as_the_builder_alone(owner_client, shoppers):
    headers = {"HX-Request": "true"}
    page = owner_client.post(NEW, form("x", [("and", [SPEND_OVER_19])], do="add-filter:g0"),
                             headers=headers).content.decode()
    assert "<html" not in page and page.lstrip().startswith('<div id="builder"')
    assert 'name="g0-count" value="2"' in page
    page = owner_client.post(NEW, form("x", [("or", [SPEND_OVER_19, HAS_EMAIL])],
                                       do="remove-filter:g0:0"), headers=headers).content.decode()
    assert 'name="g0-count" value="1"' in page and 'id="g0-f0-identifier"' in page
    # A new operator shows its own inputs: "is any of" takes one value a line.
    page = owner_client.post(NEW, form("x", [("and", [{**SPEND_OVER_19, "operator": "any_of"}])],
                                       do="refresh"), headers=headers).content.decode()
    assert re.search(r'<textarea id="g0-f0-value" name="g0-f0-value"', page)
    page = owner_client.post(NEW, form("x", [("and", [SPEND_OVER_19])], do="remove-group:g0"),
                             headers=headers).content.decode()
    assert "No filter group: every profile of the workspace." in page


def test_a_bad_filter_is_shown_beside_its_row_and_loses_nothing(owner_client, shoppers):
    page = owner_client.post(NEW, form("Spenders", [("and", [
        HAS_EMAIL, {**SPEND_OVER_19, "value": "lots"}])])).content.decode()
    assert "Not saved. Group 1, filter 2: &#x27;lots&#x27; is not a number." in page
    assert re.search(r'class="filter-row has-error" id="g0-f1"', page)
    assert 'value="lots"' in page and 'value="Spenders"' in page
    assert not Segment.objects.exists()


def test_a_name_used_twice_blank_or_with_a_nul_is_refused(owner_client, shoppers):
    Segment.objects.create(workspace=shoppers, name="Spenders")
    for name, message in [
        ("Spenders", "This workspace already has a segment named &#x27;Spenders&#x27;."),
        ("  ", "A segment needs a name."),
        ("a\x00b", "A segment&#x27;s name cannot contain a NUL character."),
    ]:
        page = owner_client.post(NEW, form(name, [("and", [HAS_EMAIL])])).content.decode()
        assert message in page
    assert Segment.objects.count() == 1


def test_calculate_exact_size_runs_in_the_background_and_shows_size_reach_and_sample(
        owner_client, shoppers, monkeypatch, django_capture_on_commit_callbacks):
    owner_client.post(NEW, form("Big spenders", [("and", [SPEND_OVER_19])]))
    segment = Segment.objects.get()
    page = owner_client.get(reverse("segments:detail", args=[segment.pk])).content.decode()
    assert "Not calculated yet." in page

    # The request only asks: the page answers at once, saying it is counting.
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        panel = owner_client.post(reverse("segments:size", args=[segment.pk]),
                                  headers={"HX-Request": "true"}).content.decode()
    assert len(enqueued) == 1 and "Calculating…" in panel and 'hx-trigger="every 1s"' in panel

    monkeypatch.setattr(Conf, "SYNC", True)  # the task runs through django-q in this process
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("segments:size", args=[segment.pk]))
    segment.refresh_from_db()
    # spend 20..29: emails at 21, 24, 27 (24 with ad tracking); IDFA at 20, 25 (20 tracked).
    assert segment.size == 10
    assert segment.reach["email"] == {"usable": 3, "ad_tracking": 1}
    assert segment.reach["idfa"] == {"usable": 2, "ad_tracking": 1}
    assert segment.reach["phone"] == {"usable": 0, "ad_tracking": 0}
    page = owner_client.get(reverse("segments:detail", args=[segment.pk])).content.decode()
    assert re.search(r'data-metric="size">10</span>', page)
    assert re.search(r'<tr data-reach="email"><td>Email</td><td class="num">3</td>'
                     r'<td class="num">1</td></tr>', page)
    s25 = Profile.objects.get(workspace=shoppers, external_id="s25")
    assert f'<a href="{reverse("profile_detail", args=[s25.pk])}">s25</a>' in page
    assert "Calculating…" not in page and "calculate again" not in page

    # An edit keeps the old size on show, marked as such.
    owner_client.post(reverse("segments:detail", args=[segment.pk]),
                      form("Big spenders", [("and", [{**SPEND_OVER_19, "value": "25"}])]))
    page = owner_client.get(reverse("segments:detail", args=[segment.pk])).content.decode()
    assert "The segment was edited since: calculate again." in page


def test_the_sample_is_twenty_profiles_of_the_segment(shoppers):
    from canvas.segments.compile import definition_clean

    segment = Segment.objects.create(workspace=shoppers, name="All", definition=definition_clean(
        workspace=shoppers, definition={"groups": [], "exclusions": []}))
    segment_size_calculate(segment_id=segment.pk)
    segment.refresh_from_db()
    assert segment.size == 30 and len(segment.sample) == 20
    ids = set(Profile.objects.filter(workspace=shoppers).values_list("pk", flat=True))
    assert {item["id"] for item in segment.sample} <= ids


@pytest.mark.parametrize("profiles", [3, 60])
def test_counting_a_segment_takes_the_same_queries_whatever_its_size(
        workspace, profiles, django_assert_num_queries):
    from canvas.segments.compile import definition_clean

    now = timezone.now()
    track_write(workspace=workspace, now=now, payload=TrackPayload(attributes=[
        {"external_id": f"p{n}", "email": f"p{n}@example.com", "spend": 600 + n}
        for n in range(profiles)
    ], events=[{"external_id": f"p{n}", "name": "purchase", "time": now.isoformat()}
               for n in range(profiles) for _ in range(2)]))
    segment = Segment.objects.create(workspace=workspace, name="High value",
                                     definition=definition_clean(workspace=workspace, definition={
        "groups": [{"join": "and", "filters": [
            {"kind": "attribute", "attribute": "spend", "operator": "greater", "value": 500},
            {"kind": "event", "event": "purchase", "operator": "at_least", "count": 2, "days": 30},
            HAS_EMAIL]}],
        "exclusions": [{"join": "or", "filters": [
            {"kind": "event", "event": "refund", "operator": "at_least", "count": 1}]}]}))
    # The segment, one count of size and reach, the sample, the write.
    with django_assert_num_queries(4):
        segment_size_calculate(segment_id=segment.pk)
    segment.refresh_from_db()
    assert segment.size == profiles


def test_another_workspaces_segment_is_not_found(client, login, shoppers):
    segment = Segment.objects.create(workspace=shoppers, name="Theirs")
    stranger = MembershipFactory()
    login(client, stranger)
    for url in (reverse("segments:detail", args=[segment.pk]),
                reverse("segments:size", args=[segment.pk])):
        assert client.get(url).status_code == 404
    assert client.post(reverse("segments:size", args=[segment.pk])).status_code == 404
    assert Segment.objects.get().size_requested_at is None


def test_delete_asks_first(owner_client, shoppers):
    segment = Segment.objects.create(workspace=shoppers, name="Old")
    url = reverse("segments:delete", args=[segment.pk])
    assert "Delete segment Old?" in owner_client.get(url).content.decode()
    assert Segment.objects.exists()
    owner_client.post(url, {"confirmed": "yes"})
    assert not Segment.objects.exists()
