"""Each identifier is normalised and hashed once, when the profile is written, and kept on
the profile: by every write path, after a new default country, and blanked by erasure."""

import csv
import hashlib
import importlib
import io
from collections import defaultdict

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from audiencesync.sync.services import profile_erase
from audiencesync.workspaces import identifiers
from audiencesync.workspaces.identifiers import normalize
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.models import Profile
from audiencesync.workspaces.profile_selectors import profile_search
from tests.factories import ProfileFactory, UserFactory, WorkspaceFactory
from tests.workspaces.test_identifiers import VECTORS_PATH

pytestmark = pytest.mark.django_db


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def stored(profile: Profile, field: str) -> tuple[str, str, str]:
    return tuple(getattr(profile, column) for column in identifiers.stored_columns(field))


def _import(workspace, rows: list[list[str]]):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return profiles_import(workspace=workspace, csv_file=io.BytesIO(text.getvalue().encode()))


def test_imported_profiles_store_what_the_shared_vectors_say():
    with VECTORS_PATH.open(encoding="utf-8", newline="") as file:
        vectors = [row for row in csv.DictReader(file) if row["raw"].strip()]
    by_country = defaultdict(list)
    for vector in vectors:
        by_country[vector["default_country"]].append(vector)
    checked = 0
    for country, rows in by_country.items():
        workspace = WorkspaceFactory(default_country=country)
        header = ["external_id", *identifiers.FIELDS]
        _import(workspace, [header, *[
            [f"v{n}", *[v["raw"] if f == v["field"] else "" for f in identifiers.FIELDS]]
            for n, v in enumerate(rows)]])
        profiles = {p.external_id: p for p in Profile.objects.filter(workspace=workspace)}
        for n, vector in enumerate(rows):
            expected = (vector["normalized"], vector["sha256"], vector["reason"])
            assert stored(profiles[f"v{n}"], vector["field"]) == expected, vector
            checked += 1
    assert checked == len(vectors) > 20


def test_a_blank_identifier_is_stored_as_missing():
    workspace = WorkspaceFactory()
    _import(workspace, [["external_id", "email", "phone"], ["u1", "", " "]])
    profile = Profile.objects.get(workspace=workspace)
    assert stored(profile, "email") == stored(profile, "phone") == ("", "", "missing")
    assert stored(profile, "idfa") == ("", "", "missing")  # not in the file at all


def test_a_reimport_of_one_column_recomputes_only_that_identifier():
    workspace = WorkspaceFactory()
    _import(workspace, [["external_id", "email", "phone"], ["u1", "a@example.com", "+14155550123"]])
    _import(workspace, [["external_id", "email"], ["u1", "B@Example.com"]])
    profile = Profile.objects.get(workspace=workspace)
    assert stored(profile, "email") == ("b@example.com", sha256("b@example.com"), "")
    assert stored(profile, "phone") == ("+14155550123", sha256("+14155550123"), "")


def test_changing_the_default_country_recomputes_the_hashes_of_national_numbers(client):
    owner = UserFactory()
    workspace = WorkspaceFactory(default_country="US")
    workspace.memberships.create(user=owner, role="owner")
    _import(workspace, [["external_id", "phone"], ["national", "020 7946 0958"],
                        ["international", "+1 415 555 0123"]])
    national = Profile.objects.get(external_id="national")
    assert stored(national, "phone") == ("", "", "invalid_phone")  # not a US number

    client.force_login(owner)
    response = client.post(reverse("workspace_settings"),
                           {"name": workspace.name, "default_country": "GB"})
    assert response.status_code == 302

    national.refresh_from_db()
    assert stored(national, "phone") == ("+442079460958", sha256("+442079460958"), "")
    international = Profile.objects.get(external_id="international")
    assert stored(international, "phone") == ("+14155550123", sha256("+14155550123"), "")
    assert national.phone == "020 7946 0958"  # the raw value stays as given


def test_an_admin_edit_of_an_identifier_stores_its_new_hash(client):
    operator = UserFactory(is_staff=True, is_superuser=True)
    profile = ProfileFactory(email="old@example.com")
    assert profile.email_sha256 == sha256("old@example.com")
    client.force_login(operator)
    response = client.post(f"/admin/workspaces/profile/{profile.pk}/change/", {
        "workspace": profile.workspace_id, "external_id": profile.external_id,
        "email": " New@Example.com ", "phone": "", "idfa": "", "gaid": "",
        "ad_tracking_enabled": "on", "attributes": "{}",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert stored(profile, "email") == ("new@example.com", sha256("new@example.com"), "")


def test_erasure_blanks_the_stored_identifiers():
    workspace = WorkspaceFactory()
    _import(workspace, [["external_id", "email", "phone", "idfa"],
                        ["u1", "a@example.com", "+14155550123",
                         "6d92078a-8246-4ba4-ae5b-76104861e7dc"]])
    profile = Profile.objects.get(workspace=workspace)
    assert profile.email_sha256 and profile.phone_sha256 and profile.idfa_sha256

    profile_erase(profile=profile)

    profile.refresh_from_db()
    for field in identifiers.FIELDS:
        assert stored(profile, field) == ("", "", "missing")


def test_stored_values_agree_with_normalize_on_a_usable_value():
    judged = normalize(field="email", raw=" A@B.co ", default_country="")
    assert identifiers.stored_values(field="email", raw=" A@B.co ", default_country="") == (
        judged.value, judged.sha256, "")


@pytest.fixture
def schema_restored(transactional_db):
    """Whatever a test migrates to, the next test finds the schema of today."""
    yield
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_upgrade_fills_the_stored_identifiers_of_existing_profiles_in_batches(
        schema_restored, monkeypatch):
    migration = importlib.import_module(
        "audiencesync.workspaces.migrations.0008_profile_identifiers_stored")
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches from a handful of rows
    old = _migrate([("workspaces", "0007_attributes_and_events")])
    workspace = old.get_model("workspaces", "Workspace").objects.create(
        name="Acme", slug="acme", default_country="GB")
    old_profile = old.get_model("workspaces", "Profile")
    for n in range(5):
        old_profile.objects.create(workspace=workspace, external_id=f"p{n}",
                                   email=f" P{n}@Example.com", phone="020 7946 0958",
                                   idfa="not-an-idfa")

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    profiles = list(Profile.objects.order_by("external_id"))
    assert len(profiles) == 5
    for n, profile in enumerate(profiles):
        assert stored(profile, "email") == (f"p{n}@example.com", sha256(f"p{n}@example.com"),
                                            "")
        assert stored(profile, "phone") == ("+442079460958", sha256("+442079460958"), "")
        assert stored(profile, "idfa") == ("", "", "invalid_advertising_id")
        assert stored(profile, "gaid") == ("", "", "missing")


def test_search_finds_a_profile_by_its_email_whatever_case_it_was_given_in():
    workspace = WorkspaceFactory()
    _import(workspace, [["external_id", "email", "phone"],
                        ["u1", "Ana.Silva@Example.COM", "(415) 555-0123"]])
    assert [p.external_id for p in profile_search(workspace=workspace,
                                                  query="ana.silva@ex")] == ["u1"]
    assert [p.external_id for p in profile_search(workspace=workspace,
                                                  query="415 555")] == ["u1"]
