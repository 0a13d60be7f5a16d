"""Invariant 1 under any sequence of partner answers: entered = synced + not_synced +
pending + errored, and the counters always agree with the outbox."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiencesync.sync import engine
from canvas.models import SyncBatch
from canvas.services.entry import canvas_enter_users
from partners.models import ConnectionStatus, PartnerConnection
from tests import builders
from tests.factories import WorkspaceFactory

from .checks import assert_conserved
from .conftest import MAPPING, tiktok_answer

ANSWERS = {
    "ok": (0, "OK"),
    "partial": (20001, "Partial success"),
    "rate_limited": (40100, "Too many requests"),
    "advertiser_rate_limited": (40133, "Too many requests for this advertiser"),
    "system_error": (50000, "System error"),
    "write_conflict": (40202, "Write conflict"),
    "processing": (40002, "The audience is being processed and is not editable"),
    "bad_params": (40000, "Invalid parameter"),
    "revoked": (40105, "Access token is invalid or revoked"),
    "gone": (40007, "Audience does not exist"),
    "too_many_ids": (40011, "Too many ids"),
}

round_plan = st.tuples(
    st.integers(min_value=0, max_value=12),  # users entering before this round
    st.sampled_from(sorted(ANSWERS)),  # what TikTok answers this round
    st.booleans(),  # whether the retry window has closed by this round
)


@pytest.mark.django_db
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rounds=st.lists(round_plan, min_size=1, max_size=6))
def test_counters_add_up_whatever_the_partner_answers(tiktok_api, rounds):
    workspace = WorkspaceFactory()
    account = builders.connected_account(workspace)
    canvas = builders.active_canvas(workspace)
    step = builders.sync_step(canvas, account=account, target=builders.audience(account))
    tiktok_api.post(MAPPING, **tiktok_answer())
    entered = 0
    for new_users, answer, window_closed in rounds:
        if new_users:
            users = builders.users(new_users, start=entered)
            users[0].pop("email")  # one user without identifiers each time
            canvas_enter_users(canvas=canvas, users=users)
            entered += new_users
        code, message = ANSWERS[answer]
        tiktok_api.replace("POST", MAPPING, **tiktok_answer(code, message))
        PartnerConnection.objects.filter(pk=account.connection_id).update(
            status=ConnectionStatus.ACTIVE)  # reconnect after a revoked token
        SyncBatch.objects.update(next_attempt_at=timezone.now())
        if window_closed:
            SyncBatch.objects.update(first_attempt_at=timezone.now() - timedelta(hours=14))
        engine.sync_flush(deadline_s=10)
        assert_conserved(step)
