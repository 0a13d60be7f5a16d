"""Assertions shared by the sync tests."""

from canvas.models import ItemPurpose, ItemState, SyncItem
from canvas.selectors import step_metrics, sync_items_recount


def metrics(step):
    return step_metrics(steps=[step])[0]


def assert_conserved(step):
    """Invariant 1: entered = synced + not_synced + pending + errored, and the counters agree
    with the step's journey items, counted here and by the reconciliation's own recount
    (erasure and consent removes are no journey event and count nowhere)."""
    m = metrics(step)
    items = SyncItem.objects.filter(step=step, purpose=ItemPurpose.JOURNEY)
    counted = {state: items.filter(state=state).count() for state in ItemState.values}
    assert sync_items_recount(step_ids=[step.pk])[step.pk] == counted
    assert m.entered == items.count()
    assert (m.synced, m.not_synced, m.pending, m.errored) == (
        counted["synced"], counted["not_synced"], counted["pending"], counted["errored"])
    assert m.entered == m.synced + m.not_synced + m.pending + m.errored
