"""Entry copies the hashes stored on profiles; the entries API and a CSV entered into a
canvas store them as they write the profile, and store raw values as the import does."""

import hashlib
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiencesync.workspaces import identifiers
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.models import Profile
from canvas.models import SyncItem
from canvas.services.entry import canvas_enter_profiles, canvas_enter_users
from tests import builders

pytestmark = pytest.mark.django_db


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stored(profile: Profile) -> dict[str, tuple[str, str, str]]:
    return {field: tuple(getattr(profile, c) for c in identifiers.stored_columns(field))
            for field in identifiers.FIELDS}


def _import(workspace, text: str) -> None:
    profiles_import(workspace=workspace, csv_file=io.BytesIO(text.encode()))


def test_the_entries_api_stores_each_identifier_normalised_and_hashed(sync_canvas,
                                                                      post_entries):
    response = post_entries(sync_canvas.pk, {"users": [
        {"external_id": "a", "email": " Ana@Example.COM ", "phone": "(415) 555-0123"},
        {"external_id": "b", "email": "not-an-email", "idfa": "0" * 8 + "-0000-0000-0000-" + "0" * 12},
    ]})
    assert response.json()["entered"] == 2

    a, b = Profile.objects.get(external_id="a"), Profile.objects.get(external_id="b")
    assert stored(a)["email"] == ("ana@example.com", sha256("ana@example.com"), "")
    assert stored(a)["phone"] == ("+14155550123", sha256("+14155550123"), "")
    assert stored(a)["idfa"] == ("", "", "missing")
    assert stored(b)["email"] == ("", "", "invalid_email")
    assert stored(b)["idfa"] == ("", "", "zeroed_advertising_id")


def test_an_entry_without_a_field_keeps_that_fields_stored_hash(sync_canvas, post_entries):
    post_entries(sync_canvas.pk, {"users": [{"external_id": "a", "email": "a@example.com",
                                             "phone": "+14155550123"}]})
    sync_canvas.entries.update(exited_at="2026-01-01T00:00:00Z")
    post_entries(sync_canvas.pk, {"users": [{"external_id": "a", "email": "b@example.com"}]})
    a = Profile.objects.get(external_id="a")
    assert stored(a)["email"][1] == sha256("b@example.com")
    assert stored(a)["phone"][1] == sha256("+14155550123")


def test_a_csv_entered_into_a_canvas_stores_the_hashes(sync_canvas, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("external_id,email,phone\nc1,C1@Example.com,+44 20 7946 0958\n")
    call_command("enter_canvas", str(sync_canvas.pk), "--csv", str(path),
                 stdout=io.StringIO(), stderr=io.StringIO())
    profile = Profile.objects.get(external_id="c1")
    assert profile.email == "C1@Example.com"
    assert stored(profile)["email"] == ("c1@example.com", sha256("c1@example.com"), "")
    assert stored(profile)["phone"] == ("+442079460958", sha256("+442079460958"), "")


def test_the_api_and_the_import_store_the_same_raw_value_the_same_way(workspace, sync_canvas,
                                                                     post_entries):
    raw_email, raw_phone = "  Ana.Silva@Example.COM ", " (415) 555-0123 "
    post_entries(sync_canvas.pk, {"users": [{"external_id": "api", "email": raw_email,
                                             "phone": raw_phone}]})
    _import(workspace, f'external_id,email,phone\nimported,"{raw_email}","{raw_phone}"\n')

    api = Profile.objects.get(external_id="api")
    imported = Profile.objects.get(external_id="imported")
    assert (api.email, api.phone) == (imported.email, imported.phone) == (
        "Ana.Silva@Example.COM", "(415) 555-0123")
    assert stored(api) == stored(imported)


def test_entry_copies_the_stored_hashes_and_never_hashes(workspace, sync_canvas, monkeypatch):
    _import(workspace, "external_id,email,phone\n"
                       "u1,One@Example.com,(415) 555-0123\n"
                       "u2,,\n"
                       "u3,bad-email,\n")
    judged = []
    real_judge = identifiers.judge
    monkeypatch.setattr(identifiers, "judge",
                        lambda *args: judged.append(args) or real_judge(*args))

    result = canvas_enter_profiles(
        canvas=sync_canvas, profile_ids=list(Profile.objects.values_list("pk", flat=True)))

    assert result.entered == 3
    assert judged == []  # nothing normalised or hashed while entering
    items = {i.profile.external_id: i for i in SyncItem.objects.select_related("profile")}
    assert items["u1"].hashes == {"email": sha256("one@example.com"),
                                  "phone": sha256("+14155550123")}
    assert items["u1"].state == "pending"
    assert (items["u2"].state, items["u2"].reason) == ("not_synced",
                                                        "email: missing, phone: missing")
    assert (items["u3"].state, items["u3"].reason) == ("not_synced",
                                                        "email: invalid_email, phone: missing")


def test_entering_users_by_the_api_service_hashes_once_per_user(sync_canvas, monkeypatch):
    judged = []
    real_judge = identifiers.judge
    monkeypatch.setattr(identifiers, "judge",
                        lambda *args: judged.append(args) or real_judge(*args))
    canvas_enter_users(canvas=sync_canvas, users=builders.users(5))
    # One email each, judged once as the profile is written; entry adds nothing.
    assert len(judged) == 5


def test_entrys_queries_per_batch_do_not_grow_with_the_number_of_profiles(workspace,
                                                                          sync_canvas):
    _import(workspace, "external_id,email\n" + "".join(
        f"u{n},user{n}@example.com\n" for n in range(1_000)))
    ids = list(Profile.objects.order_by("pk").values_list("pk", flat=True))

    def queries_for(profile_ids):
        with CaptureQueriesContext(connection) as captured:
            assert canvas_enter_profiles(canvas=sync_canvas,
                                         profile_ids=profile_ids).entered == len(profile_ids)
        return len(captured)

    assert queries_for(ids[:5]) == queries_for(ids[5:])


def test_a_remove_right_after_an_add_on_the_same_walk_sends_what_was_added(workspace):
    account = builders.connected_account(workspace)
    target = builders.audience(account, external_id="123")
    canvas = builders.active_canvas(workspace)
    builders.sync_step(canvas, account=account, target=target, action="add",
                       match_fields=("email", "phone"))
    builders.sync_step(canvas, account=account, target=target, action="remove",
                       match_fields=("email",))

    canvas_enter_users(canvas=canvas, users=[{"external_id": "u1", "email": "a@example.com",
                                              "phone": "+14155550123"}])

    add, remove = SyncItem.objects.order_by("pk")
    assert (add.action, remove.action) == ("add", "remove")
    assert add.hashes == {"email": sha256("a@example.com"), "phone": sha256("+14155550123")}
    assert remove.hashes == add.hashes  # the set the person was added under, not email alone
