"""The membership records are the truth about the partner: after any sequence of adds,
removes, email changes, consent changes, erasures and injected failures (partner errors, a
local commit failing after the partner answered), the sandbox holds exactly the people the
records name."""

from contextlib import contextmanager

import pytest
from django.db import DatabaseError
from django.utils import timezone
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from audiencesync.proofs.sandbox import workspace_connect
from audiencesync.sync import engine
from audiencesync.sync.services import profile_erase
from audiencesync.workspaces.identifier_services import profiles_identifiers_refresh
from audiencesync.workspaces.models import Profile
from canvas.models import AudienceMembership, BatchState, ItemState, SyncAction, SyncBatch, SyncItem
from canvas.services.entry import canvas_enter_users
from tests.factories import MembershipFactory, Role

from .test_membership import sync_canvas

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = 2

# What happens to whom, then how the engine runs right after (if at all).
operation = st.tuples(
    st.sampled_from(["add_a", "add_a", "add_b", "remove_a", "remove_a", "email", "email",
                     "consent_off", "consent_on", "erase"]),
    st.integers(min_value=0, max_value=PEOPLE - 1),
    st.sampled_from(["none", "ok", "ok", "partner_errors", "commit_fails"]),
)


@contextmanager
def local_commit_fails_once(monkeypatch):
    """The partner answers, then recording the outcome fails (a dropped connection)."""
    armed = {"left": 1}
    real = engine.step_stats_add

    def failing(**kwargs):
        if armed["left"]:
            armed["left"] -= 1
            raise DatabaseError("connection lost while recording the batch")
        return real(**kwargs)

    monkeypatch.setattr(engine, "step_stats_add", failing)
    try:
        yield
    finally:
        monkeypatch.setattr(engine, "step_stats_add", real)


def flush(sandbox, monkeypatch, how: str) -> None:
    """One pass of the engine; retries and batches whose worker died are due at once."""
    now = timezone.now()
    SyncBatch.objects.filter(state=BatchState.RETRYING).update(next_attempt_at=now)
    SyncBatch.objects.filter(state=BatchState.SENDING).update(lease_until=now)
    if how == "partner_errors":
        sandbox.control(action="faults", partner="tiktok", error_share=0.5, seed=11)
    try:
        if how == "commit_fails":
            with local_commit_fails_once(monkeypatch):
                engine.sync_flush()
        else:
            engine.sync_flush()
    except DatabaseError:
        pass  # the batch stays leased to a worker that died: sent again later
    finally:
        sandbox.control(action="faults", partner="tiktok")


def keys_recorded(audience) -> set[str]:
    return {"|".join(f"{t}:{h[f]}" for f, t in (("email", "EMAIL_SHA256"),) if h.get(f))
            for h in AudienceMembership.objects.filter(audience=audience)
            .values_list("hashes", flat=True)}


def act(what: str, who: int, number: int, profile, canvases: dict, erased: set) -> None:
    if what in ("add_a", "add_b", "remove_a"):
        canvas_enter_users(canvas=canvases[what], users=[{"external_id": f"p{who}"}])
    elif what == "email":
        Profile.objects.filter(pk=profile.pk).update(email=f"p{who}-{number}@example.com")
        profiles_identifiers_refresh(profile_ids=[profile.pk])
    elif what == "consent_off":  # through the entries API's service, as a CRM would
        canvas_enter_users(canvas=canvases["add_a"], users=[{"external_id": f"p{who}",
                                                             "ad_tracking_enabled": False}])
    elif what == "consent_on":
        Profile.objects.filter(pk=profile.pk).update(ad_tracking_enabled=True)
    elif what == "erase":
        profile_erase(profile=profile)
        erased.add(who)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@seed(20261202)
@given(operations=st.lists(operation, min_size=3, max_size=8))
# The ways people stayed in audiences before the records, always among the examples.
@example(operations=[("add_a", 0, "ok"), ("email", 0, "none"), ("remove_a", 0, "ok")])
@example(operations=[("add_a", 0, "ok"), ("email", 0, "none"), ("add_a", 0, "partner_errors"),
                     ("remove_a", 0, "commit_fails")])
@example(operations=[("add_a", 1, "none"), ("add_b", 1, "ok"), ("consent_off", 1, "ok"),
                     ("email", 1, "none"), ("erase", 1, "commit_fails")])
def test_the_sandbox_holds_exactly_the_people_the_membership_records_name(
        sandbox, monkeypatch, operations):
    owner = MembershipFactory(role=Role.OWNER)
    connection = workspace_connect(sandbox=sandbox, workspace=owner.workspace,
                                   partner_key="tiktok")
    account = connection.ad_accounts.filter(selected=True).order_by("external_id").first()
    add_a, _, audience_a = sync_canvas(owner, account, name="A", new_audience="A")
    add_b, _, audience_b = sync_canvas(owner, account, name="B", new_audience="B")
    remove_a, _, _ = sync_canvas(owner, account, name="Out of A", audience=audience_a,
                                 action=SyncAction.REMOVE)
    canvases = {"add_a": add_a, "add_b": add_b, "remove_a": remove_a}
    profiles = {i: Profile.objects.create(workspace=owner.workspace, external_id=f"p{i}",
                                          email=f"p{i}@example.com") for i in range(PEOPLE)}
    profiles_identifiers_refresh(profile_ids=[p.pk for p in profiles.values()])
    erased: set[int] = set()
    for number, (what, who, then) in enumerate(operations):
        if who not in erased:
            act(what, who, number, profiles[who], canvases, erased)
        if then != "none":
            flush(sandbox, monkeypatch, then)

    for _ in range(10):
        flush(sandbox, monkeypatch, "ok")
        if not SyncItem.objects.filter(state=ItemState.PENDING).exists():
            break
    assert not SyncItem.objects.filter(state=ItemState.PENDING).exists()
    assert not SyncItem.objects.filter(state=ItemState.ERRORED).exists()
    for audience in (audience_a, audience_b):
        assert set(sandbox.members("tiktok", audience.external_id)) == keys_recorded(audience)
