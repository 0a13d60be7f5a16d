"""Events from a CSV (page and ``import_events``), judged by the track API's rules."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from audiencesync.errors import ServiceError
from audiencesync.workspaces.imports import events_import
from audiencesync.workspaces.models import Event, EventDailyCount, EventSummary, Profile
from tests.factories import ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db):
    return WorkspaceFactory()


def _at(hours_ago: float) -> str:
    moment = timezone.now().replace(microsecond=0) - timedelta(hours=hours_ago)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _import(workspace, data: bytes | str, **options):
    data = data.encode() if isinstance(data, str) else data
    return events_import(workspace=workspace, csv_file=io.BytesIO(data), **options)


def test_good_rows_are_recorded_with_their_properties_and_summaries(shop):
    ProfileFactory(workspace=shop, external_id="u1")
    t1, t2, t3 = _at(30), _at(5), _at(1)
    report = _import(shop, (
        "external_id,Name,time,plan,amount\n"
        f"u1,purchase,{t1},pro,49.90\n"
        f"u1,purchase,{t2},,10\n"
        f"u2,app_open,{t3},free,\n"
    ), batch_size=2)
    assert (report.rows_read, report.created, report.rejected_count) == (3, 3, 0)
    # u2 did not exist: the event created it.
    assert Profile.objects.filter(workspace=shop, external_id="u2").exists()
    u1 = Profile.objects.get(workspace=shop, external_id="u1")
    properties = sorted(Event.objects.filter(profile=u1).values_list("properties", flat=True),
                        key=len)
    assert properties == [{"amount": "10"}, {"plan": "pro", "amount": "49.90"}]
    summary = EventSummary.objects.get(profile=u1, name="purchase")
    assert summary.count == 2
    assert summary.first_at == datetime.fromisoformat(t1)
    assert summary.last_at == datetime.fromisoformat(t2)
    assert sum(EventDailyCount.objects.filter(profile=u1).values_list("count", flat=True)) == 2


BROKEN = (
    b"external_id,name,time,plan\n"            # 1
    b"a,purchase,%(ok)s,pro\n"                 # 2
    b"b,purchase,yesterday,pro\n"              # 3 a bad time
    b"c,,%(ok)s,pro\n"                         # 4 no name
    b"d,purchase,%(future)s,pro\n"             # 5 in the future
    b"e,purchase,%(ok)s,caf\xe9\n"             # 6 Latin-1, not UTF-8
    b"f,purchase,%(ok)s,pro\n"                 # 7
    b"g,purchase,2026-12-01T10:00:00,pro\n"    # 8 no time zone
    b"h,purchase,%(ok)s\n"                     # 9 a column short
    b'i,purchase,%(ok)s,"pro\n'                # 10 a quote never closed
    b"j,purchase,%(ok)s,pro\n"                 # 11
)


def _broken() -> bytes:
    future = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return BROKEN % {b"ok": _at(2).encode(), b"future": future.encode()}


def test_each_bad_row_is_rejected_alone_with_its_line_and_the_counts_add_up(shop):
    report = _import(shop, _broken(), batch_size=2)
    lines = dict(report.rejected)
    assert sorted(lines) == [3, 4, 5, 6, 8, 9, 10]
    assert lines[3].startswith("time: Must be an ISO 8601 date-time with a time zone")
    assert lines[4].startswith("name: Missing")
    assert lines[5] == "time: More than 1 minute in the future."
    assert "not UTF-8" in lines[6]
    assert lines[8].startswith("time: Must be an ISO 8601 date-time with a time zone")
    assert lines[9] == "has 3 columns, the header has 4"
    assert "quote that is never closed" in lines[10]
    assert report.rows_read == report.created + report.rejected_count == 10
    assert report.created == 3
    recorded = Event.objects.filter(workspace=shop).values_list("profile__external_id", flat=True)
    assert sorted(recorded) == ["a", "f", "j"]


def test_an_event_older_than_the_retention_is_rejected(shop, settings):
    settings.EVENT_RETENTION_DAYS = 1
    report = _import(shop, f"external_id,name,time\nu1,login,{_at(49)}\nu1,login,{_at(1)}\n")
    assert report.rejected == [(2, "time: Older than the 1 days events are kept "
                                   "(EVENT_RETENTION_DAYS).")]
    assert report.created == 1


def test_a_header_without_the_event_columns_is_refused(shop):
    with pytest.raises(ServiceError, match="has no name, time"):
        _import(shop, "external_id,email\nu1,a@example.com\n")
    assert not Event.objects.exists()


# --- the command ------------------------------------------------------------------


def test_command_records_events_and_ends_with_the_counts(shop, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(f"external_id,name,time\nu1,purchase,{_at(3)}\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_events", str(path), "--workspace", shop.slug, stdout=out,
                 stderr=io.StringIO())
    assert "1 rows read: 1 events recorded, 0 rejected" in out.getvalue()
    assert Event.objects.filter(workspace=shop, name="purchase").count() == 1


def test_command_lists_rejected_rows_and_exits_with_status_1(shop, tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(_broken())
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("import_events", str(path), "--workspace", shop.slug, stdout=out,
                     stderr=io.StringIO())
    assert error.value.returncode == 1
    assert str(error.value) == ("7 of 10 rows were rejected (listed above); the other rows "
                                "were imported.")
    assert "line 5: rejected: time: More than 1 minute in the future." in out.getvalue()
    assert "10 rows read: 3 events recorded, 7 rejected" in out.getvalue()
    assert Event.objects.filter(workspace=shop).count() == 3


# --- the page ---------------------------------------------------------------------


def test_import_page_records_events_and_lists_rejected_rows(owner_client, workspace):
    assert reverse("event_import") in owner_client.get(reverse("profile_import")).content.decode()
    file = SimpleUploadedFile("events.csv", _broken(), content_type="text/csv")
    response = owner_client.post(reverse("event_import"), {"file": file})
    text = response.content.decode()
    assert response.status_code == 200
    assert "7 rows of events.csv were rejected" in text
    for label, value in [("Rows read", 10), ("Events recorded", 3), ("Rejected", 7)]:
        assert f'{label}</div><div class="stat">{value}</div>' in text
    assert '<td class="num">4</td><td>name: Missing' in text
    assert Event.objects.filter(workspace=workspace).count() == 3


def test_import_page_says_what_is_wrong_with_the_header(owner_client, workspace):
    file = SimpleUploadedFile("events.csv", b"id,name\n1,x\n", content_type="text/csv")
    response = owner_client.post(reverse("event_import"), {"file": file})
    assert "external_id column" in response.content.decode()
    assert not Event.objects.exists()
